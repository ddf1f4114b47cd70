/**
 * Workspaces and their scoped admin tokens.
 */
import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { EntityManager, EntityName } from '@mikro-orm/core';
import {
  AdminTokenEntity,
  ApiKeyEntity,
  GatewayEntity,
  McpServerEntity,
  ModelEntity,
  ProviderCredentialEntity,
  ProviderEntity,
  RateLimitEntity,
  RouteEntity,
  SpendLimitEntity,
  WorkspaceEntity,
  type AdminTokenRow,
  type WorkspaceRow,
} from '../db/entities.js';
import { SluiceError } from '../errors.js';
import { WorkspaceSchema, WorkspaceService, WorkspaceTokenSchema, type Workspace, type WorkspaceToken } from '../gen/sluice/v1/workspace_pb.js';
import { generateSecret, hashSecret, newId, publicPrefix } from '../security/tokens.js';
import { canAccess, requireRoot, resolveWorkspaceId, type CallContext } from './context.js';
import type { DomainService } from './service-kit.js';
import { containsText, listById, mutate, read, ts, type ServiceDeps } from './store.js';
import { maskPaths, Violations } from './validation.js';

const MUTABLE = ['display_name', 'description', 'log_retention_days'] as const;

export function toWorkspace(row: WorkspaceRow): Workspace {
  return create(WorkspaceSchema, {
    id: row.id,
    name: row.name,
    displayName: row.displayName,
    description: row.description,
    logRetentionDays: row.logRetentionDays,
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

function toToken(row: AdminTokenRow): WorkspaceToken {
  return create(WorkspaceTokenSchema, {
    id: row.id,
    workspaceId: row.workspaceId ?? '',
    name: row.name,
    prefix: row.prefix,
    createTime: ts(row.createdAt),
    revokeTime: ts(row.revokedAt),
    expireTime: ts(row.expiresAt),
  });
}

function checkFields(v: Violations, w: Workspace, paths: ReadonlySet<string>): void {
  if (paths.has('display_name')) v.maxLength('workspace.display_name', w.displayName, 200);
  if (paths.has('description')) v.maxLength('workspace.description', w.description, 4000);
  if (paths.has('log_retention_days')) v.range('workspace.log_retention_days', w.logRetentionDays, 0, 3650);
}

/** Tables holding workspace resources, for the non-empty check and cascading delete. */
const OWNED = [
  ProviderEntity,
  ProviderCredentialEntity,
  ModelEntity,
  GatewayEntity,
  RouteEntity,
  RateLimitEntity,
  SpendLimitEntity,
  ApiKeyEntity,
  McpServerEntity,
] as unknown as EntityName<{ workspaceId: string }>[];

async function loadWorkspace(em: EntityManager, call: CallContext, id: string): Promise<WorkspaceRow> {
  if (!id) throw SluiceError.invalid([{ field: 'id', description: 'required', reason: 'REQUIRED' }]);
  const row = await em.findOne(WorkspaceEntity, { id });
  if (!row || !canAccess(call, row.id)) throw SluiceError.notFound('workspace', id);
  return row;
}

export function createWorkspaceService(deps: ServiceDeps): DomainService<typeof WorkspaceService> {
  return {
    async createWorkspace(req, call) {
      requireRoot(call, 'creating a workspace');
      const w = req.workspace ?? create(WorkspaceSchema);
      const v = new Violations();
      v.slug('workspace.name', w.name);
      checkFields(v, w, new Set(MUTABLE));
      v.throwIfAny();
      const row = await mutate(deps, async (em) => {
        if (await em.count(WorkspaceEntity, { name: w.name })) {
          throw new SluiceError('already_exists', `workspace.name: workspace "${w.name}" already exists`);
        }
        return em.create(WorkspaceEntity, {
          id: newId('ws'),
          name: w.name,
          displayName: w.displayName,
          description: w.description,
          logRetentionDays: w.logRetentionDays,
        });
      });
      return { workspace: toWorkspace(row) };
    },

    async getWorkspace(req, call) {
      return read(deps, async (em) => ({ workspace: toWorkspace(await loadWorkspace(em, call, req.id)) }));
    },

    async listWorkspaces(req, call) {
      return read(deps, async (em) => {
        const where: Record<string, unknown> = {};
        if (call.principal.kind === 'workspace') where.id = call.principal.workspaceId;
        if (req.name) where.name = req.name;
        if (req.query) where.$or = [{ name: containsText(deps.orm, req.query) }, { displayName: containsText(deps.orm, req.query) }];
        const page = await listById(em, WorkspaceEntity, where, req, 'ListWorkspaces');
        return { workspaces: page.rows.map(toWorkspace), nextPageToken: page.nextPageToken };
      });
    },

    async updateWorkspace(req, call) {
      const w = req.workspace ?? create(WorkspaceSchema);
      const paths = maskPaths(req.updateMask, MUTABLE);
      const v = new Violations();
      v.required('workspace.id', w.id);
      checkFields(v, w, paths);
      v.throwIfAny();
      const row = await mutate(deps, async (em) => {
        const row = await loadWorkspace(em, call, w.id);
        if (paths.has('display_name')) row.displayName = w.displayName;
        if (paths.has('description')) row.description = w.description;
        if (paths.has('log_retention_days')) row.logRetentionDays = w.logRetentionDays;
        return row;
      });
      return { workspace: toWorkspace(row) };
    },

    async deleteWorkspace(req, call) {
      requireRoot(call, 'deleting a workspace');
      await mutate(deps, async (em) => {
        const row = await loadWorkspace(em, call, req.id);
        for (const entity of OWNED) {
          if (!req.force && (await em.count(entity, { workspaceId: row.id }))) {
            throw new SluiceError('failed_precondition', `workspace "${row.name}" still holds resources; delete them or pass force`);
          }
          await em.nativeDelete(entity, { workspaceId: row.id });
        }
        await em.nativeDelete(AdminTokenEntity, { workspaceId: row.id });
        em.remove(row);
      });
      return {};
    },

    async createWorkspaceToken(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const v = new Violations();
      v.slug('name', req.name);
      const expiresAt = req.expireTime ? timestampDate(req.expireTime) : null;
      if (expiresAt && expiresAt.getTime() <= Date.now()) v.add('expire_time', 'must be in the future', 'OUT_OF_RANGE');
      v.throwIfAny();
      const secret = generateSecret('workspaceToken');
      const row = await mutate(deps, async (em) => {
        await loadWorkspace(em, call, workspaceId);
        return em.create(AdminTokenEntity, {
          id: newId('wt'),
          workspaceId,
          name: req.name,
          prefix: publicPrefix(secret),
          hash: hashSecret(secret),
          expiresAt,
          revokedAt: null,
        });
      });
      return { token: toToken(row), secret };
    },

    async listWorkspaceTokens(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      return read(deps, async (em) => {
        await loadWorkspace(em, call, workspaceId);
        const where: Record<string, unknown> = { workspaceId };
        if (!req.showRevoked) where.revokedAt = null;
        const page = await listById(em, AdminTokenEntity, where, req, 'ListWorkspaceTokens');
        return { tokens: page.rows.map(toToken), nextPageToken: page.nextPageToken };
      });
    },

    async revokeWorkspaceToken(req, call) {
      if (!req.id) throw SluiceError.invalid([{ field: 'id', description: 'required', reason: 'REQUIRED' }]);
      const row = await mutate(deps, async (em) => {
        const row = await em.findOne(AdminTokenEntity, { id: req.id });
        if (!row || !row.workspaceId || !canAccess(call, row.workspaceId)) throw SluiceError.notFound('workspace token', req.id);
        row.revokedAt ??= new Date();
        return row;
      });
      return { token: toToken(row) };
    },
  };
}

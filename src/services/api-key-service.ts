/**
 * Data-plane API keys. Only the SHA-256 of a key's secret and its public
 * prefix are stored; the secret itself is returned once, by CreateApiKey.
 */
import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { EntityManager } from '@mikro-orm/core';
import { ApiKeyEntity, GatewayEntity, WorkspaceEntity, type ApiKeyRow } from '../db/entities.js';
import { SluiceError } from '../errors.js';
import { ApiKeySchema, ApiKeyService, type ApiKey } from '../gen/sluice/v1/api_key_pb.js';
import { generateSecret, hashSecret, hasEnoughEntropy, newId, publicPrefix, SECRET_PREFIX } from '../security/tokens.js';
import { resolveWorkspaceId, visibleOr404, type CallContext } from './context.js';
import { apiKeyUsage } from './limit-usage.js';
import { encodeCursor, MAX_PAGE_SIZE, pageSize } from './pagination.js';
import type { DomainService } from './service-kit.js';
import { containsText, listById, mutate, read, ts, type ServiceDeps } from './store.js';
import { maskPaths, Violations } from './validation.js';

const MUTABLE = ['metadata', 'gateways', 'default_gateway', 'expire_time'] as const;

const MAX_METADATA_ENTRIES = 64;
const METADATA_KEY_PATTERN = /^[a-zA-Z0-9_.-]{1,64}$/;
const MAX_METADATA_VALUE_LENGTH = 512;

/** The public view of a stored key (never its hash). */
export function toApiKey(row: ApiKeyRow): ApiKey {
  return create(ApiKeySchema, {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    prefix: row.prefix,
    metadata: { ...row.metadata },
    gateways: [...row.gateways],
    defaultGateway: row.defaultGateway,
    expireTime: ts(row.expiresAt),
    revokeTime: ts(row.revokedAt),
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

function checkMetadata(v: Violations, metadata: Readonly<Record<string, string>>): void {
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) v.add('api_key.metadata', `must have at most ${MAX_METADATA_ENTRIES} entries`, 'TOO_MANY');
  for (const [key, value] of entries) {
    const field = `api_key.metadata[${JSON.stringify(key)}]`;
    if (!METADATA_KEY_PATTERN.test(key)) v.add(field, 'key must be 1 to 64 letters, digits, "_", "." or "-"', 'INVALID_FORMAT');
    v.maxLength(field, value, MAX_METADATA_VALUE_LENGTH);
  }
}

/** Parses `expire_time`, which must lie in the future when set. */
function checkExpiry(v: Violations, key: ApiKey): Date | null {
  const expiresAt = key.expireTime ? timestampDate(key.expireTime) : null;
  if (expiresAt && expiresAt.getTime() <= Date.now()) v.add('api_key.expire_time', 'must be in the future', 'OUT_OF_RANGE');
  return expiresAt;
}

/** The gateway fields a create or update leaves on a key, and which of them the request sets. */
interface GatewayChoice {
  gateways: readonly string[];
  defaultGateway: string;
  setsGateways: boolean;
  setsDefault: boolean;
}

/**
 * Checks the gateway allow-list and default against the workspace's gateway
 * names (`known`) and returns the effective default: the only listed gateway
 * when none is named.
 */
function checkGateways(v: Violations, known: ReadonlySet<string>, c: GatewayChoice): string {
  if (c.setsGateways) {
    c.gateways.forEach((name, i) => {
      const field = `api_key.gateways[${i}]`;
      const first = c.gateways.indexOf(name);
      if (!v.required(field, name)) return;
      if (!known.has(name)) v.add(field, `unknown gateway "${name}"`, 'UNKNOWN_REFERENCE');
      else if (first < i) v.add(field, `duplicate of api_key.gateways[${first}]`, 'DUPLICATE');
    });
  }
  const only = c.gateways.length === 1 ? (c.gateways[0] ?? '') : '';
  const defaultGateway = c.defaultGateway || only;
  if (c.setsDefault && c.defaultGateway && !known.has(c.defaultGateway)) {
    v.add('api_key.default_gateway', `unknown gateway "${c.defaultGateway}"`, 'UNKNOWN_REFERENCE');
  } else if (defaultGateway && c.gateways.length > 0 && !c.gateways.includes(defaultGateway)) {
    if (c.setsDefault) v.add('api_key.default_gateway', 'must be one of api_key.gateways', 'INVALID');
    else v.add('api_key.gateways', `must include the default gateway "${defaultGateway}"`, 'INVALID');
  }
  return defaultGateway;
}

/** Names among `names` that are gateways of the workspace. */
async function knownGateways(em: EntityManager, workspaceId: string, names: readonly string[]): Promise<Set<string>> {
  const wanted = [...new Set(names.filter(Boolean))];
  if (wanted.length === 0) return new Set();
  const rows = await em.find(GatewayEntity, { workspaceId, name: { $in: wanted } });
  return new Set(rows.map((g) => g.name));
}

async function requireWorkspace(em: EntityManager, id: string): Promise<void> {
  if (!(await em.count(WorkspaceEntity, { id }))) throw SluiceError.notFound('workspace', id);
}

async function loadKey(em: EntityManager, call: CallContext, id: string, field = 'id'): Promise<ApiKeyRow> {
  if (!id) throw SluiceError.invalid([{ field, description: 'required', reason: 'REQUIRED' }]);
  return visibleOr404(call, await em.findOne(ApiKeyEntity, { id }), 'api key', id);
}

/**
 * One page of keys allowed on `gateway` (those listing it or listing none).
 * JSON-array membership has no portable SQL form, so keys matching the SQL
 * filters are scanned in id order, in batches, until one more than a page
 * has matched; the page token is the same id cursor as `listById`'s.
 */
async function listForGateway(
  em: EntityManager,
  where: Record<string, unknown>,
  gateway: string,
  request: { pageSize: number; pageToken: string },
  method: string,
): Promise<{ rows: ApiKeyRow[]; nextPageToken: string }> {
  const size = pageSize(request.pageSize);
  const matched: ApiKeyRow[] = [];
  let token = request.pageToken;
  do {
    const batch = await listById(em, ApiKeyEntity, where, { pageSize: MAX_PAGE_SIZE, pageToken: token }, method);
    matched.push(...batch.rows.filter((k) => k.gateways.length === 0 || k.gateways.includes(gateway)));
    token = batch.nextPageToken;
  } while (token && matched.length <= size);
  const rows = matched.slice(0, size);
  const last = rows.at(-1);
  return { rows, nextPageToken: matched.length > size && last ? encodeCursor({ m: method, after: last.id }) : '' };
}

/** The API key service over storage. */
export function createApiKeyService(deps: ServiceDeps): DomainService<typeof ApiKeyService> {
  return {
    async createApiKey(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const k = req.apiKey ?? create(ApiKeySchema);
      const v = new Violations();
      v.slug('api_key.name', k.name);
      checkMetadata(v, k.metadata);
      const expiresAt = checkExpiry(v, k);
      if (req.secret && !hasEnoughEntropy(req.secret, 'apiKey')) {
        // Never echo the secret, not even in part.
        v.add('secret', `must start with "${SECRET_PREFIX.apiKey}" followed by 22 to 128 varied letters, digits, "_" or "-"`, 'INVALID_FORMAT');
      }
      const secret = req.secret || generateSecret('apiKey');
      const hash = hashSecret(secret);
      const row = await mutate(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const known = await knownGateways(em, workspaceId, [...k.gateways, k.defaultGateway]);
        const defaultGateway = checkGateways(v, known, { gateways: k.gateways, defaultGateway: k.defaultGateway, setsGateways: true, setsDefault: true });
        v.throwIfAny();
        if (await em.count(ApiKeyEntity, { workspaceId, name: k.name })) {
          throw new SluiceError('already_exists', `api_key.name: API key "${k.name}" already exists in this workspace`);
        }
        if (req.secret && (await em.count(ApiKeyEntity, { hash }))) {
          throw new SluiceError('already_exists', 'secret: this secret is already in use; import another or let one be generated');
        }
        return em.create(ApiKeyEntity, {
          id: newId('key'),
          workspaceId,
          name: k.name,
          prefix: publicPrefix(secret),
          hash,
          metadata: { ...k.metadata },
          gateways: [...k.gateways],
          defaultGateway,
          expiresAt,
          revokedAt: null,
        });
      });
      return { apiKey: toApiKey(row), secret };
    },

    async getApiKey(req, call) {
      return read(deps, async (em) => ({ apiKey: toApiKey(await loadKey(em, call, req.id)) }));
    },

    async listApiKeys(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      return read(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const filters: Record<string, unknown>[] = [{ workspaceId }];
        if (req.name) filters.push({ name: req.name });
        if (req.query) filters.push({ name: containsText(deps.orm, req.query) });
        if (!req.showRevoked) filters.push({ revokedAt: null });
        const where: Record<string, unknown> = { $and: filters };
        const page = req.gateway
          ? await listForGateway(em, where, req.gateway, req, 'ListApiKeys')
          : await listById(em, ApiKeyEntity, where, req, 'ListApiKeys');
        return { apiKeys: page.rows.map(toApiKey), nextPageToken: page.nextPageToken };
      });
    },

    async updateApiKey(req, call) {
      const k = req.apiKey ?? create(ApiKeySchema);
      const paths = maskPaths(req.updateMask, MUTABLE);
      if (!k.id) throw SluiceError.invalid([{ field: 'api_key.id', description: 'required', reason: 'REQUIRED' }]);
      const row = await mutate(deps, async (em) => {
        const row = await loadKey(em, call, k.id, 'api_key.id');
        const v = new Violations();
        if (paths.has('metadata')) checkMetadata(v, k.metadata);
        const expiresAt = paths.has('expire_time') ? checkExpiry(v, k) : row.expiresAt;
        let defaultGateway = row.defaultGateway;
        const choice: GatewayChoice = {
          gateways: paths.has('gateways') ? k.gateways : row.gateways,
          defaultGateway: paths.has('default_gateway') ? k.defaultGateway : row.defaultGateway,
          setsGateways: paths.has('gateways'),
          setsDefault: paths.has('default_gateway'),
        };
        if (choice.setsGateways || choice.setsDefault) {
          const known = await knownGateways(em, row.workspaceId, [...choice.gateways, choice.defaultGateway]);
          defaultGateway = checkGateways(v, known, choice);
        }
        v.throwIfAny();
        if (paths.has('metadata')) row.metadata = { ...k.metadata };
        if (paths.has('gateways')) row.gateways = [...k.gateways];
        row.defaultGateway = defaultGateway;
        row.expiresAt = expiresAt;
        return row;
      });
      return { apiKey: toApiKey(row) };
    },

    async revokeApiKey(req, call) {
      const row = await mutate(deps, async (em) => {
        const row = await loadKey(em, call, req.id);
        row.revokedAt ??= new Date();
        return row;
      });
      return { apiKey: toApiKey(row) };
    },

    async deleteApiKey(req, call) {
      await mutate(deps, async (em) => {
        em.remove(await loadKey(em, call, req.id));
      });
      return {};
    },

    async getApiKeyUsage(req, call) {
      return read(deps, async (em) => {
        const key = await loadKey(em, call, req.id);
        const gateways = await em.find(GatewayEntity, { workspaceId: key.workspaceId });
        return apiKeyUsage(deps, em, key, gateways);
      });
    },
  };
}

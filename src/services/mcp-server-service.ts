/**
 * Upstream MCP servers registered on a gateway. Secrets (the stdio
 * environment and the static auth secret) are write-only: they are sealed with
 * the master key on write and never returned; responses carry only
 * `env_names` and `has_auth_secret`.
 *
 * stdio servers start a process on the gateway host, so creating one, or
 * changing what it runs (`command`, `args`, `env`), needs the root token; so
 * does listing the tools of one that MCP clients cannot reach yet (unapproved
 * or disabled), since listing starts it.
 */
import { create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import type { EntityManager, FilterQuery } from '@mikro-orm/core';
import { GatewayEntity, McpServerEntity, WorkspaceEntity, type McpServerRow } from '../db/entities.js';
import { SluiceError } from '../errors.js';
import {
  DeferLoading,
  DeferLoadingSchema,
  McpAuthMode,
  McpAuthModeSchema,
  McpServerSchema,
  McpServerService,
  McpTransport,
  McpTransportSchema,
  type McpServer,
  type McpServerToolSchema,
} from '../gen/sluice/v1/mcp_server_pb.js';
import { toUpstreamServer } from '../mcp/config.js';
import { inspectTools, type InspectedTool } from '../mcp/inspect.js';
import { newId } from '../security/tokens.js';
import { requireRoot, resolveWorkspaceId, visibleOr404, type CallContext } from './context.js';
import { enumFromSlug, enumSlug } from './enums.js';
import { loadGateway } from './gateway-service.js';
import type { DomainService } from './service-kit.js';
import { listById, mutate, read, ts, type ServiceDeps } from './store.js';
import { maskPaths, Violations } from './validation.js';

const MUTABLE = [
  'display_name',
  'url',
  'command',
  'args',
  'env',
  'timeout_ms',
  'enabled',
  'approved',
  'auth_mode',
  'auth_secret',
  'defer_loading',
  'blocked_tools',
] as const;
const ALL_PATHS: ReadonlySet<string> = new Set(MUTABLE);

/** Update paths that change what a stdio server runs. */
const STDIO_PATHS = ['command', 'args', 'env'] as const;

const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Server-level blocked tools match the tool's own name (no `server:` part). */
const TOOL_PATTERN = /^[A-Za-z0-9_.\-*]{1,128}$/;
const MAX_ARGS = 64;
const MAX_ARG_LENGTH = 4096;
const MAX_ENV = 64;
const MAX_SECRET_LENGTH = 4096;
const MAX_BLOCKED_TOOLS = 256;

/** What an update is checked against: the stored server (or, on create, the request). */
interface ServerState {
  transport: McpTransport;
  authMode: McpAuthMode;
  hasSecret: boolean;
}

/** Maps a stored MCP server to its API message; secrets are reduced to `env_names` and `has_auth_secret`. */
export function toMcpServer(row: McpServerRow): McpServer {
  return create(McpServerSchema, {
    id: row.id,
    workspaceId: row.workspaceId,
    gatewayId: row.gatewayId,
    name: row.name,
    displayName: row.displayName,
    transport: enumFromSlug(McpTransportSchema, row.transport) ?? McpTransport.UNSPECIFIED,
    url: row.url,
    command: row.command,
    args: [...row.args],
    envNames: [...row.envNames],
    timeoutMs: row.timeoutMs,
    enabled: row.enabled,
    approved: row.approved,
    authMode: enumFromSlug(McpAuthModeSchema, row.authMode) ?? McpAuthMode.UNSPECIFIED,
    hasAuthSecret: row.authSecretCiphertext !== '',
    deferLoading: enumFromSlug(DeferLoadingSchema, row.deferLoading) ?? DeferLoading.UNSPECIFIED,
    blockedTools: [...row.blockedTools],
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

function stateOf(row: McpServerRow): ServerState {
  return {
    transport: enumFromSlug(McpTransportSchema, row.transport) ?? McpTransport.UNSPECIFIED,
    authMode: enumFromSlug(McpAuthModeSchema, row.authMode) ?? McpAuthMode.NONE,
    hasSecret: row.authSecretCiphertext !== '',
  };
}

function requireRootForStdio(call: CallContext): void {
  if (call.principal.kind !== 'root') throw new SluiceError('permission_denied', 'stdio MCP servers need the root admin token');
}

/** The auth mode after applying `paths` of `s` to `current`. */
function nextAuthMode(s: McpServer, paths: ReadonlySet<string>, current: ServerState): McpAuthMode {
  return paths.has('auth_mode') ? s.authMode || McpAuthMode.NONE : current.authMode;
}

function optionalEnum(v: Violations, field: string, value: number, names: Record<number, string>): void {
  if (value !== 0 && !(value in names)) v.add(field, `unknown value ${value}`, 'INVALID_ENUM');
}

function checkServer(v: Violations, s: McpServer, paths: ReadonlySet<string>, current: ServerState): void {
  const stdio = current.transport === McpTransport.STDIO;
  // An unknown transport is reported on its own; the transport-specific checks then have nothing to go on.
  const remote = current.transport === McpTransport.STREAMABLE_HTTP || current.transport === McpTransport.SSE;
  const onlyStdio = 'only for stdio servers';
  if (paths.has('display_name')) v.maxLength('mcp_server.display_name', s.displayName, 200);
  if (paths.has('url')) {
    if (remote) v.url('mcp_server.url', s.url, true);
    else if (stdio && s.url) v.add('mcp_server.url', 'only for streamable_http and sse servers', 'INVALID');
  }
  if (paths.has('command')) {
    if (stdio && v.required('mcp_server.command', s.command.trim())) v.maxLength('mcp_server.command', s.command, 1024);
    else if (remote && s.command) v.add('mcp_server.command', onlyStdio, 'INVALID');
  }
  if (paths.has('args')) {
    if (stdio) {
      if (s.args.length > MAX_ARGS) v.add('mcp_server.args', `at most ${MAX_ARGS} entries`, 'TOO_MANY');
      s.args.forEach((arg, i) => v.maxLength(`mcp_server.args[${i}]`, arg, MAX_ARG_LENGTH));
    } else if (remote && s.args.length) v.add('mcp_server.args', onlyStdio, 'INVALID');
  }
  if (paths.has('env')) {
    const entries = Object.entries(s.env);
    if (stdio) {
      if (entries.length > MAX_ENV) v.add('mcp_server.env', `at most ${MAX_ENV} variables`, 'TOO_MANY');
      for (const [name, value] of entries) {
        if (!ENV_NAME_PATTERN.test(name)) v.add('mcp_server.env', `variable name "${name}" must match ${ENV_NAME_PATTERN.source}`, 'INVALID_FORMAT');
        if (value.length > MAX_ARG_LENGTH) v.add('mcp_server.env', `value of "${name}" must be at most ${MAX_ARG_LENGTH} characters`, 'TOO_LONG');
      }
    } else if (remote && entries.length) v.add('mcp_server.env', onlyStdio, 'INVALID');
  }
  if (paths.has('timeout_ms')) v.range('mcp_server.timeout_ms', s.timeoutMs, 0, 600_000);
  if (paths.has('auth_mode')) optionalEnum(v, 'mcp_server.auth_mode', s.authMode, McpAuthMode);
  if (paths.has('auth_mode') || paths.has('auth_secret')) {
    const isStatic = nextAuthMode(s, paths, current) === McpAuthMode.STATIC;
    const secretAfter = paths.has('auth_secret') ? s.authSecret !== '' : current.hasSecret;
    if (isStatic && !secretAfter) v.add('mcp_server.auth_secret', 'required when auth_mode is MCP_AUTH_MODE_STATIC', 'REQUIRED');
    if (!isStatic && paths.has('auth_secret') && s.authSecret) v.add('mcp_server.auth_secret', 'only for auth_mode MCP_AUTH_MODE_STATIC', 'INVALID');
    if (paths.has('auth_secret')) v.maxLength('mcp_server.auth_secret', s.authSecret, MAX_SECRET_LENGTH);
  }
  if (paths.has('defer_loading')) optionalEnum(v, 'mcp_server.defer_loading', s.deferLoading, DeferLoading);
  if (paths.has('blocked_tools')) {
    if (s.blockedTools.length > MAX_BLOCKED_TOOLS) v.add('mcp_server.blocked_tools', `at most ${MAX_BLOCKED_TOOLS} entries`, 'TOO_MANY');
    s.blockedTools.forEach((pattern, i) => {
      if (!TOOL_PATTERN.test(pattern)) v.add(`mcp_server.blocked_tools[${i}]`, 'must be a tool name or pattern with "*" wildcards', 'INVALID_FORMAT');
    });
  }
}

/** The columns `paths` of a validated `s` write, sealing secrets with `deps.secrets`. */
function serverColumns(deps: ServiceDeps, s: McpServer, paths: ReadonlySet<string>, current: ServerState): Partial<McpServerRow> {
  const out: Partial<McpServerRow> = {};
  if (paths.has('display_name')) out.displayName = s.displayName;
  if (paths.has('url')) out.url = s.url;
  if (paths.has('command')) out.command = s.command;
  if (paths.has('args')) out.args = [...s.args];
  if (paths.has('env')) {
    const names = Object.keys(s.env).sort();
    out.envNames = names;
    out.envCiphertext = names.length ? deps.secrets.seal(JSON.stringify(Object.fromEntries(names.map((n) => [n, s.env[n]])))) : '';
  }
  if (paths.has('timeout_ms')) out.timeoutMs = s.timeoutMs;
  if (paths.has('enabled')) out.enabled = s.enabled ?? true;
  if (paths.has('approved')) out.approved = s.approved;
  if (paths.has('auth_mode')) {
    const mode = nextAuthMode(s, paths, current);
    out.authMode = enumSlug(McpAuthModeSchema, mode);
    if (mode !== McpAuthMode.STATIC) out.authSecretCiphertext = '';
  }
  if (paths.has('auth_secret') && s.authSecret) out.authSecretCiphertext = deps.secrets.seal(s.authSecret);
  if (paths.has('defer_loading')) out.deferLoading = enumSlug(DeferLoadingSchema, s.deferLoading || DeferLoading.INHERIT);
  if (paths.has('blocked_tools')) out.blockedTools = [...s.blockedTools];
  return out;
}

/** An inspected tool as the API message. */
function toServerTool(tool: InspectedTool): MessageInitShape<typeof McpServerToolSchema> {
  return {
    upstreamName: tool.upstreamName,
    namespacedName: tool.namespacedName,
    title: tool.title ?? '',
    description: tool.description ?? '',
    // Parsed from the upstream's JSON-RPC answer, so it holds only JSON values.
    inputSchema: tool.inputSchema as JsonObject,
    blocked: tool.blocked,
    deferred: tool.deferred,
    skipReason: tool.skipReason ?? '',
  };
}

async function loadServer(em: EntityManager, call: CallContext, id: string, field: string): Promise<McpServerRow> {
  if (!id) throw SluiceError.invalid([{ field, description: 'required', reason: 'REQUIRED' }]);
  return visibleOr404(call, await em.findOne(McpServerEntity, { id }), 'MCP server', id);
}

/** Creates the McpServerService implementation over `deps`. */
export function createMcpServerService(deps: ServiceDeps): DomainService<typeof McpServerService> {
  return {
    async createMcpServer(req, call) {
      const s = req.mcpServer ?? create(McpServerSchema);
      if (s.transport === McpTransport.STDIO) requireRootForStdio(call);
      const row = await mutate(deps, async (em) => {
        const gw = await loadGateway(em, call, req.gatewayId, 'gateway_id');
        const fresh: ServerState = { transport: s.transport, authMode: McpAuthMode.NONE, hasSecret: false };
        const v = new Violations();
        v.slug('mcp_server.name', s.name);
        v.enumValue('mcp_server.transport', s.transport, McpTransport);
        checkServer(v, s, ALL_PATHS, fresh);
        v.throwIfAny();
        if (await em.count(McpServerEntity, { gatewayId: gw.id, name: s.name })) {
          throw new SluiceError('already_exists', `mcp_server.name: MCP server "${s.name}" already exists`);
        }
        return em.create(McpServerEntity, {
          id: newId('mcp'),
          workspaceId: gw.workspaceId,
          gatewayId: gw.id,
          name: s.name,
          transport: enumSlug(McpTransportSchema, s.transport),
          args: [],
          envNames: [],
          authMode: enumSlug(McpAuthModeSchema, McpAuthMode.NONE),
          deferLoading: enumSlug(DeferLoadingSchema, DeferLoading.INHERIT),
          blockedTools: [],
          ...serverColumns(deps, s, ALL_PATHS, fresh),
        });
      });
      return { mcpServer: toMcpServer(row) };
    },

    async getMcpServer(req, call) {
      return read(deps, async (em) => ({ mcpServer: toMcpServer(await loadServer(em, call, req.id, 'id')) }));
    },

    async listMcpServers(req, call) {
      const v = new Violations();
      optionalEnum(v, 'transport', req.transport, McpTransport);
      v.throwIfAny();
      return read(deps, async (em) => {
        // Both filters may be given; they then narrow together.
        const where: FilterQuery<McpServerRow> = {};
        if (req.gatewayId) where.gatewayId = (await loadGateway(em, call, req.gatewayId, 'gateway_id')).id;
        if (req.workspaceId || !req.gatewayId) {
          const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
          if (!(await em.count(WorkspaceEntity, { id: workspaceId }))) throw SluiceError.notFound('workspace', workspaceId);
          where.workspaceId = workspaceId;
        }
        if (req.name) where.name = req.name;
        if (req.transport) where.transport = enumSlug(McpTransportSchema, req.transport);
        if (req.approved !== undefined) where.approved = req.approved;
        if (req.enabled !== undefined) where.enabled = req.enabled;
        const page = await listById(em, McpServerEntity, where, req, 'ListMcpServers');
        return { mcpServers: page.rows.map(toMcpServer), nextPageToken: page.nextPageToken };
      });
    },

    async updateMcpServer(req, call) {
      const s = req.mcpServer ?? create(McpServerSchema);
      const paths = maskPaths(req.updateMask, MUTABLE);
      if (STDIO_PATHS.some((p) => paths.has(p))) requireRootForStdio(call);
      const row = await mutate(deps, async (em) => {
        const row = await loadServer(em, call, s.id, 'mcp_server.id');
        const current = stateOf(row);
        const v = new Violations();
        checkServer(v, s, paths, current);
        v.throwIfAny();
        return Object.assign(row, serverColumns(deps, s, paths, current));
      });
      return { mcpServer: toMcpServer(row) };
    },

    async deleteMcpServer(req, call) {
      await mutate(deps, async (em) => {
        em.remove(await loadServer(em, call, req.id, 'id'));
      });
      return {};
    },

    async listMcpServerTools(req, call) {
      const { row, gateway } = await read(deps, async (em) => {
        const row = await loadServer(em, call, req.id, 'id');
        return { row, gateway: await em.findOne(GatewayEntity, { id: row.gatewayId }) };
      });
      const exposed = row.approved && row.enabled && gateway?.workspaceId === row.workspaceId;
      // The data plane runs an exposed stdio server anyway; any other would be started for this call only.
      if (row.transport === 'stdio' && !exposed) requireRoot(call, 'listing the tools of an unapproved or disabled stdio MCP server');
      const settings = { blockedTools: gateway?.mcp?.blockedTools ?? [], deferLoading: gateway?.mcp?.deferLoading ?? false };
      const inspection = await inspectTools(toUpstreamServer(row, deps.secrets), settings);
      const { status } = inspection;
      return {
        status: status.reachable ? { reachable: true, latencyMs: status.ms } : { reachable: false, errorCode: status.code, errorMessage: status.message, latencyMs: status.ms },
        tools: inspection.tools.map(toServerTool),
        exposed,
      };
    },
  };
}

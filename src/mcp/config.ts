/**
 * The MCP part of the config in its runtime form: per gateway, its blocked
 * patterns and the upstream servers clients may see (approved and enabled
 * only, sorted by name), with secrets decrypted. Built once per config
 * change from the `mcp_servers` and `gateways` rows; the request path only
 * looks things up.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { GatewayEntity, McpServerEntity, type McpRateLimitDoc, type McpServerRow } from '../db/entities.js';
import { CelCompileError, compileCel, type CompiledCel, type McpCelContext } from '../policy/cel.js';
import type { FailureMode } from '../policy/counters/index.js';
import type { SecretBox } from '../security/secret-box.js';
import { createToolBlocker, type ToolBlocker } from './blocked.js';

/** How the gateway reaches an upstream server. */
export type UpstreamTransport = 'streamable_http' | 'sse' | 'stdio';

/** How the gateway authenticates to an upstream server (HTTP transports only). */
export type UpstreamAuth = { mode: 'none' } | { mode: 'static'; secret: string } | { mode: 'forward' };

/** A server's deferred-loading override: `inherit` follows the session's default. */
export type DeferMode = 'inherit' | 'enabled' | 'disabled';

/** A cap on tool calls of a gateway, counted per gateway or per API key. */
export interface McpRateLimit {
  /** Counter key prefix: changes when the limit changes, so a new limit starts a new counter. */
  id: string;
  scope: 'gateway' | 'key';
  limit: number;
  windowMs: number;
  onStoreFailure: FailureMode;
}

/** One upstream MCP server as the runtime uses it. Immutable. */
export interface UpstreamServer {
  id: string;
  /** The slug clients see as the namespace of its tools and prompts. */
  name: string;
  gatewayId: string;
  transport: UpstreamTransport;
  url: string;
  command: string;
  args: readonly string[];
  /** stdio only: the child's environment on top of a minimal inherited one. */
  env: Readonly<Record<string, string>>;
  /** Bound on connecting and on every request. */
  timeoutMs: number;
  auth: UpstreamAuth;
  /** Globs over the server's own tool names (`*` wildcards). */
  blockedTools: readonly string[];
  deferLoading: DeferMode;
  /** Digest of everything that shapes the connection: a change opens fresh upstream sessions. */
  fingerprint: string;
  /** Why the server cannot be used (undecryptable secret, unknown transport); its items drop out with this error. */
  problem?: string;
}

/** The MCP view of one gateway. */
export interface GatewayMcp {
  gatewayId: string;
  /** `server:tool`, `server:*`, `*:tool` (tool part may use `*`). */
  blockedTools: readonly string[];
  /** The gateway's and each server's blocked patterns, compiled. */
  isBlocked: ToolBlocker;
  /** Approved, enabled servers in byte order of their names. */
  servers: readonly UpstreamServer[];
  /** The gateway's deferred-loading default (a client may override it with `x-sluice-mcp-deferred`). */
  deferLoading: boolean;
  /** The compiled `mcp.authorization` rule; absent when none is set. */
  authorization?: CompiledCel<boolean, McpCelContext>;
  /** Why a stored rule does not compile: every call is then refused (fail closed). */
  authorizationProblem?: string;
  rateLimits: readonly McpRateLimit[];
  /** Digest of what clients can see; changes when the gateway's MCP config changes. */
  fingerprint: string;
}

/** Every gateway's MCP view, for one config version. */
export interface McpCatalog {
  version: bigint;
  gateways: ReadonlyMap<string, GatewayMcp>;
}

/** Timeout for servers stored with `timeout_ms = 0`. */
export const DEFAULT_TIMEOUT_MS = 30_000;

const TRANSPORTS: ReadonlySet<string> = new Set<UpstreamTransport>(['streamable_http', 'sse', 'stdio']);

/** The view of a gateway without MCP configuration. */
export function emptyGatewayMcp(gatewayId: string): GatewayMcp {
  return { gatewayId, blockedTools: [], isBlocked: createToolBlocker([]), servers: [], deferLoading: false, rateLimits: [], fingerprint: '' };
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Whether a server's tools are deferred (left out of `tools/list`, found with
 * search_tools): its own `enabled`/`disabled` setting, else `sessionDefault`
 * (the client's header, else the gateway's `mcp.defer_loading`).
 */
export function isDeferred(mode: DeferMode, sessionDefault: boolean): boolean {
  return mode === 'inherit' ? sessionDefault : mode === 'enabled';
}

/**
 * Decrypts and shapes one stored server; decryption failures become
 * `problem`, never exceptions. Does not look at `approved`/`enabled`: the
 * catalog filters those, the control plane's tool listing does not.
 */
export function toUpstreamServer(row: McpServerRow, secrets: SecretBox): UpstreamServer {
  const problems: string[] = [];
  let env: Record<string, string> = {};
  if (row.envCiphertext) {
    try {
      env = JSON.parse(secrets.open(row.envCiphertext)) as Record<string, string>;
    } catch {
      problems.push('its environment cannot be decrypted with this master key');
    }
  }
  let auth: UpstreamAuth = { mode: 'none' };
  if (row.authMode === 'forward') auth = { mode: 'forward' };
  else if (row.authMode === 'static') {
    try {
      auth = { mode: 'static', secret: secrets.open(row.authSecretCiphertext) };
    } catch {
      problems.push('its auth secret cannot be decrypted with this master key');
    }
  }
  if (!TRANSPORTS.has(row.transport)) problems.push(`unknown transport "${row.transport}"`);
  const server: Omit<UpstreamServer, 'fingerprint'> = {
    id: row.id,
    name: row.name,
    gatewayId: row.gatewayId,
    transport: row.transport as UpstreamTransport,
    url: row.url,
    command: row.command,
    args: [...row.args],
    env,
    timeoutMs: row.timeoutMs > 0 ? row.timeoutMs : DEFAULT_TIMEOUT_MS,
    auth,
    blockedTools: [...row.blockedTools],
    deferLoading: row.deferLoading === 'enabled' || row.deferLoading === 'disabled' ? row.deferLoading : 'inherit',
    ...(problems.length ? { problem: `MCP server "${row.name}": ${problems.join('; ')}` } : {}),
  };
  const { transport, url, command, args, timeoutMs } = server;
  return { ...server, fingerprint: digest([transport, url, command, args, env, timeoutMs, auth]) };
}

/**
 * Reads the approved, enabled MCP servers and every gateway's MCP settings.
 * Servers whose gateway is missing or lives in another workspace are left out.
 */
export async function loadMcpCatalog(em: EntityManager, secrets: SecretBox, version: bigint): Promise<McpCatalog> {
  const [gateways, rows] = await Promise.all([em.find(GatewayEntity, {}), em.find(McpServerEntity, { approved: true, enabled: true })]);
  const gatewayById = new Map(gateways.map((g) => [g.id, g]));
  const serversByGateway = new Map<string, UpstreamServer[]>();
  for (const row of rows) {
    const gateway = gatewayById.get(row.gatewayId);
    if (!gateway || gateway.workspaceId !== row.workspaceId) continue;
    serversByGateway.set(row.gatewayId, [...(serversByGateway.get(row.gatewayId) ?? []), toUpstreamServer(row, secrets)]);
  }
  const views = new Map<string, GatewayMcp>();
  for (const g of gateways) {
    const servers = (serversByGateway.get(g.id) ?? []).sort(byName);
    const blockedTools = [...(g.mcp?.blockedTools ?? [])];
    if (!servers.length && !blockedTools.length) continue;
    const source = g.mcp?.authorization ?? '';
    const rule = compileAuthorization(source);
    const rateLimits = (g.mcp?.rateLimits ?? []).flatMap((doc) => toRateLimit(doc));
    const deferLoading = g.mcp?.deferLoading ?? false;
    views.set(g.id, {
      gatewayId: g.id,
      blockedTools,
      isBlocked: createToolBlocker(blockedTools),
      servers,
      deferLoading,
      ...rule,
      rateLimits,
      fingerprint: digest([blockedTools, deferLoading, source, servers.map((s) => [s.id, s.name, s.fingerprint, s.blockedTools, s.deferLoading, s.problem])]),
    });
  }
  return { version, gateways: views };
}

const WINDOW_MS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** A stored rate limit in runtime form; one the runtime cannot enforce (unknown window or scope) is dropped. */
function toRateLimit(doc: McpRateLimitDoc): McpRateLimit[] {
  const windowMs = WINDOW_MS[doc.window];
  if (windowMs === undefined || (doc.scope !== 'gateway' && doc.scope !== 'key') || !Number.isSafeInteger(doc.limit) || doc.limit < 1) return [];
  return [{ id: digest([doc.scope, doc.limit, doc.window]).slice(0, 12), scope: doc.scope, limit: doc.limit, windowMs, onStoreFailure: doc.onStoreFailure === 'fail_closed' ? 'fail_closed' : 'fail_open' }];
}

/** Compiles the authorization rule once per config change. */
function compileAuthorization(source: string): Pick<GatewayMcp, 'authorization' | 'authorizationProblem'> {
  if (!source.trim()) return {};
  try {
    return { authorization: compileCel(source, 'bool', 'mcp') };
  } catch (err) {
    if (err instanceof CelCompileError) return { authorizationProblem: `mcp.authorization does not compile: ${err.message}` };
    throw err;
  }
}

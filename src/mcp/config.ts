/**
 * The MCP part of the config in its runtime form: per gateway, its blocked
 * patterns and the upstream servers clients may see (approved and enabled
 * only, sorted by name), with secrets decrypted. Built once per config
 * change from the `mcp_servers` and `gateways` rows; the request path only
 * looks things up.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { GatewayEntity, McpServerEntity, type McpServerRow } from '../db/entities.js';
import type { SecretBox } from '../security/secret-box.js';
import { createToolBlocker, type ToolBlocker } from './blocked.js';

/** How the gateway reaches an upstream server. */
export type UpstreamTransport = 'streamable_http' | 'sse' | 'stdio';

/** How the gateway authenticates to an upstream server (HTTP transports only). */
export type UpstreamAuth = { mode: 'none' } | { mode: 'static'; secret: string } | { mode: 'forward' };

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
  return { gatewayId, blockedTools: [], isBlocked: createToolBlocker([]), servers: [], fingerprint: '' };
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Decrypts and shapes one stored server; decryption failures become `problem`, never exceptions. */
function toUpstreamServer(row: McpServerRow, secrets: SecretBox): UpstreamServer {
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
    views.set(g.id, { gatewayId: g.id, blockedTools, isBlocked: createToolBlocker(blockedTools), servers, fingerprint: digest([blockedTools, servers.map((s) => [s.id, s.name, s.fingerprint, s.blockedTools, s.problem])]) });
  }
  return { version, gateways: views };
}

/**
 * The MCP gateway's state in one process: the MCP catalog (read from the
 * database whenever the runtime snapshot's config version moves on), the
 * upstream session pool and the client sessions. Created by
 * `registerMcpRoutes`; closed with the app.
 *
 * A config change costs one catalog query, made by the first MCP request
 * that sees the new snapshot version (the snapshot store rebuilds within a
 * second of any change, on every replica). If the database is unreachable
 * then, the last catalog keeps serving.
 */
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Orm } from '../db/orm.js';
import { SluiceError } from '../errors.js';
import type { McpCallSink } from '../observability/records.js';
import type { CounterStore } from '../policy/counters/index.js';
import type { SecretBox } from '../security/secret-box.js';
import { SeenUris } from './aggregate.js';
import { ClientSessions, type ClientSession } from './client-sessions.js';
import { emptyGatewayMcp, loadMcpCatalog, type GatewayMcp, type McpCatalog } from './config.js';
import { UpstreamPool, type McpLogger } from './pool.js';
import { Governor, type McpIdentity } from './governance.js';
import { Sandbox, type SandboxOptions } from './orchestrator/sandbox.js';
import { ToolIndexCache } from './search.js';
import { createSessionServer } from './session-server.js';
import type { ListKind } from './upstream.js';

/** Bounds of the MCP gateway. */
export interface McpLimits {
  /** Client sessions in this process. */
  maxSessions: number;
  /** Client sessions per API key (the oldest is closed to admit a new one). */
  maxSessionsPerKey: number;
  /** A client session without requests for this long is closed. */
  sessionIdleMs: number;
  /** An upstream session unused for this long is closed (a stdio child stopped). */
  upstreamIdleMs: number;
  /** How long an upstream's lists are reused without asking again. */
  listCacheMs: number;
  /** Backoff after a failed upstream connect: first wait, doubled up to `retryMaxMs`. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Largest accepted request body. */
  bodyLimit: number;
}

/** Defaults for every limit. */
export const DEFAULT_MCP_LIMITS: McpLimits = {
  maxSessions: 10_000,
  maxSessionsPerKey: 100,
  sessionIdleMs: 30 * 60_000,
  upstreamIdleMs: 5 * 60_000,
  listCacheMs: 30_000,
  retryMinMs: 500,
  retryMaxMs: 30_000,
  bodyLimit: 4 * 1024 * 1024,
};

/** How long after a failed catalog load the next one is tried. */
const RELOAD_RETRY_MS = 1000;

/** Dependencies of a runtime. */
export interface McpRuntimeOptions {
  orm: Orm;
  secrets: SecretBox;
  logger: McpLogger;
  limits?: Partial<McpLimits>;
  /** Rate-limit counters (the process's shared store); without one MCP rate limits are not enforced. */
  counters?: CounterStore;
  /** Receives one record per tool call. */
  onCall?: McpCallSink;
  /** Orchestrator sandbox settings (workers, limits). */
  sandbox?: Partial<SandboxOptions>;
}

const LIST_CHANGED: Record<ListKind, 'sendToolListChanged' | 'sendResourceListChanged' | 'sendPromptListChanged'> = {
  tools: 'sendToolListChanged',
  resources: 'sendResourceListChanged',
  resourceTemplates: 'sendResourceListChanged',
  prompts: 'sendPromptListChanged',
};

/** See the module comment. */
export class McpRuntime {
  readonly limits: McpLimits;
  readonly pool: UpstreamPool;
  readonly sessions: ClientSessions;
  readonly governor: Governor;
  readonly sandbox: Sandbox;
  readonly search = new ToolIndexCache();
  private catalog: McpCatalog | undefined;
  private loading: Promise<void> | undefined;
  private failedAt = 0;

  constructor(private readonly options: McpRuntimeOptions) {
    this.limits = { ...DEFAULT_MCP_LIMITS, ...options.limits };
    this.pool = new UpstreamPool({
      idleMs: this.limits.upstreamIdleMs,
      listCacheMs: this.limits.listCacheMs,
      retryMinMs: this.limits.retryMinMs,
      retryMaxMs: this.limits.retryMaxMs,
      logger: options.logger,
      onListChanged: (server, kinds) => this.notifyListChanged(server.gatewayId, kinds),
    });
    this.governor = new Governor({ logger: options.logger, ...(options.counters ? { counters: options.counters } : {}), ...(options.onCall ? { onCall: options.onCall } : {}) });
    this.sandbox = new Sandbox(options.sandbox);
    this.sessions = new ClientSessions({ maxSessions: this.limits.maxSessions, maxSessionsPerKey: this.limits.maxSessionsPerKey, idleMs: this.limits.sessionIdleMs });
  }

  /**
   * Makes the catalog current for config `version` (reloading when it is
   * older), then returns the gateway's MCP view.
   */
  async gateway(version: bigint, gatewayId: string): Promise<GatewayMcp> {
    // A second round when a load for an older version was already under way.
    for (let round = 0; round < 2 && this.catalog?.version !== version; round++) await this.reload(version);
    return this.current(gatewayId);
  }

  /** The gateway's MCP view in the catalog loaded last. */
  current(gatewayId: string): GatewayMcp {
    return this.catalog?.gateways.get(gatewayId) ?? emptyGatewayMcp(gatewayId);
  }

  /**
   * A new session's transport, connected to its server. The session is
   * registered when the transport assigns its id (while handling `initialize`).
   */
  async openSession(caller: { keyId: string; gatewayId: string; secret: string; identity: McpIdentity; deferred?: boolean }): Promise<StreamableHTTPServerTransport> {
    const identity = { current: caller.identity };
    const server = createSessionServer({
      pool: this.pool,
      logger: this.options.logger,
      gateway: () => this.current(caller.gatewayId),
      token: caller.secret,
      seenUris: new SeenUris(),
      identity: () => identity.current,
      ...(caller.deferred !== undefined ? { deferred: caller.deferred } : {}),
      services: { governor: this.governor, sandbox: this.sandbox, search: this.search },
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        const session: ClientSession = { id, keyId: caller.keyId, gatewayId: caller.gatewayId, transport, server, lastSeen: Date.now(), open: 0, identity };
        this.sessions.add(session);
      },
      onsessionclosed: (id) => this.sessions.forget(id),
    });
    server.onclose = () => {
      if (transport.sessionId) this.sessions.forget(transport.sessionId);
    };
    await server.connect(transport);
    return transport;
  }

  /** Ends every client session and every upstream session (stdio children stopped). */
  async close(): Promise<void> {
    await this.sessions.closeAll();
    await Promise.all([this.pool.close(), this.sandbox.close()]);
  }

  private async reload(version: bigint): Promise<void> {
    if (!this.loading) {
      if (this.catalog && Date.now() - this.failedAt < RELOAD_RETRY_MS) return;
      this.loading = this.load(version).finally(() => (this.loading = undefined));
    }
    await this.loading;
  }

  private async load(version: bigint): Promise<void> {
    let next: McpCatalog;
    try {
      next = await loadMcpCatalog(this.options.orm.em.fork(), this.options.secrets, version);
    } catch (err) {
      this.failedAt = Date.now();
      if (!this.catalog) throw new SluiceError('unavailable', 'MCP configuration cannot be loaded', { cause: err, details: { code: 'config_unavailable' } });
      this.options.logger.warn({ err }, 'mcp catalog reload failed; serving the previous one');
      return;
    }
    const previous = this.catalog;
    this.catalog = next;
    await this.pool.retain(next);
    if (!previous) return;
    const changed = new Set<string>();
    for (const id of new Set([...previous.gateways.keys(), ...next.gateways.keys()])) {
      if (previous.gateways.get(id)?.fingerprint !== next.gateways.get(id)?.fingerprint) changed.add(id);
    }
    for (const id of changed) this.notifyListChanged(id, ['tools', 'resources', 'prompts']);
  }

  private notifyListChanged(gatewayId: string, kinds: readonly ListKind[]): void {
    const methods = new Set(kinds.map((k) => LIST_CHANGED[k]));
    for (const session of this.sessions.onGateway(gatewayId)) {
      for (const method of methods) session.server[method]().catch(() => {});
    }
  }
}

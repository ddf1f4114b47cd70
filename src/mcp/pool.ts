/**
 * The upstream session pool. One session per (server, connection config) is
 * shared by every client session of its gateway; servers with `forward` auth
 * get one per caller credential, since a session opened with one caller's
 * token must never serve another caller.
 *
 * - Connecting is coalesced: concurrent callers wait for the same attempt.
 * - A failed connect is retried no sooner than after a backoff (doubling from
 *   `retryMinMs` to `retryMaxMs`); until then callers fail fast with the last
 *   error, so a dead upstream costs nothing per `tools/list`.
 * - A session whose connection ended (child exited) is replaced on next use; a
 *   request the upstream refused because it forgot the session (HTTP 404) is
 *   retried once on a fresh session.
 * - Sessions idle for `idleMs` are closed (stdio children stopped), and so are
 *   sessions of servers that left the config or changed how they connect.
 */
import type { FastifyBaseLogger } from 'fastify';
import { SluiceError } from '../errors.js';
import { hashSecret } from '../security/tokens.js';
import type { McpCatalog, UpstreamServer } from './config.js';
import type { RpcError } from './errors.js';
import { abortable, UpstreamSession, type ListKind } from './upstream.js';

/** The logger calls the MCP runtime makes. */
export type McpLogger = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

/** Pool settings. */
export interface PoolOptions {
  idleMs: number;
  listCacheMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  logger: McpLogger;
  /** An upstream announced a list change. */
  onListChanged(server: UpstreamServer, kinds: readonly ListKind[]): void;
}

/** How a failed request may be retried on a fresh session. */
export type RetryPolicy = 'session_lost' | 'connection';

/** One pooled upstream session, for diagnostics. */
export interface PooledSessionInfo {
  serverId: string;
  server: string;
  pid: number | undefined;
  inflight: number;
  idleMs: number;
}

interface Entry {
  server: UpstreamServer;
  token: string | undefined;
  session?: UpstreamSession;
  opening?: Promise<UpstreamSession>;
  failures: number;
  retryAt: number;
  lastError?: SluiceError | RpcError;
}

/** Owns every upstream session of one runtime; `close()` ends them all. */
export class UpstreamPool {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: PoolOptions) {
    this.timer = setInterval(() => void this.sweep(), Math.max(250, Math.min(options.idleMs / 2, 30_000)));
    this.timer.unref();
  }

  /** A usable session for `server` as the caller with `token`; connects when needed. */
  async acquire(server: UpstreamServer, token: string | undefined, signal: AbortSignal | undefined): Promise<UpstreamSession> {
    if (this.closed) throw new SluiceError('unavailable', 'the MCP gateway is shutting down', { details: { code: 'shutting_down' } });
    const key = this.keyOf(server, token);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { server, token, failures: 0, retryAt: 0 };
      this.entries.set(key, entry);
    }
    if (entry.session?.usable) {
      entry.session.lastUsed = Date.now();
      return entry.session;
    }
    if (!entry.opening) {
      const waiting = this.backoffError(entry);
      if (waiting) throw waiting;
      entry.opening = this.open(key, entry);
    }
    return abortable(entry.opening, signal);
  }

  /**
   * Runs `fn` on a session for `server`; when it fails because the session
   * was lost (or, with `connection`, because the connection failed), runs it
   * once more on a fresh session.
   */
  async use<T>(server: UpstreamServer, token: string | undefined, signal: AbortSignal | undefined, retry: RetryPolicy, fn: (session: UpstreamSession) => Promise<T>): Promise<T> {
    const session = await this.acquire(server, token, signal);
    try {
      return await fn(session);
    } catch (err) {
      const code = err instanceof SluiceError ? err.details.code : undefined;
      if (code !== 'upstream_session_lost' && !(retry === 'connection' && code === 'upstream_unavailable')) throw err;
      this.discard(server, token, session);
      return fn(await this.acquire(server, token, signal));
    }
  }

  /** Closes the sessions of servers that are not in `catalog` any more (or connect differently now). */
  async retain(catalog: McpCatalog): Promise<void> {
    const live = new Set<string>();
    for (const gateway of catalog.gateways.values()) for (const s of gateway.servers) live.add(`${s.id}:${s.fingerprint}`);
    const gone: Promise<void>[] = [];
    for (const [key, entry] of this.entries) {
      if (live.has(`${entry.server.id}:${entry.server.fingerprint}`)) continue;
      this.entries.delete(key);
      if (entry.session) gone.push(entry.session.close());
    }
    await Promise.all(gone);
  }

  /** The pooled sessions right now. */
  sessions(): PooledSessionInfo[] {
    const now = Date.now();
    return [...this.entries.values()].flatMap((e) =>
      e.session?.usable ? [{ serverId: e.server.id, server: e.server.name, pid: e.session.pid, inflight: e.session.inflight, idleMs: now - e.session.lastUsed }] : [],
    );
  }

  /** Closes every session and waits for connects in progress (their sessions are closed too). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(entries.flatMap((e) => [...(e.session ? [e.session.close()] : []), ...(e.opening ? [e.opening] : [])]));
  }

  private keyOf(server: UpstreamServer, token: string | undefined): string {
    const base = `${server.id}:${server.fingerprint}`;
    return server.auth.mode === 'forward' ? `${base}:${hashSecret(token ?? '')}` : base;
  }

  /** The error to fail fast with while a failed server waits for its next attempt. */
  private backoffError(entry: Entry): SluiceError | undefined {
    const err = entry.lastError;
    const wait = entry.retryAt - Date.now();
    if (!err || wait <= 0) return undefined;
    const code = err instanceof SluiceError ? (err.details.code ?? 'upstream_unavailable') : 'upstream_unavailable';
    return new SluiceError(err instanceof SluiceError ? err.kind : 'unavailable', `${err.message} (next attempt in ${wait} ms)`, { cause: err, details: { code } });
  }

  private open(key: string, entry: Entry): Promise<UpstreamSession> {
    const { server, token } = entry;
    const hooks = {
      onListChanged: (kinds: readonly ListKind[]) => this.options.onListChanged(server, kinds),
      onClosed: () => {
        if (entry.session && !entry.session.usable) entry.session = undefined;
      },
    };
    const started = Date.now();
    const attempt = UpstreamSession.open(server, token, this.options.listCacheMs, hooks).then(
      async (session) => {
        entry.opening = undefined;
        if (this.closed || this.entries.get(key) !== entry) {
          await session.close();
          throw new SluiceError('unavailable', `MCP server "${server.name}" was removed while connecting`, { details: { code: 'upstream_unavailable' } });
        }
        entry.session = session;
        entry.failures = 0;
        delete entry.lastError;
        this.options.logger.info({ mcpServer: server.name, pid: session.pid, ms: Date.now() - started }, 'mcp upstream connected');
        return session;
      },
      (err: SluiceError | RpcError) => {
        entry.opening = undefined;
        entry.failures++;
        entry.retryAt = Date.now() + Math.min(this.options.retryMaxMs, this.options.retryMinMs * 2 ** (entry.failures - 1));
        entry.lastError = err;
        this.options.logger.warn({ mcpServer: server.name, err: err instanceof SluiceError ? (err.cause ?? err) : err, failures: entry.failures }, 'mcp upstream connect failed');
        throw err;
      },
    );
    // Callers may have given up (their signal aborted); the attempt's outcome is recorded above either way.
    attempt.catch(() => {});
    return attempt;
  }

  private discard(server: UpstreamServer, token: string | undefined, session: UpstreamSession): void {
    const entry = this.entries.get(this.keyOf(server, token));
    if (entry?.session === session) entry.session = undefined;
    void session.close();
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const idle: Promise<void>[] = [];
    for (const [key, entry] of this.entries) {
      const s = entry.session;
      if (s && s.inflight === 0 && now - s.lastUsed > this.options.idleMs) {
        this.entries.delete(key);
        idle.push(s.close());
      } else if (!s && !entry.opening && now > entry.retryAt + this.options.idleMs) {
        this.entries.delete(key);
      }
    }
    await Promise.all(idle);
  }
}

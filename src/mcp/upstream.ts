/**
 * One client session to one upstream MCP server (Streamable HTTP, SSE or a
 * stdio child), shared by every client session of the gateway that reaches
 * the server with the same credentials. Every request is bounded by the
 * server's timeout; failures come back as `SluiceError`s with a machine code
 * (`upstream_timeout`, `upstream_unavailable`, `upstream_session_lost`,
 * `upstream_rejected_credentials`, `upstream_http_error`,
 * `upstream_invalid_response`, `upstream_misconfigured`), while JSON-RPC
 * errors the upstream itself returned pass through as `RpcError`s.
 *
 * Lists (tools, resources, resource templates, prompts) are cached for
 * `listCacheMs`, refreshed at once when the upstream announces a change, and
 * fetched once for concurrent callers (page by page, bounded by the timeout).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ProgressCallback } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  ListToolsResultSchema,
  McpError,
  ProgressNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type ClientRequest,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { AnySchema, SchemaOutput } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { SluiceError } from '../errors.js';
import type { UpstreamServer } from './config.js';
import { RpcError, toRpcError } from './errors.js';
import { ProcessGroupStdioTransport } from './stdio-transport.js';

/** What each list method returns, by kind. */
export interface UpstreamLists {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
}
/** The lists an upstream can be asked for. */
export type ListKind = keyof UpstreamLists;

/** The capability an upstream must announce for each list. */
const CAPABILITY: Record<ListKind, keyof ServerCapabilities> = { tools: 'tools', resources: 'resources', resourceTemplates: 'resources', prompts: 'prompts' };

/** Pages followed per list before giving up on an upstream that keeps paging. */
const MAX_PAGES = 100;
/** How long closing waits for an HTTP upstream to acknowledge the session's end. */
const TERMINATE_WAIT_MS = 1000;
const CLIENT_INFO = { name: 'sluice-mcp-gateway', version: '0.1.0' };

/** Callbacks from a session to its pool. */
export interface UpstreamHooks {
  /** The upstream announced that a list changed (the cache is already dropped). */
  onListChanged(kinds: readonly ListKind[]): void;
  /** The connection ended (child exited, transport closed). */
  onClosed(): void;
}

type Page<K extends ListKind> = { items: UpstreamLists[K]; nextCursor?: string };
type Pager = { [K in ListKind]: (cursor: string | undefined, signal: AbortSignal, timeout: number) => Promise<Page<K>> };

function pagerFor(client: Client): Pager {
  const params = (cursor: string | undefined) => (cursor === undefined ? {} : { cursor });
  return {
    tools: async (cursor, signal, timeout) => {
      const r = await client.request({ method: 'tools/list', params: params(cursor) }, ListToolsResultSchema, { signal, timeout });
      return { items: r.tools, nextCursor: r.nextCursor };
    },
    resources: async (cursor, signal, timeout) => {
      const r = await client.request({ method: 'resources/list', params: params(cursor) }, ListResourcesResultSchema, { signal, timeout });
      return { items: r.resources, nextCursor: r.nextCursor };
    },
    resourceTemplates: async (cursor, signal, timeout) => {
      const r = await client.request({ method: 'resources/templates/list', params: params(cursor) }, ListResourceTemplatesResultSchema, { signal, timeout });
      return { items: r.resourceTemplates, nextCursor: r.nextCursor };
    },
    prompts: async (cursor, signal, timeout) => {
      const r = await client.request({ method: 'prompts/list', params: params(cursor) }, ListPromptsResultSchema, { signal, timeout });
      return { items: r.prompts, nextCursor: r.nextCursor };
    },
  };
}

/** Rejects with the signal's reason as soon as it aborts; `promise` keeps running. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** A system error code (`ECONNREFUSED`, `ENOENT`, …) somewhere on the cause chain. */
function systemCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

function unavailable(server: UpstreamServer, message: string, code: string, cause: unknown): SluiceError {
  return new SluiceError('unavailable', `MCP server "${server.name}" ${message}`, { cause, details: { code } });
}

/** The transport for a server; HTTP transports carry the auth header. */
function createTransport(server: UpstreamServer, token: string | undefined): Transport {
  if (server.transport === 'stdio') return new ProcessGroupStdioTransport({ command: server.command, args: server.args, env: server.env });
  const bearer = server.auth.mode === 'static' ? server.auth.secret : server.auth.mode === 'forward' ? token : undefined;
  const requestInit: RequestInit = bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {};
  const url = new URL(server.url);
  if (server.transport === 'sse') return new SSEClientTransport(url, { requestInit });
  // Reconnecting the notification stream is cheap to give up on: lists are also refreshed by age.
  return new StreamableHTTPClientTransport(url, { requestInit, reconnectionOptions: { initialReconnectionDelay: 1000, maxReconnectionDelay: 30_000, reconnectionDelayGrowFactor: 2, maxRetries: 2 } });
}

/** A connected upstream session. Create with `UpstreamSession.open`. */
export class UpstreamSession {
  /** Requests in flight; an idle session has none. */
  inflight = 0;
  lastUsed = Date.now();

  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly pager: Pager;
  /** Entries hold the list of their own key's kind (TypeScript cannot tie a Map's value type to its key). */
  private readonly cache = new Map<ListKind, { at: number; items: UpstreamLists[ListKind] }>();
  private readonly pending = new Map<ListKind, Promise<UpstreamLists[ListKind]>>();
  private readonly generation: Record<ListKind, number> = { tools: 0, resources: 0, resourceTemplates: 0, prompts: 0 };
  /** Progress callbacks by the token the gateway sent upstream. */
  private readonly progress = new Map<string, ProgressCallback>();
  private progressTokens = 0;

  private constructor(
    readonly server: UpstreamServer,
    private readonly client: Client,
    private readonly transport: Transport,
    private readonly listCacheMs: number,
    hooks: UpstreamHooks,
  ) {
    this.pager = pagerFor(client);
    client.onclose = () => {
      this.closed = true;
      hooks.onClosed();
    };
    // Transport-level noise (a stray stdout line, a dropped notification stream) is not a failure of any request.
    client.onerror = () => {};
    const changed = (kinds: ListKind[]) => () => {
      for (const kind of kinds) this.invalidate(kind);
      hooks.onListChanged(kinds);
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, changed(['tools']));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, changed(['resources', 'resourceTemplates']));
    client.setNotificationHandler(PromptListChangedNotificationSchema, changed(['prompts']));
    // Replaces the SDK's own progress routing, which drops the last notification when it arrives in
    // the same chunk as the response (notifications are dispatched a microtask later, after the
    // response already removed the callback). Here the route outlives the response by that microtask.
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      const { progressToken, ...progress } = n.params;
      this.progress.get(String(progressToken))?.(progress);
    });
  }

  /**
   * Connects and initialises within the server's timeout. On failure
   * everything started is closed (a spawned child is stopped); for stdio the
   * child's last stderr output becomes the error's cause (logged, never sent
   * to clients).
   */
  static async open(server: UpstreamServer, token: string | undefined, listCacheMs: number, hooks: UpstreamHooks): Promise<UpstreamSession> {
    if (server.problem) throw new SluiceError('failed_precondition', server.problem, { details: { code: 'upstream_misconfigured' } });
    const transport = createTransport(server, token);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    const session = new UpstreamSession(server, client, transport, listCacheMs, hooks);
    const deadline = AbortSignal.timeout(server.timeoutMs);
    try {
      await abortable(client.connect(transport, { signal: deadline, timeout: server.timeoutMs }), deadline);
    } catch (err) {
      await session.close();
      const failure = session.failure(err, 'initialize', deadline.aborted);
      const stderr = transport instanceof ProcessGroupStdioTransport ? transport.stderrTail.trim() : '';
      if (!stderr || !(failure instanceof SluiceError)) throw failure;
      throw new SluiceError(failure.kind, failure.message, { details: failure.details, cause: new Error(`stderr: ${stderr}`, { cause: err }) });
    }
    return session;
  }

  /** The child's pid for stdio servers. */
  get pid(): number | undefined {
    return this.transport instanceof ProcessGroupStdioTransport ? this.transport.pid : undefined;
  }

  /** Whether requests can still be sent. */
  get usable(): boolean {
    return !this.closed && !this.closing;
  }

  /** Whether the upstream announced the capability behind a list. */
  supports(kind: ListKind): boolean {
    return this.client.getServerCapabilities()?.[CAPABILITY[kind]] !== undefined;
  }

  /** Whether the upstream announced `completions`. */
  get supportsCompletions(): boolean {
    return this.client.getServerCapabilities()?.completions !== undefined;
  }

  /**
   * Sends one request, bounded by the server's timeout and `signal` (the
   * client's cancellation). `what` names the call in error messages.
   */
  async request<T extends AnySchema>(
    request: ClientRequest,
    schema: T,
    what: string,
    options: { signal?: AbortSignal; onprogress?: ProgressCallback } = {},
  ): Promise<SchemaOutput<T>> {
    const deadline = AbortSignal.timeout(this.server.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const token = options.onprogress ? `sluice-${++this.progressTokens}` : undefined;
    if (token && options.onprogress) {
      this.progress.set(token, options.onprogress);
      // Spreading a member of the ClientRequest union widens it; the method and params stay as given.
      request = { ...request, params: { ...request.params, _meta: { ...request.params?._meta, progressToken: token } } } as ClientRequest;
    }
    this.inflight++;
    this.lastUsed = Date.now();
    try {
      return await this.client.request(request, schema, { signal, timeout: this.server.timeoutMs });
    } catch (err) {
      if (options.signal?.aborted && !deadline.aborted) throw err;
      throw this.failure(err, what, deadline.aborted);
    } finally {
      this.inflight--;
      this.lastUsed = Date.now();
      if (token) setImmediate(() => this.progress.delete(token));
    }
  }

  /**
   * The upstream's full list of `kind` (which it must support), from the
   * cache when younger than `maxAgeMs` (default `listCacheMs`).
   */
  async list<K extends ListKind>(kind: K, signal: AbortSignal | undefined, maxAgeMs = this.listCacheMs): Promise<UpstreamLists[K]> {
    const hit = this.cache.get(kind);
    if (hit && Date.now() - hit.at <= maxAgeMs) return hit.items as UpstreamLists[K];
    let pending = this.pending.get(kind) as Promise<UpstreamLists[K]> | undefined;
    if (!pending) {
      const fetching = this.fetchAll(kind).finally(() => {
        if (this.pending.get(kind) === fetching) this.pending.delete(kind);
      });
      this.pending.set(kind, fetching);
      pending = fetching;
    }
    return abortable(pending, signal);
  }

  /** Ends the session: HTTP upstreams are told (DELETE), a stdio child is stopped. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.transport instanceof StreamableHTTPClientTransport && this.transport.sessionId && !this.closed) {
        await abortable(this.transport.terminateSession(), AbortSignal.timeout(TERMINATE_WAIT_MS)).catch(() => {});
      }
      await this.client.close().catch(() => {});
      this.closed = true;
    })();
    return this.closing;
  }

  private invalidate(kind: ListKind): void {
    this.generation[kind]++;
    this.cache.delete(kind);
    this.pending.delete(kind);
  }

  private async fetchAll<K extends ListKind>(kind: K): Promise<UpstreamLists[K]> {
    const generation = this.generation[kind];
    const deadline = AbortSignal.timeout(this.server.timeoutMs);
    const items: UpstreamLists[K][number][] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    this.inflight++;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const result: Page<K> = await this.pager[kind](cursor, deadline, this.server.timeoutMs);
        items.push(...result.items);
        // A cursor seen before would loop forever.
        if (result.nextCursor === undefined || seen.has(result.nextCursor)) break;
        seen.add(result.nextCursor);
        cursor = result.nextCursor;
      }
    } catch (err) {
      throw this.failure(err, `${kind === 'resourceTemplates' ? 'resources/templates' : kind}/list`, deadline.aborted);
    } finally {
      this.inflight--;
      this.lastUsed = Date.now();
    }
    const list = items as UpstreamLists[K];
    if (this.generation[kind] === generation) this.cache.set(kind, { at: Date.now(), items: list });
    return list;
  }

  /** Classifies a failure of `what`. */
  failure(err: unknown, what: string, timedOut: boolean): SluiceError | RpcError {
    const server = this.server;
    if (err instanceof SluiceError || err instanceof RpcError) return err;
    if (timedOut || (err instanceof McpError && err.code === ErrorCode.RequestTimeout)) {
      return new SluiceError('deadline_exceeded', `MCP server "${server.name}" did not answer ${what} within ${server.timeoutMs} ms`, {
        cause: err,
        details: { code: 'upstream_timeout' },
      });
    }
    if (err instanceof StreamableHTTPError) {
      if (err.code === 404) return unavailable(server, 'no longer knows this session', 'upstream_session_lost', err);
      if (err.code === 401 || err.code === 403) return unavailable(server, `rejected the gateway's credentials (HTTP ${err.code})`, 'upstream_rejected_credentials', err);
      return unavailable(server, `answered ${what} with HTTP ${err.code ?? 'error'}`, 'upstream_http_error', err);
    }
    // The SDK validates results with zod and rejects with its error when an upstream's answer has the wrong shape.
    if (err instanceof Error && /ZodError$/.test(err.name)) return unavailable(server, `returned an invalid ${what} result`, 'upstream_invalid_response', err);
    // The SDK rejects pending requests with ConnectionClosed when the transport ends.
    if (this.closed || !(err instanceof McpError)) {
      const exited = this.transport instanceof ProcessGroupStdioTransport && !this.transport.running;
      const detail = systemCode(err) ?? (exited ? 'its process exited' : 'connection failed');
      return unavailable(server, `is unavailable (${detail})`, 'upstream_unavailable', err);
    }
    return toRpcError(err);
  }
}

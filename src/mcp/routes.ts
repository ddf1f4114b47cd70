/**
 * The MCP endpoint: `/gateways/{gateway}/mcp` and `/mcp` (the API key's
 * default gateway), Streamable HTTP with sessions. POST carries JSON-RPC
 * messages, GET opens the session's notification stream, DELETE ends the
 * session. Every request is authenticated with a Sluice API key; a session is
 * only reachable with the key and on the gateway that opened it.
 *
 * Failures before a session exists are HTTP errors with a JSON-RPC error
 * body: 400 (bad JSON, no session), 401, 403, 404 (unknown gateway or
 * session), 413, 503 (session cap). Registered in its own encapsulated scope
 * (its error handler renders JSON-RPC), outside the Connect and tRPC scopes.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { SnapshotStore } from '../config/snapshot-store.js';
import type { Orm } from '../db/orm.js';
import { toSluiceError } from '../errors.js';
import type { McpCallSink } from '../observability/records.js';
import type { CounterStore } from '../policy/counters/index.js';
import { httpStatusOf } from '../proxy/envelopes.js';
import type { SecretBox } from '../security/secret-box.js';
import { authenticateMcp, type McpCaller } from './auth.js';
import type { ClientSession } from './client-sessions.js';
import { errorResponse, RpcCode, sluiceErrorResponse } from './errors.js';
import type { SandboxOptions } from './orchestrator/sandbox.js';
import { McpRuntime, type McpLimits } from './runtime.js';

/** What the MCP routes need. */
export interface McpRoutesOptions {
  /** The runtime snapshot (API keys, gateways, config version). */
  snapshots: Pick<SnapshotStore, 'current'>;
  /** Where MCP servers and gateway MCP settings are read from on each config change. */
  orm: Orm;
  /** Opens the stored stdio environments and static upstream secrets. */
  secrets: SecretBox;
  limits?: Partial<McpLimits>;
  /** The process's rate-limit counter store (memory or Redis), for `mcp.rate_limits`. */
  counters?: CounterStore;
  /** Receives one `McpCallRecord` per `tools/call` and per tool call an orchestrator workflow makes. */
  onCall?: McpCallSink;
  /** Orchestrator sandbox settings. */
  sandbox?: Partial<SandboxOptions>;
}

/** The client header choosing deferred loading for a session (read at `initialize`). */
export const DEFERRED_HEADER = 'x-sluice-mcp-deferred';

/** `true`/`1`/`yes` → true, `false`/`0`/`no` → false, anything else → the gateway default. */
function deferredChoice(value: string | string[] | undefined): boolean | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  return undefined;
}

type Params = { gateway?: string };
type RpcId = string | number | null;

function rpcIdOf(body: unknown): RpcId {
  const id = body && typeof body === 'object' && !Array.isArray(body) ? (body as { id?: unknown }).id : undefined;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}

/**
 * Registers the MCP routes and returns the runtime behind them, which is
 * closed when `app` closes: client sessions end first (so the HTTP server can
 * close), then upstream sessions and stdio children.
 */
export async function registerMcpRoutes(app: FastifyInstance, opts: McpRoutesOptions): Promise<McpRuntime> {
  const runtime = new McpRuntime({
    orm: opts.orm,
    secrets: opts.secrets,
    logger: app.log,
    limits: opts.limits,
    ...(opts.counters ? { counters: opts.counters } : {}),
    ...(opts.onCall ? { onCall: opts.onCall } : {}),
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
  });
  // Client sessions hold SSE responses open, and the HTTP server only closes once they end: end them
  // before it closes (preClose), and the upstream sessions after the last request finished (onClose).
  app.addHook('preClose', async () => runtime.sessions.closeAll());
  app.addHook('onClose', async () => runtime.close());

  /** Hands the request to a session transport; the transport writes the response. */
  async function serve(req: FastifyRequest, reply: FastifyReply, transport: StreamableHTTPServerTransport, session?: ClientSession): Promise<void> {
    reply.hijack();
    if (session) {
      session.open++;
      reply.raw.once('close', () => {
        session.open--;
        session.lastSeen = Date.now();
      });
    }
    try {
      await transport.handleRequest(req.raw, reply.raw, req.body);
    } catch (err) {
      req.log.error({ err }, 'mcp transport failed');
      if (reply.raw.headersSent) reply.raw.destroy();
      else {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify(errorResponse(rpcIdOf(req.body), RpcCode.internal, 'internal error', { kind: 'internal' })));
      }
    }
  }

  async function handle(req: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<void> {
    const id = rpcIdOf(req.body);
    const snapshot = opts.snapshots.current;
    let caller: McpCaller;
    try {
      caller = authenticateMcp(snapshot, req.method, req.url.split('?')[0] ?? req.url, req.headers, req.params.gateway);
      await runtime.gateway(snapshot.version, caller.gateway.id);
    } catch (thrown) {
      const err = toSluiceError(thrown);
      if (err.kind === 'internal' || err.kind === 'unavailable') req.log.error({ err: err.cause ?? err }, 'mcp request rejected');
      if (err.kind === 'unauthenticated') void reply.header('www-authenticate', 'Bearer realm="sluice"');
      return reply.code(httpStatusOf(err)).send(sluiceErrorResponse(id, err));
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string' && sessionId) {
      const session = runtime.sessions.get(sessionId);
      if (!session || session.keyId !== caller.key.id || session.gatewayId !== caller.gateway.id) {
        return reply.code(404).send(errorResponse(id, RpcCode.sessionNotFound, 'Session not found', { kind: 'not_found', code: 'session_not_found' }));
      }
      session.identity.current = { key: caller.key, gateway: caller.gateway };
      return serve(req, reply, session.transport, session);
    }
    if (req.method !== 'POST' || !isInitialize(req.body)) {
      return reply
        .code(400)
        .send(errorResponse(id, RpcCode.serverError, 'Bad Request: no Mcp-Session-Id; open a session with initialize first', { kind: 'invalid_argument', code: 'session_required' }));
    }
    if (!(await runtime.sessions.admit(caller.key.id))) {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send(errorResponse(id, RpcCode.serverError, 'too many MCP sessions; retry later', { kind: 'resource_exhausted', code: 'too_many_sessions' }));
    }
    const deferred = deferredChoice(req.headers[DEFERRED_HEADER]);
    const transport = await runtime.openSession({
      keyId: caller.key.id,
      gatewayId: caller.gateway.id,
      secret: caller.secret,
      identity: { key: caller.key, gateway: caller.gateway },
      ...(deferred !== undefined ? { deferred } : {}),
    });
    await serve(req, reply, transport);
    // The transport refused the initialize (e.g. a wrong Accept header): nothing was registered.
    if (!transport.sessionId) await transport.close();
  }

  await app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError, req, reply) => {
      // Body parsing failures (invalid JSON, too large, wrong media type) land here, before the handler.
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) req.log.error({ err: error }, 'mcp route failed');
      const [code, kind, machine] =
        status === 400 ? [RpcCode.parseError, 'invalid_argument', 'invalid_json'] : status === 500 ? [RpcCode.internal, 'internal', 'internal'] : [RpcCode.invalidRequest, 'invalid_argument', status === 413 ? 'request_too_large' : 'invalid_request'];
      void reply.code(status).send(errorResponse(null, code, status === 500 ? 'internal error' : error.message, { kind, code: machine }));
    });
    for (const url of ['/mcp', '/gateways/:gateway/mcp']) {
      scope.route<{ Params: Params }>({ method: ['GET', 'POST', 'DELETE'], url, bodyLimit: runtime.limits.bodyLimit, handler: handle });
    }
  });
  return runtime;
}

/**
 * The MCP server one client session talks to: the SDK's `Server` (which does
 * `initialize` with version negotiation, `ping`, cancellation and the
 * initialized notification) with handlers that delegate to a `GatewayView`
 * built per request from the gateway's current config, so config changes
 * reach open sessions at once.
 *
 * Lists are returned whole (no `nextCursor`), so any cursor is refused.
 * Task-augmented requests are refused: the gateway does not announce tasks.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  type Progress,
  type ProgressToken,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { GatewayMcp } from './config.js';
import { RpcCode, RpcError, toRpcError } from './errors.js';
import { GatewayView, type CallOptions, type SeenUris, type ViewServices } from './aggregate.js';
import type { McpIdentity } from './governance.js';
import type { McpLogger, UpstreamPool } from './pool.js';

/** What a session server needs. */
export interface SessionServerDeps {
  pool: UpstreamPool;
  logger: McpLogger;
  /** The gateway's MCP config as of now. */
  gateway: () => GatewayMcp;
  /** The caller's credential (for servers with `forward` auth). */
  token: string;
  seenUris: SeenUris;
  /** The caller as of the current request (the routes refresh it from each request's snapshot). */
  identity: () => McpIdentity;
  /** The session's `x-sluice-mcp-deferred` choice, if the client sent one at initialize. */
  deferred?: boolean;
  services: ViewServices;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** What the gateway announces. */
const SERVER_INFO = { name: 'sluice', title: 'Sluice MCP gateway', version: '0.1.0' };

function noCursor(params: { cursor?: string } | undefined): void {
  if (params?.cursor !== undefined) throw new RpcError(RpcCode.invalidParams, 'Invalid cursor: this server returns complete lists', { kind: 'invalid_argument', code: 'invalid_cursor' });
}

function noTask(params: { task?: unknown }): void {
  if (params.task !== undefined) throw new RpcError(RpcCode.invalidParams, 'Task-augmented requests are not supported by this server', { kind: 'invalid_argument', code: 'tasks_unsupported' });
}

/**
 * The request's cancellation, plus a progress relay when the client sent a
 * progress token. `settled` resolves once every relayed notification is
 * written: the result must not overtake the last progress on the stream.
 */
function callOptions(extra: Extra, progressToken: ProgressToken | undefined): { options: CallOptions; settled: () => Promise<void> } {
  if (progressToken === undefined) return { options: { signal: extra.signal }, settled: async () => {} };
  const sent: Promise<void>[] = [];
  const progress = (p: Progress) => {
    sent.push(extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken } }).catch(() => {}));
  };
  return { options: { signal: extra.signal, progress }, settled: async () => void (await Promise.all(sent)) };
}

/** Creates the server for one client session; connect it to the session's transport. */
export function createSessionServer(deps: SessionServerDeps): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true }, completions: {} },
  });
  const view = () =>
    new GatewayView(
      deps.pool,
      { gateway: deps.gateway(), token: deps.token, seenUris: deps.seenUris, identity: deps.identity(), ...(deps.deferred !== undefined ? { deferred: deps.deferred } : {}) },
      deps.logger,
      deps.services,
    );
  // Everything a handler throws becomes a JSON-RPC error without internal detail.
  const guard =
    <R, T>(fn: (request: R, extra: Extra) => Promise<T>) =>
    async (request: R, extra: Extra): Promise<T> => {
      try {
        return await fn(request, extra);
      } catch (err) {
        const rpc = toRpcError(err);
        if (rpc.code === RpcCode.internal && !(err instanceof RpcError)) deps.logger.error({ err }, 'mcp handler failed');
        throw rpc;
      }
    };

  server.setRequestHandler(
    ListToolsRequestSchema,
    guard(async (req, extra) => {
      noCursor(req.params);
      return view().listTools(extra.signal);
    }),
  );
  server.setRequestHandler(
    CallToolRequestSchema,
    guard(async (req, extra) => {
      noTask(req.params);
      const { options, settled } = callOptions(extra, req.params._meta?.progressToken);
      const result = await view().callTool(req.params, options);
      await settled();
      return result;
    }),
  );
  server.setRequestHandler(
    ListPromptsRequestSchema,
    guard(async (req, extra) => {
      noCursor(req.params);
      return view().listPrompts(extra.signal);
    }),
  );
  server.setRequestHandler(
    GetPromptRequestSchema,
    guard(async (req, extra) => view().getPrompt(req.params, { signal: extra.signal })),
  );
  server.setRequestHandler(
    ListResourcesRequestSchema,
    guard(async (req, extra) => {
      noCursor(req.params);
      return view().listResources(extra.signal);
    }),
  );
  server.setRequestHandler(
    ListResourceTemplatesRequestSchema,
    guard(async (req, extra) => {
      noCursor(req.params);
      return view().listResourceTemplates(extra.signal);
    }),
  );
  server.setRequestHandler(
    ReadResourceRequestSchema,
    guard(async (req, extra) => view().readResource(req.params, { signal: extra.signal })),
  );
  server.setRequestHandler(
    CompleteRequestSchema,
    guard(async (req, extra) => view().complete(req.params, { signal: extra.signal })),
  );
  return server;
}

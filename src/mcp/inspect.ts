/**
 * The control plane's look at one upstream's tools: connect now, list the
 * tools, close, and say how the gateway would expose each one (namespaced
 * name, blocked, deferred). Used by `McpServerService.ListMcpServerTools`.
 *
 * It opens its own short-lived `UpstreamSession` (the same client, transports,
 * timeouts and error classes as the data plane) instead of going through the
 * runtime's pool: an inspected server may be unapproved or disabled, and
 * nothing an operator inspects may change what MCP clients see (no pooled
 * session, no backoff state, no list cache is touched). The cost is one
 * connect per call.
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { SluiceError } from '../errors.js';
import { codeOf } from './aggregate.js';
import { createToolBlocker } from './blocked.js';
import { isDeferred, type UpstreamServer } from './config.js';
import { RpcError } from './errors.js';
import { exposedName } from './naming.js';
import { abortable, UpstreamSession } from './upstream.js';

/** The gateway settings that decide how a server's tools are exposed. */
export interface InspectedGateway {
  /** The gateway's `mcp.blocked_tools` (`server:tool` patterns). */
  blockedTools: readonly string[];
  /** The gateway's `mcp.defer_loading` default. */
  deferLoading: boolean;
}

/** One upstream tool and how the gateway exposes it. */
export interface InspectedTool {
  upstreamName: string;
  /** `<server>__<tool>`; empty when `skipReason` is set (invalid names have none). */
  namespacedName: string;
  /** Why the tool is not exposed at all, when it is not. */
  skipReason?: 'invalid_name' | 'duplicate_name';
  title?: string;
  description?: string;
  inputSchema: Tool['inputSchema'];
  blocked: boolean;
  deferred: boolean;
}

/** Whether the upstream answered, and if not, the error code and message a list's `_meta` would carry. */
export type InspectionStatus = { reachable: true; ms: number } | { reachable: false; code: string; message: string; ms: number };

/** The outcome of one inspection; `tools` is empty when the upstream was not reachable. */
export interface ToolInspection {
  status: InspectionStatus;
  tools: InspectedTool[];
}

/** No list-changed notifications matter to a session that lives for one listing. */
const NO_HOOKS = { onListChanged() {}, onClosed() {} };

/**
 * Lists `server`'s tools within `server.timeoutMs` (connect, initialise and
 * every page together). Upstream failures become an unreachable status,
 * never an exception; only `signal` (the caller giving up) rejects. Servers
 * with `forward` auth are asked without a credential: the control plane's
 * token is never sent upstream.
 */
export async function inspectTools(server: UpstreamServer, gateway: InspectedGateway, signal?: AbortSignal): Promise<ToolInspection> {
  const started = Date.now();
  const deadline = AbortSignal.timeout(server.timeoutMs);
  const bounded = signal ? AbortSignal.any([signal, deadline]) : deadline;
  const opening = UpstreamSession.open(server, undefined, 0, NO_HOOKS);
  let tools: Tool[];
  try {
    const session = await abortable(opening, bounded);
    tools = session.supports('tools') ? await session.list('tools', bounded, 0) : [];
  } catch (err) {
    if (signal?.aborted) throw err;
    const failure = deadline.aborted
      ? new SluiceError('deadline_exceeded', `MCP server "${server.name}" did not answer within ${server.timeoutMs} ms`, { cause: err, details: { code: 'upstream_timeout' } })
      : err instanceof SluiceError || err instanceof RpcError
        ? err
        : new SluiceError('internal', 'internal error', { cause: err });
    if (failure instanceof SluiceError && failure.kind === 'internal') throw failure;
    return { status: { reachable: false, code: codeOf(failure), message: failure.message, ms: Date.now() - started }, tools: [] };
  } finally {
    // A connect that outlived the deadline still yields a session (or a child) to end.
    opening.then((session) => session.close(), () => {});
  }
  return { status: { reachable: true, ms: Date.now() - started }, tools: exposeTools(server, gateway, tools) };
}

/**
 * The tools as the aggregated `tools/list` would name them: blocked tools are
 * left out before names are taken (so they never cause a `duplicate_name`),
 * and the first of two tools mapping to one name wins.
 */
export function exposeTools(server: UpstreamServer, gateway: InspectedGateway, tools: readonly Tool[]): InspectedTool[] {
  const isBlocked = createToolBlocker(gateway.blockedTools);
  const deferred = isDeferred(server.deferLoading, gateway.deferLoading);
  const taken = new Set<string>();
  return tools.map((tool) => {
    const blocked = isBlocked(server, tool.name);
    const exposed = exposedName(server.name, tool.name);
    const base = {
      upstreamName: tool.name,
      ...(tool.title ? { title: tool.title } : {}),
      ...(tool.description ? { description: tool.description } : {}),
      inputSchema: tool.inputSchema,
      blocked,
      deferred,
    };
    if (!exposed.ok) return { ...base, namespacedName: '', skipReason: exposed.reason };
    if (!blocked) {
      if (taken.has(exposed.name)) return { ...base, namespacedName: '', skipReason: 'duplicate_name' as const };
      taken.add(exposed.name);
    }
    return { ...base, namespacedName: exposed.name };
  });
}

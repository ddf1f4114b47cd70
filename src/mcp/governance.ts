/**
 * Governance of MCP tool calls, applied to every `tools/call` and to every
 * tool call an orchestrator workflow makes:
 *
 * - **authorization**: the gateway's `mcp.authorization` CEL rule over `key`
 *   (id, name, metadata), `tool` (server, name: the server's slug and the
 *   tool's own name), `gateway` and `workspace`; compiled once per config
 *   change (config.ts). False, an evaluation error, or a stored rule that no
 *   longer compiles refuses the call (`-32003`, `tool_unauthorized`); tools
 *   the rule refuses are also left out of lists and searches.
 * - **rate limits**: the gateway's `mcp.rate_limits`, one counter per
 *   gateway or per API key in the shared counter store (memory or Redis);
 *   a call over a limit is refused (`-32000`, `mcp_rate_limited`, with
 *   `retryAfterMs`); an unreachable store follows the limit's
 *   `on_store_failure`.
 * - **records**: one `McpCallRecord` per call to the `onCall` sink, with
 *   latency and status; input and output only when the gateway records
 *   bodies.
 */
import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { RuntimeApiKey, RuntimeGateway } from '../config/snapshot.js';
import { SluiceError } from '../errors.js';
import type { McpCallRecord, McpCallSink } from '../observability/records.js';
import { decideOnStoreError, type CounterStore } from '../policy/counters/index.js';
import type { GatewayMcp } from './config.js';
import { RpcCode, rpcError, RpcError } from './errors.js';
import type { McpLogger } from './pool.js';

/** The server name of the gateway's own tools in records and authorization rules. */
export const GATEWAY_SERVER = 'sluice';

/** Who calls, as the runtime snapshot knows them. */
export interface McpIdentity {
  key: RuntimeApiKey;
  gateway: RuntimeGateway;
}

/** What governance needs from the process. */
export interface GovernanceDeps {
  /** Where MCP rate-limit counters live; without one, rate limits are not enforced (and that is logged once). */
  counters?: CounterStore;
  onCall?: McpCallSink;
  logger: McpLogger;
}

/** One call being governed. */
export interface GovernedCall {
  server: string;
  tool: string;
  input: unknown;
  /** Set for calls an orchestrator workflow makes. */
  parentId?: string;
}

function statusOf(err: unknown): McpCallRecord['status'] {
  if (err instanceof SluiceError && err.kind === 'deadline_exceeded') return 'timeout';
  const data = err instanceof RpcError ? (err.data as { code?: unknown; kind?: unknown } | undefined) : undefined;
  if (err instanceof RpcError && (err.code === RpcCode.timeout || data?.code === 'upstream_timeout')) return 'timeout';
  if (err instanceof RpcError && (err.code === RpcCode.forbidden || data?.code === 'mcp_rate_limited')) return 'refused';
  return 'error';
}

/** See the module comment. */
export class Governor {
  private warnedNoCounters = false;

  constructor(private readonly deps: GovernanceDeps) {}

  /** Why the rule refuses `tool` of `server`, or undefined when it is allowed. */
  refusal(gw: GatewayMcp, who: McpIdentity, server: string, tool: string): string | undefined {
    if (gw.authorizationProblem) return gw.authorizationProblem;
    if (!gw.authorization) return undefined;
    const result = gw.authorization.evaluate({
      key: { id: who.key.id, name: who.key.name, metadata: who.key.metadata },
      tool: { server, name: tool },
      gateway: { name: who.gateway.name },
      workspace: { name: who.gateway.workspace.name },
    });
    if (!result.ok) return `mcp.authorization failed: ${result.error}`;
    return result.value ? undefined : 'refused by the gateway\'s mcp.authorization rule';
  }

  /** Whether the rule lets the caller see and call `tool` (for lists and search). */
  allows(gw: GatewayMcp, who: McpIdentity, server: string, tool: string): boolean {
    return this.refusal(gw, who, server, tool) === undefined;
  }

  /**
   * Runs `fn` under the rules: refuses unauthorised or rate-limited calls,
   * and records the call's outcome whatever it is. `fn` receives the call's
   * record id (the parent id of calls an orchestrator makes).
   */
  async run(gw: GatewayMcp, who: McpIdentity, call: GovernedCall, fn: (id: string) => Promise<CallToolResult>): Promise<CallToolResult> {
    const id = randomUUID();
    const startedAt = Date.now();
    try {
      const refused = this.refusal(gw, who, call.server, call.tool);
      if (refused) {
        throw rpcError(RpcCode.forbidden, 'permission_denied', `tool "${call.tool}" of "${call.server}" is not allowed for this key: ${refused}`, { code: 'tool_unauthorized' });
      }
      await this.admit(gw, who);
      const result = await fn(id);
      this.record({ id, startedAt, who, call, status: result.isError ? 'error' : 'ok', output: result, ...(result.isError ? { errorMessage: firstText(result) } : {}) });
      return result;
    } catch (err) {
      this.record({ id, startedAt, who, call, status: statusOf(err), errorMessage: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  }

  /** Records a call that failed before it could be governed (unknown or blocked tool, upstream list unavailable). */
  recordFailure(who: McpIdentity, call: GovernedCall, err: unknown): void {
    this.record({ id: randomUUID(), startedAt: Date.now(), who, call, status: statusOf(err), errorMessage: err instanceof Error ? err.message : String(err) });
  }

  /** Charges one call against every rate limit of the gateway; throws when one is exhausted. */
  private async admit(gw: GatewayMcp, who: McpIdentity): Promise<void> {
    if (!gw.rateLimits.length) return;
    const store = this.deps.counters;
    if (!store) {
      if (!this.warnedNoCounters) this.deps.logger.warn('mcp rate limits are configured but no counter store was given; they are not enforced');
      this.warnedNoCounters = true;
      return;
    }
    const checks = gw.rateLimits.map((l) => ({ key: `mcp:${gw.gatewayId}:${l.id}:${l.scope === 'key' ? who.key.id : 'gateway'}`, windowMs: l.windowMs, limit: l.limit, burst: 0, cost: 1 }));
    let result;
    try {
      result = await store.checkRates(checks);
    } catch (err) {
      // The strictest setting wins: one fail_closed limit rejects when the store cannot answer.
      const mode = gw.rateLimits.some((l) => l.onStoreFailure === 'fail_closed') ? 'fail_closed' : 'fail_open';
      const decision = decideOnStoreError(mode, err);
      this.deps.logger.warn({ err: decision.error.cause ?? decision.error }, 'mcp rate limit: counter store unavailable');
      if (decision.admit) return;
      throw rpcError(RpcCode.serverError, 'unavailable', decision.error.message, { code: 'counter_store_unavailable' });
    }
    if (result.allowed) return;
    const waits = result.decisions.filter((d) => !d.fits).map((d) => d.retryAfterMs ?? 0);
    const retryAfterMs = Math.max(0, ...waits);
    throw rpcError(RpcCode.serverError, 'resource_exhausted', `MCP rate limit reached for this ${gw.rateLimits.some((l, i) => l.scope === 'key' && !result.decisions[i]!.fits) ? 'API key' : 'gateway'}; retry in ${Math.ceil(retryAfterMs / 1000)} s`, {
      code: 'mcp_rate_limited',
      retryAfterMs,
    });
  }

  private record(r: { id: string; startedAt: number; who: McpIdentity; call: GovernedCall; status: McpCallRecord['status']; errorMessage?: string; output?: unknown }): void {
    const sink = this.deps.onCall;
    if (!sink) return;
    const bodies = r.who.gateway.recordBodies;
    const record: McpCallRecord = {
      id: r.id,
      startedAt: r.startedAt,
      workspaceId: r.who.gateway.workspace.id,
      gateway: r.who.gateway.name,
      apiKeyId: r.who.key.id,
      server: r.call.server,
      tool: r.call.tool,
      latencyMs: Date.now() - r.startedAt,
      status: r.status,
      ...(r.errorMessage !== undefined ? { errorMessage: r.errorMessage } : {}),
      ...(bodies ? { input: r.call.input, ...(r.output !== undefined ? { output: r.output } : {}) } : {}),
      ...(r.call.parentId ? { parentId: r.call.parentId } : {}),
    };
    try {
      sink(record);
    } catch (err) {
      this.deps.logger.error({ err }, 'mcp call sink failed');
    }
  }
}

function firstText(result: CallToolResult): string {
  const block = result.content.find((b) => b.type === 'text');
  return block && block.type === 'text' ? block.text.slice(0, 500) : 'the tool reported an error';
}

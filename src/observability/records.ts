/**
 * The records the data plane hands to the observability plane. The proxy
 * settles a `ProxyContext` (see src/policy/context.ts) into the request log;
 * the MCP gateway emits one `McpCallRecord` per tool call. Producers call the
 * sink synchronously and never wait: sinks must queue, not write.
 */

/** One MCP tool call through the gateway (`tools/call`, or a call made by the orchestrator). */
export interface McpCallRecord {
  /** Unique id (UUID). */
  id: string;
  /** Epoch milliseconds when the call started. */
  startedAt: number;
  workspaceId: string;
  gateway: string;
  apiKeyId: string;
  /** The upstream server's id; `sluice` for the gateway's own tools (search_tools, orchestrator). */
  server: string;
  /** The tool's name on its server (not the namespaced name). */
  tool: string;
  latencyMs: number;
  status: 'ok' | 'error' | 'refused' | 'timeout';
  errorMessage?: string;
  /** The call's arguments, when recording is enabled for the gateway. */
  input?: unknown;
  /** The tool result, when recording is enabled for the gateway. */
  output?: unknown;
  /** Set when the orchestrator made the call: the id of its own call record. */
  parentId?: string;
}

/** Receives MCP call records; must not throw or block. */
export type McpCallSink = (record: McpCallRecord) => void;

/**
 * The records the log pipeline carries, in a plain JSON shape: they are
 * queued in memory, spilled to disk as JSON lines during a database outage
 * and inserted in batches. Times are epoch milliseconds, money is a decimal
 * string of nano-dollars (no bigint in JSON), headers and bodies are JSON
 * text (null unless recorded).
 */
import type { AttemptDoc, LimitOutcomeDoc } from '../../db/entities.js';

/** One data-plane request (the columns of `request_logs`). */
export interface RequestLogDoc {
  id: string;
  time: number;
  workspaceId: string;
  gateway: string;
  apiKeyId: string;
  apiKeyPrefix: string;
  endpoint: string;
  requestedModel: string;
  provider: string;
  model: string;
  route: string;
  celResults: Record<string, string>;
  attempts: AttemptDoc[];
  status: number;
  errorCode: string;
  errorMessage: string;
  rejectedStage: string;
  latencyMs: number;
  ttftMs: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  cacheWriteTokens: number;
  costNanos: string;
  rateLimits: LimitOutcomeDoc[];
  spendLimits: LimitOutcomeDoc[];
  conversationId: string;
  streamed: boolean;
  clientAborted: boolean;
  bodiesTruncated: boolean;
  requestHeaders: string | null;
  responseHeaders: string | null;
  requestBody: string | null;
  responseBody: string | null;
  searchText: string | null;
}

/** One MCP tool call (the columns of `mcp_call_logs`). */
export interface McpCallLogDoc {
  id: string;
  time: number;
  workspaceId: string;
  gateway: string;
  apiKeyId: string;
  server: string;
  tool: string;
  latencyMs: number;
  status: string;
  errorMessage: string;
  input: string | null;
  output: string | null;
  parentId: string;
}

/** What the pipeline queues: a tagged record, in enqueue order. */
export type LogEntry = { t: 'request'; r: RequestLogDoc } | { t: 'mcp'; r: McpCallLogDoc };

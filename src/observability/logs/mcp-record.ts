/** The MCP call-log record of one `McpCallRecord` from the MCP gateway. */
import type { McpCallRecord } from '../records.js';
import { DEFAULT_MAX_RECORDED_BODY_CHARS } from './request-record.js';
import type { McpCallLogDoc } from './types.js';

function json(value: unknown, max: number): string | null {
  if (value === undefined) return null;
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'null';
  } catch {
    text = JSON.stringify(String(value));
  }
  // A cut document is kept as a JSON string so that it still parses.
  return text.length <= max ? text : JSON.stringify(text.slice(0, max));
}

export function mcpCallLogRecord(r: McpCallRecord, maxChars = DEFAULT_MAX_RECORDED_BODY_CHARS): McpCallLogDoc {
  return {
    id: r.id,
    time: r.startedAt,
    workspaceId: r.workspaceId,
    gateway: r.gateway,
    apiKeyId: r.apiKeyId,
    server: r.server.slice(0, 63),
    tool: r.tool.slice(0, 255),
    latencyMs: Math.max(0, Math.round(r.latencyMs)),
    status: r.status,
    errorMessage: r.errorMessage ?? '',
    input: json(r.input, maxChars),
    output: json(r.output, maxChars),
    parentId: r.parentId ?? '',
  };
}

/**
 * The gateway's own tools, listed instead of the deferred servers' tools
 * when deferred loading is on for a session: `search_tools` (find tool
 * definitions by BM25 or regex) and `orchestrator` (run a JavaScript
 * workflow that calls tools in the sandbox). Their names have no `__`, so
 * they can never collide with a namespaced upstream tool.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { GATEWAY_SERVER } from './governance.js';
import { MAX_PATTERN_LENGTH, MAX_RESULTS } from './search.js';

export const SEARCH_TOOLS = 'search_tools';
export const ORCHESTRATOR = 'orchestrator';
/** Hits `search_tools` returns when the caller does not say. */
export const DEFAULT_SEARCH_LIMIT = 5;

const META = { 'sluice/server': GATEWAY_SERVER };

/** The `search_tools` definition. */
export const SEARCH_TOOLS_TOOL: Tool = {
  name: SEARCH_TOOLS,
  description: 'Find tools not listed up front. Returns matching tool definitions with input schemas; then call a tool by its name or from orchestrator.',
  inputSchema: {
    type: 'object',
    properties: {
      query: { type: 'string', description: 'What the tool does (BM25 over names, descriptions, parameters), or a regex if mode is "regex".' },
      server: { type: 'string', description: 'Only this server (tool name prefix before "__").' },
      mode: { type: 'string', enum: ['bm25', 'regex'] },
      limit: { type: 'integer', minimum: 1, maximum: MAX_RESULTS, description: `Default ${DEFAULT_SEARCH_LIMIT}.` },
    },
    required: ['query'],
  },
  annotations: { title: 'Search tools', readOnlyHint: true, openWorldHint: false },
  _meta: META,
};

/** The `orchestrator` definition. */
export const ORCHESTRATOR_TOOL: Tool = {
  name: ORCHESTRATOR,
  description: [
    'Run JavaScript that calls several tools in one step and returns only what you need.',
    '`workflow` is an async function body (use await/return) with `context` in scope.',
    'Call tools as `await tools["<server>__<tool>"](args)`: resolves to the tool result `{content, structuredContent?, isError?}`, rejects (Error with `code`) when refused.',
    'The returned value, JSON-encoded, is the result. No filesystem, network, timers or imports; max 64 KiB source, 50 tool calls, 30 s.',
  ].join(' '),
  inputSchema: {
    type: 'object',
    properties: {
      workflow: { type: 'string', description: 'Async function body, e.g. `const r = await tools["memory__read_graph"]({}); return r.structuredContent;`' },
      context: { type: 'object', description: 'Available as `context`.' },
    },
    required: ['workflow'],
  },
  annotations: { title: 'Orchestrator', openWorldHint: true },
  _meta: META,
};

/** A tool result carrying `value` as JSON text (and as structured content when it is an object). */
export function jsonResult(value: unknown, json = JSON.stringify(value)): CallToolResult {
  const structured = value && typeof value === 'object' && !Array.isArray(value) ? { structuredContent: value as Record<string, unknown> } : {};
  return { content: [{ type: 'text', text: json }], ...structured };
}

/** A tool-level error (`isError`), which the model sees and can act on. */
export function toolError(message: string, code: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }], _meta: { 'sluice/error-code': code } };
}

/** Checks `search_tools` arguments; returns a message for bad input. */
export function searchArgs(args: Record<string, unknown> | undefined): { query: string; server?: string; mode: 'bm25' | 'regex'; limit: number } | string {
  const a = args ?? {};
  if (typeof a.query !== 'string' || !a.query.trim()) return 'query must be a non-empty string';
  if (a.server !== undefined && typeof a.server !== 'string') return 'server must be a string';
  if (a.mode !== undefined && a.mode !== 'bm25' && a.mode !== 'regex') return 'mode must be "bm25" or "regex"';
  const limit = a.limit === undefined ? DEFAULT_SEARCH_LIMIT : a.limit;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_RESULTS) return `limit must be an integer from 1 to ${MAX_RESULTS}`;
  if (a.mode === 'regex' && a.query.length > MAX_PATTERN_LENGTH) return `a regular expression may have at most ${MAX_PATTERN_LENGTH} characters`;
  return { query: a.query, ...(a.server ? { server: a.server } : {}), mode: a.mode === 'regex' ? 'regex' : 'bm25', limit };
}

/** Checks `orchestrator` arguments. */
export function orchestratorArgs(args: Record<string, unknown> | undefined): { workflow: string; context: Record<string, unknown> } | string {
  const a = args ?? {};
  if (typeof a.workflow !== 'string' || !a.workflow.trim()) return 'workflow must be a non-empty string (the body of an async function)';
  if (a.context !== undefined && (a.context === null || typeof a.context !== 'object' || Array.isArray(a.context))) return 'context must be an object';
  return { workflow: a.workflow, context: (a.context as Record<string, unknown> | undefined) ?? {} };
}

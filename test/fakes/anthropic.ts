/**
 * Anthropic Messages API.
 * https://docs.anthropic.com/en/api/messages
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming
 * https://docs.anthropic.com/en/api/errors
 */
import { isRecord } from './behaviour.js';
import { argumentPieces, planReply, textPieces, type Conversation, type ReplyPlan, type ToolChoice } from './conversation.js';
import {
  header,
  keyAccepted,
  namedEventSse,
  optionalCount,
  records,
  retryAfterHeader,
  stringList,
  type Answer,
  type AnswerContext,
  type Dialect,
  type ErrorSpec,
  type FakeRequest,
  type StreamEvent,
} from './dialect.js';

/**
 * Top-level request fields the API accepts (as in the pinned @anthropic-ai/sdk's
 * MessageCreateParams, plus beta fields); anything else is "Extra inputs are not permitted".
 */
const REQUEST_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'cache_control',
  'container',
  'diagnostics',
  'inference_geo',
  'metadata',
  'output_config',
  'service_tier',
  'speed',
  'stop_sequences',
  'stream',
  'system',
  'thinking',
  'tool_choice',
  'tools',
  'user_profile_id',
  'workspace_id',
  'temperature',
  'top_k',
  'top_p',
  'context_management',
  'mcp_servers',
  'output_format',
]);

/** API versions the `anthropic-version` header may name. https://docs.anthropic.com/en/api/versioning */
const VERSIONS = ['2023-01-01', '2023-06-01', '2026-10-21'];
const SAMPLING_FIELDS = ['temperature', 'top_k', 'top_p'];

const STATUS_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const STATUS_MESSAGES: Record<number, string> = {
  400: 'Invalid request',
  401: 'invalid x-api-key',
  402: 'Your credit balance is too low to access the Anthropic API.',
  403: 'Your API key does not have permission to use the specified resource.',
  404: 'Not Found',
  413: 'Request exceeds the maximum allowed number of bytes.',
  429: 'This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
  500: 'Internal server error',
  504: 'Request timed out',
  529: 'Overloaded',
};

function invalid(message: string): ErrorSpec {
  return { status: 400, message, type: 'invalid_request_error' };
}

function blocks(content: unknown): Record<string, unknown>[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : records(content);
}

function blockText(block: Record<string, unknown>): string {
  if (block.type === 'text' && typeof block.text === 'string') return block.text;
  if (block.type === 'tool_use') return JSON.stringify(block.input ?? {});
  if (block.type === 'tool_result') return blocks(block.content).map(blockText).join(' ');
  return '';
}

function validateMessages(request: FakeRequest): ErrorSpec | undefined {
  const version = header(request, 'anthropic-version');
  if (!version) return invalid('anthropic-version: header is required');
  if (!VERSIONS.includes(version)) return invalid(`anthropic-version: "${version}" is not a supported API version`);
  const body = request.body;
  if (!isRecord(body)) return invalid('Input should be a valid dictionary or object to extract fields from');
  // 2026-10-21 removed the sampling parameters: sending one is a 400, even at its default value.
  const removed = version === '2026-10-21' ? SAMPLING_FIELDS : [];
  const extra = Object.keys(body).find((key) => !REQUEST_FIELDS.has(key) || removed.includes(key));
  if (extra !== undefined) return invalid(`${extra}: Extra inputs are not permitted`);
  if (body.model === undefined) return invalid('model: Field required');
  if (typeof body.model !== 'string') return invalid('model: Input should be a valid string');
  if (body.max_tokens === undefined) return invalid('max_tokens: Field required');
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens)) return invalid('max_tokens: Input should be a valid integer');
  // max_tokens 0 only warms the prompt cache.
  if (body.max_tokens < 0) return invalid('max_tokens: Input should be greater than or equal to 0');
  if (body.messages === undefined) return invalid('messages: Field required');
  if (!Array.isArray(body.messages)) return invalid('messages: Input should be a valid list');
  if (body.messages.length === 0) return invalid('messages: at least one message is required');
  // Consecutive user or assistant messages form one turn (the API combines them); system messages sit between turns.
  let toolUses: { ids: string[]; at: number } = { ids: [], at: -1 };
  let answered = new Set<string>();
  let previousRole: unknown;
  const unanswered = (): ErrorSpec | undefined => {
    const missing = toolUses.ids.filter((id) => !answered.has(id));
    if (missing.length === 0) return undefined;
    return invalid(
      `messages.${toolUses.at}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
    );
  };
  for (const [i, message] of body.messages.entries()) {
    if (!isRecord(message)) return invalid(`messages.${i}: Input should be a valid dictionary or object to extract fields from`);
    const role = message.role;
    if (role !== 'user' && role !== 'assistant' && role !== 'system') return invalid(`messages.${i}.role: Input should be 'user', 'assistant' or 'system'`);
    if (message.content === undefined) return invalid(`messages.${i}.content: Field required`);
    if (role === 'system') continue;
    const content = blocks(message.content);
    if (role === 'assistant') {
      if (previousRole === 'user') {
        const problem = unanswered();
        if (problem) return problem;
        toolUses = { ids: [], at: -1 };
      }
      const ids = content.filter((block) => block.type === 'tool_use').map((block) => (typeof block.id === 'string' ? block.id : ''));
      if (ids.length > 0) toolUses = { ids: [...toolUses.ids, ...ids], at: i };
      answered = new Set();
    } else {
      for (const [j, block] of content.entries()) {
        if (block.type !== 'tool_result') continue;
        const id = typeof block.tool_use_id === 'string' ? block.tool_use_id : '';
        if (!toolUses.ids.includes(id)) {
          return invalid(
            `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
          );
        }
        answered.add(id);
      }
    }
    previousRole = role;
  }
  // A final assistant turn is a prefill; its tool_use blocks need no results yet.
  if (previousRole === 'user') {
    const problem = unanswered();
    if (problem) return problem;
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return invalid('tools: Input should be a valid list');
    for (const [i, tool] of body.tools.entries()) {
      if (!isRecord(tool)) return invalid(`tools.${i}: Input should be a valid dictionary or object to extract fields from`);
      // Server tools (web_search_…, bash_…) carry a versioned `type`; custom tools need a name and a schema.
      if (tool.type !== undefined && tool.type !== 'custom') continue;
      if (typeof tool.name !== 'string') return invalid(`tools.${i}.custom.name: Field required`);
      if (!isRecord(tool.input_schema)) return invalid(`tools.${i}.custom.input_schema: Field required`);
    }
  }
  return undefined;
}

function messagesConversation(body: Record<string, unknown>): Conversation {
  const messages = records(body.messages);
  const last = messages.filter((m) => m.role !== 'system').at(-1);
  const lastBlocks = blocks(last?.content);
  const results = lastBlocks.filter((block) => block.type === 'tool_result');
  const choice = body.tool_choice;
  let toolChoice: ToolChoice = { mode: 'auto' };
  if (isRecord(choice)) {
    if (choice.type === 'none') toolChoice = { mode: 'none' };
    else if (choice.type === 'any') toolChoice = { mode: 'required' };
    else if (choice.type === 'tool' && typeof choice.name === 'string') toolChoice = { mode: 'named', name: choice.name };
  }
  return {
    promptText: [...blocks(body.system).map(blockText), ...messages.flatMap((m) => blocks(m.content).map(blockText))],
    lastText: (results.length > 0 ? results : lastBlocks).map(blockText).join(' '),
    lastIsUser: last?.role === 'user' && results.length === 0,
    tools: records(body.tools).flatMap((tool) => (typeof tool.name === 'string' ? [tool.name] : [])),
    toolChoice,
    maxTokens: optionalCount(body.max_tokens),
    stop: stringList(body.stop_sequences),
  };
}

function stopReason(plan: ReplyPlan): string {
  if (plan.finishOverride !== undefined) return plan.finishOverride;
  return { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', stop_sequence: 'stop_sequence' }[plan.finish];
}

function usageOf(plan: ReplyPlan): Record<string, unknown> {
  const { usage } = plan;
  const cacheCreation = usage.cacheCreationTokens ?? 0;
  const thinking = usage.reasoningTokens ?? 0;
  return {
    // input_tokens excludes cache reads and writes; output_tokens includes thinking.
    input_tokens: usage.inputTokens ?? plan.promptTokens,
    cache_creation_input_tokens: cacheCreation,
    cache_read_input_tokens: usage.cachedTokens ?? 0,
    cache_creation: { ephemeral_5m_input_tokens: cacheCreation, ephemeral_1h_input_tokens: 0 },
    output_tokens: usage.outputTokens ?? plan.outputTokens + thinking,
    output_tokens_details: thinking > 0 ? { thinking_tokens: thinking } : null,
    server_tool_use: null,
    service_tier: 'standard',
    inference_geo: 'not_available',
  };
}

function argumentsObject(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

function messagesAnswer(body: Record<string, unknown>, context: AnswerContext): Answer {
  const plan = planReply(messagesConversation(body), context.reply, () => context.ids('toolu_'));
  const id = context.ids('msg_');
  const model = typeof body.model === 'string' ? body.model : '';
  const usage = usageOf(plan);
  const stopSequence = plan.finish === 'stop_sequence' ? plan.stopSequence : null;
  const textBlocks = plan.text !== '' || plan.toolCalls.length === 0 ? [plan.text] : [];
  if (body.stream !== true) {
    return {
      kind: 'json',
      body: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [
          ...textBlocks.map((text) => ({ type: 'text', text })),
          ...plan.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: argumentsObject(call.arguments) })),
        ],
        stop_reason: stopReason(plan),
        stop_sequence: stopSequence,
        stop_details: null,
        container: null,
        diagnostics: null,
        usage,
      },
    };
  }
  const events: StreamEvent[] = [];
  const emit = (data: Record<string, unknown> & { type: string }): void => {
    events.push({ event: data.type, data: JSON.stringify(data) });
  };
  emit({
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: { ...usage, output_tokens: 1, output_tokens_details: null },
    },
  });
  // The API sends its ping right after the first content_block_start.
  const ping = (): void => {
    if (!events.some((event) => event.event === 'ping')) emit({ type: 'ping' });
  };
  let index = 0;
  for (const text of textBlocks) {
    emit({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
    ping();
    for (const piece of textPieces(text)) emit({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
    emit({ type: 'content_block_stop', index });
    index += 1;
  }
  for (const call of plan.toolCalls) {
    emit({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } });
    ping();
    // Tool input streams as partial JSON, opened by an empty fragment.
    for (const piece of ['', ...argumentPieces(call.arguments)]) emit({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
    emit({ type: 'content_block_stop', index });
    index += 1;
  }
  // message_delta carries the final, cumulative usage.
  emit({
    type: 'message_delta',
    delta: { stop_reason: stopReason(plan), stop_sequence: stopSequence, stop_details: null, container: null },
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
      output_tokens_details: usage.output_tokens_details,
      server_tool_use: null,
    },
  });
  emit({ type: 'message_stop' });
  return { kind: 'stream', framing: namedEventSse, events };
}

function rateLimitHeaders(status: number, retryAfter: number | string | undefined): Record<string, string> {
  const limited = status === 429;
  const reset = new Date(Date.now() + (typeof retryAfter === 'number' ? retryAfter : 1) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const headers: Record<string, string> = {};
  for (const [kind, limit] of [
    ['requests', 4000],
    ['tokens', 2_000_000],
    ['input-tokens', 2_000_000],
    ['output-tokens', 400_000],
  ] as const) {
    headers[`anthropic-ratelimit-${kind}-limit`] = String(limit);
    headers[`anthropic-ratelimit-${kind}-remaining`] = limited ? '0' : String(limit - 1);
    headers[`anthropic-ratelimit-${kind}-reset`] = reset;
  }
  return headers;
}

/**
 * The Anthropic dialect: `POST /v1/messages` with `x-api-key` and
 * `anthropic-version`; the documented SSE event sequence; errors as
 * `{type:"error",error:{type,message},request_id}`.
 */
export function createAnthropicDialect(): Dialect {
  return {
    basePath: '/v1',
    route(request) {
      if (request.method !== 'POST' || request.path !== '/v1/messages') return undefined;
      const body = request.body;
      return {
        model: isRecord(body) && typeof body.model === 'string' ? body.model : undefined,
        validate: validateMessages,
        answer: (req, context) => messagesAnswer(isRecord(req.body) ? req.body : {}, context),
      };
    },
    authenticate(request, apiKeys) {
      // API version 2026-10-21 SDKs send the key as a Bearer token; x-api-key still works.
      const key = header(request, 'x-api-key') ?? /^Bearer\s+(.*)$/i.exec(header(request, 'authorization') ?? '')?.[1]?.trim();
      if (key === undefined) return { status: 401, message: 'x-api-key header is required', type: 'authentication_error' };
      return keyAccepted(key, apiKeys) ? undefined : { status: 401, message: 'invalid x-api-key', type: 'authentication_error' };
    },
    notFound: () => ({ status: 404, message: 'Not Found', type: 'not_found_error' }),
    invalidJson: () => invalid('There was an issue with the format or content of your request: the body is not valid JSON.'),
    statusError: (status) => ({
      status,
      message: STATUS_MESSAGES[status] ?? `Request failed with status ${status}`,
      type: STATUS_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
    }),
    midStreamStatus: 529,
    errorBody: (spec, requestId) => ({
      type: 'error',
      error: { type: spec.type ?? STATUS_TYPES[spec.status] ?? (spec.status >= 500 ? 'api_error' : 'invalid_request_error'), message: spec.message },
      request_id: requestId,
    }),
    streamError: (data) => ({ event: 'error', data }),
    jsonContentType: 'application/json',
    headers: ({ requestId, status, retryAfter }) => ({
      'request-id': requestId,
      'anthropic-organization-id': '00000000-0000-4000-8000-00000000fa4e',
      ...rateLimitHeaders(status, retryAfter),
      ...retryAfterHeader(retryAfter),
    }),
  };
}

/**
 * Anthropic Messages client (Claude Code, @anthropic-ai/sdk) → OpenAI-shaped
 * upstream (`/chat/completions`). Also the outer half of Messages → Gemini,
 * composed through the OpenAI lingua franca.
 *
 * Request: only the fields below are translated; Anthropic-only fields are
 * not sent, since OpenAI-shaped upstreams would reject them or misread them:
 * `top_k` (no OpenAI equivalent), `thinking` (OpenAI-shaped models reason
 * without a budget), `output_config.effort`, `cache_control` (OpenAI caches
 * prompts by itself), `service_tier`, `container`, `mcp_servers`,
 * `context_management`. Thinking blocks in the history are dropped with it.
 *
 * Text flattening: the top-level system prompt and each tool result become
 * one string (text blocks joined with a blank line), because many
 * OpenAI-compatible servers accept only string content there; user turns keep
 * their parts, as they may carry images.
 */
import { SluiceError } from '../../errors.js';
import type { SseEvent } from '../sse.js';
import type { Translator } from '../translator.js';
import { emptyUsage, type Usage } from '../usage.js';
import { SHARED_ERROR_TYPES } from './anthropic-messages__anthropic-messages.js';
import { isObject, openAIUpstreamError, parseJson, usageFromOpenAI, type OpenAIErrorObject, type OpenAIUsage } from './openai-chat__openai-chat.js';

// ---- Anthropic request, the fields read. https://docs.anthropic.com/en/api/messages

interface Block {
  type?: string;
  text?: string;
  source?: { type?: string; media_type?: string; data?: string; url?: string };
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
  is_error?: boolean;
}

interface MessageParam {
  role?: string;
  content?: unknown;
}

interface AnthropicTool {
  type?: string | null;
  name?: string;
  description?: string;
  input_schema?: Record<string, unknown>;
  strict?: boolean;
}

interface MessagesRequest {
  system?: unknown;
  messages?: unknown;
  tools?: unknown;
  tool_choice?: { type?: string; name?: string; disable_parallel_tool_use?: boolean } | null;
  max_tokens?: number | null;
  stop_sequences?: string[] | null;
  temperature?: number | null;
  top_p?: number | null;
  metadata?: { user_id?: string | null };
  output_config?: { format?: { type?: string; schema?: Record<string, unknown> } | null };
}

// ---- OpenAI request, the fields written. https://platform.openai.com/docs/api-reference/chat/create

type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

// ---- OpenAI response and stream, the fields read. https://platform.openai.com/docs/api-reference/chat-streaming

interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface ChatCompletion {
  id?: string;
  model?: string;
  choices?: { message?: { content?: string | null; refusal?: string | null; tool_calls?: WireToolCall[] }; finish_reason?: string | null }[];
  usage?: OpenAIUsage | null;
}

interface Chunk {
  id?: string;
  model?: string;
  choices?: { delta?: { content?: string | null; refusal?: string | null; tool_calls?: WireToolCall[] }; finish_reason?: string | null }[];
  usage?: OpenAIUsage | null;
  error?: OpenAIErrorObject;
}

const BLOCK_SEPARATOR = '\n\n';

/** https://platform.openai.com/docs/api-reference/chat/object#chat/object-choices → https://docs.anthropic.com/en/api/messages#response-stop-reason */
const STOP_REASONS: Readonly<Record<string, string>> = {
  // OpenAI does not say whether a stop sequence matched, so stop_sequence is never reported.
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

function invalid(field: string, description: string, reason = 'INVALID_FORMAT'): never {
  throw SluiceError.invalid([{ field, description, reason }]);
}

/** The elements of a request array, each an object, or an invalid_argument naming the field. */
function objects<T>(value: unknown, field: string): T[] {
  if (!Array.isArray(value)) return invalid(field, 'must be an array');
  value.forEach((v: unknown, i) => {
    if (!isObject(v)) invalid(`${field}[${i}]`, 'must be an object');
  });
  return value as T[];
}

/** A string, or the text of an array of text blocks joined with a blank line. */
function flatText(content: unknown, field: string): string {
  if (typeof content === 'string') return content;
  return objects<Block>(content, field)
    .map((block, j) => (block.type === 'text' && typeof block.text === 'string' ? block.text : invalid(`${field}[${j}]`, 'only text blocks are allowed here')))
    .join(BLOCK_SEPARATOR);
}

/** Base64 sources become data: URLs. https://docs.anthropic.com/en/docs/build-with-claude/vision */
function imagePart(block: Block, field: string): ContentPart {
  const source = block.source;
  if (source?.type === 'base64' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type ?? 'image/png'};base64,${source.data}` } };
  }
  if (source?.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  return invalid(`${field}.source`, 'only base64 and url image sources are supported on an OpenAI-shaped upstream', 'UNSUPPORTED');
}

function unsupported(block: Block, field: string): never {
  return invalid(`${field}.type`, `content block "${String(block.type)}" is not supported on an OpenAI-shaped upstream`, 'UNSUPPORTED');
}

/**
 * One user turn → a `tool` message per tool_result, in order, then a user
 * message with the remaining parts. OpenAI tool messages carry text only, so
 * images inside a tool result move to the front of that user message; a
 * result flagged `is_error` is prefixed "Error: ", OpenAI having no such flag.
 * https://platform.openai.com/docs/api-reference/chat/create#chat-create-messages
 */
function userMessages(content: unknown, field: string): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const tools: ChatMessage[] = [];
  const fromTools: ContentPart[] = [];
  const parts: ContentPart[] = [];
  objects<Block>(content, field).forEach((block, j) => {
    const at = `${field}[${j}]`;
    if (block.type === 'text' && typeof block.text === 'string') parts.push({ type: 'text', text: block.text });
    else if (block.type === 'image') parts.push(imagePart(block, at));
    else if (block.type === 'tool_result') {
      if (typeof block.tool_use_id !== 'string') invalid(`${at}.tool_use_id`, 'is required', 'REQUIRED');
      const texts: string[] = [];
      if (typeof block.content === 'string') texts.push(block.content);
      else if (block.content !== undefined) {
        objects<Block>(block.content, `${at}.content`).forEach((inner, k) => {
          if (inner.type === 'text' && typeof inner.text === 'string') texts.push(inner.text);
          else if (inner.type === 'image') fromTools.push(imagePart(inner, `${at}.content[${k}]`));
          else unsupported(inner, `${at}.content[${k}]`);
        });
      }
      const text = texts.join(BLOCK_SEPARATOR);
      tools.push({ role: 'tool', tool_call_id: block.tool_use_id, content: block.is_error === true ? `Error: ${text}` : text });
    } else unsupported(block, at);
  });
  const rest = [...fromTools, ...parts];
  return rest.length > 0 ? [...tools, { role: 'user', content: rest }] : tools;
}

function assistantMessage(content: unknown, field: string): ChatMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  const texts: string[] = [];
  const calls: ToolCall[] = [];
  objects<Block>(content, field).forEach((block, j) => {
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') invalid(`${field}[${j}]`, 'a tool_use block needs an id and a name', 'REQUIRED');
      calls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') unsupported(block, `${field}[${j}]`);
  });
  // Consecutive text blocks are one reply split (e.g. at citations), so they join without a separator.
  const text = texts.join('');
  return { role: 'assistant', content: text !== '' || calls.length === 0 ? text : null, ...(calls.length > 0 ? { tool_calls: calls } : {}) };
}

function convertMessages(system: unknown, messages: unknown): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (system != null) out.push({ role: 'system', content: flatText(system, 'system') });
  if (messages === undefined) return invalid('messages', 'is required', 'REQUIRED');
  objects<MessageParam>(messages, 'messages').forEach((message, i) => {
    const field = `messages[${i}].content`;
    if (message.role === 'user') out.push(...userMessages(message.content, field));
    else if (message.role === 'assistant') out.push(assistantMessage(message.content, field));
    else if (message.role === 'system') out.push({ role: 'system', content: flatText(message.content, field) });
    else invalid(`messages[${i}].role`, `role "${String(message.role)}" is not supported`, 'UNSUPPORTED');
  });
  return out;
}

function convertTools(tools: unknown): Record<string, unknown>[] {
  return objects<AnthropicTool>(tools, 'tools').map((tool, i) => {
    // Server tools (web search, code execution, bash…) run at Anthropic; an OpenAI-shaped upstream cannot run them.
    // https://docs.anthropic.com/en/api/messages#body-tools
    if ((tool.type != null && tool.type !== 'custom') || typeof tool.name !== 'string') {
      return invalid(`tools[${i}]`, 'only custom tools with a name are supported on an OpenAI-shaped upstream', 'UNSUPPORTED');
    }
    return {
      type: 'function',
      function: {
        name: tool.name,
        ...(tool.description !== undefined ? { description: tool.description } : {}),
        parameters: tool.input_schema ?? { type: 'object', properties: {} },
        ...(tool.strict === true ? { strict: true } : {}),
      },
    };
  });
}

/** https://docs.anthropic.com/en/api/messages#body-tool-choice → https://platform.openai.com/docs/api-reference/chat/create#chat-create-tool_choice */
function convertToolChoice(choice: MessagesRequest['tool_choice']): Record<string, unknown> {
  if (choice == null) return {};
  if (!isObject(choice)) return invalid('tool_choice', 'must be an object');
  const parallel = choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {};
  switch (choice.type) {
    case 'auto':
      return { tool_choice: 'auto', ...parallel };
    case 'any':
      return { tool_choice: 'required', ...parallel };
    case 'none':
      return { tool_choice: 'none' };
    case 'tool':
      if (typeof choice.name === 'string') return { tool_choice: { type: 'function', function: { name: choice.name } }, ...parallel };
      return invalid('tool_choice.name', 'is required', 'REQUIRED');
    default:
      return invalid('tool_choice.type', 'must be auto, any, tool or none');
  }
}

/** Anthropic structured output → OpenAI's; OpenAI requires a name. https://platform.openai.com/docs/guides/structured-outputs */
function responseFormat(config: MessagesRequest['output_config']): Record<string, unknown> {
  const format = config?.format;
  if (format == null) return {};
  if (format.type !== 'json_schema' || !isObject(format.schema)) return invalid('output_config.format', 'must be a json_schema format with a schema');
  return { response_format: { type: 'json_schema', json_schema: { name: 'response', schema: format.schema, strict: true } } };
}

function messageId(openAIId: string | undefined): string {
  return `msg_${(openAIId ?? '').replace(/^chatcmpl-/, '')}`;
}

/** Anthropic counts cache reads and writes apart from input_tokens. https://docs.anthropic.com/en/api/messages#response-usage */
function anthropicUsage(usage: Usage): Record<string, number> {
  return {
    input_tokens: usage.promptTokens - usage.cachedTokens - usage.cacheWriteTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens,
    cache_read_input_tokens: usage.cachedTokens,
    output_tokens: usage.completionTokens,
  };
}

/** A tool call's arguments as the object Anthropic's `input` must be; `{}` when they are not a JSON object. */
function toolInput(args: string | undefined): Record<string, unknown> {
  const input = parseJson(args ?? '');
  return isObject(input) ? input : {};
}

/** An OpenAI error type as the Anthropic type a Messages client expects. https://docs.anthropic.com/en/api/errors#http-errors */
function anthropicErrorType(type: string | null | undefined): string {
  return type && SHARED_ERROR_TYPES.has(type) ? type : 'api_error';
}

/**
 * Anthropic client → OpenAI-shaped upstream. One instance per attempt; it
 * holds the Anthropic stream being built: message id and model, the open
 * content block, the block index of each tool call, the stop reason and the
 * usage seen so far.
 *
 * Stream usage: OpenAI reports usage only at the end, so message_start carries
 * zeros and message_delta carries the real input_tokens, cache reads and
 * output_tokens; Anthropic's message_delta counters are cumulative and the
 * official SDK overwrites the message_start values with them.
 * https://docs.anthropic.com/en/api/messages-streaming#event-types
 *
 * Stream end: the closing events (content_block_stop, message_delta,
 * message_stop) go out once the upstream has sent a finish reason and usage,
 * or at `[DONE]` / `streamEnd(true)` without them (stop_reason end_turn). A
 * cut stream (`streamEnd(false)`) gets nothing: a client must not mistake a
 * truncated answer for a complete one, and without message_stop the SDK
 * reports the stream as incomplete.
 *
 * Tool call arguments stream through untouched (`input_json_delta`); in a
 * whole response, arguments that are not a JSON object become `input: {}`,
 * Anthropic requiring an object, and the client's tool validation then reports
 * the missing arguments to the model.
 */
export function createAnthropicMessagesToOpenAIChat(): Translator {
  let usage = emptyUsage();
  let usageSeen = false;
  let state: 'idle' | 'open' | 'finished' | 'failed' = 'idle';
  let nextBlock = 0;
  let openBlock: { index: number; kind: 'text' | 'tool' } | undefined;
  /** OpenAI tool call index → Anthropic content block index. */
  const toolBlocks = new Map<number, number>();
  let stopReason: string | undefined;
  let refused = false;

  /** Anthropic names every event, and its SDK ignores unnamed ones. https://docs.anthropic.com/en/api/messages-streaming */
  function event(type: string, payload: Record<string, unknown> = {}): SseEvent {
    return { event: type, data: JSON.stringify({ type, ...payload }) };
  }

  function close(out: SseEvent[]): void {
    if (openBlock) out.push(event('content_block_stop', { index: openBlock.index }));
    openBlock = undefined;
  }

  function open(out: SseEvent[], kind: 'text' | 'tool', block: Record<string, unknown>): number {
    close(out);
    openBlock = { index: nextBlock++, kind };
    out.push(event('content_block_start', { index: openBlock.index, content_block: block }));
    return openBlock.index;
  }

  function text(out: SseEvent[], value: string): void {
    const index = openBlock?.kind === 'text' ? openBlock.index : open(out, 'text', { type: 'text', text: '' });
    out.push(event('content_block_delta', { index, delta: { type: 'text_delta', text: value } }));
  }

  function toolCall(out: SseEvent[], call: WireToolCall): void {
    const key = call.index ?? 0;
    let index = toolBlocks.get(key);
    if (index === undefined) {
      index = open(out, 'tool', { type: 'tool_use', id: call.id ?? '', name: call.function?.name ?? '', input: {} });
      toolBlocks.set(key, index);
    }
    // A late fragment for an earlier call keeps that call's block index; clients accumulate by index.
    const partial = call.function?.arguments;
    if (partial) out.push(event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: partial } }));
  }

  function finish(out: SseEvent[]): void {
    close(out);
    out.push(event('message_delta', { delta: { stop_reason: stopReason ?? 'end_turn', stop_sequence: null }, usage: anthropicUsage(usage) }));
    out.push(event('message_stop'));
    state = 'finished';
  }

  function fail(error: OpenAIErrorObject): SseEvent[] {
    state = 'failed';
    // https://docs.anthropic.com/en/api/messages-streaming#error-events
    return [event('error', { error: { type: anthropicErrorType(error.type), message: error.message ?? '' } })];
  }

  function translate(chunk: Chunk): SseEvent[] {
    // An Anthropic client cannot ask for n > 1, so there is one choice.
    const choice = chunk.choices?.[0];
    // Azure opens with a chunk carrying only prompt_filter_results (empty choices, id and model); wait for the real first chunk.
    // https://learn.microsoft.com/en-us/azure/ai-services/openai/concepts/content-filter
    if (state === 'idle' && !choice && !isObject(chunk.usage)) return [];
    const out: SseEvent[] = [];
    if (state === 'idle') {
      state = 'open';
      const message = { id: messageId(chunk.id), type: 'message', role: 'assistant', model: chunk.model ?? '', content: [], stop_reason: null, stop_sequence: null };
      out.push(event('message_start', { message: { ...message, usage: anthropicUsage(emptyUsage()) } }));
    }
    if (choice?.delta?.content) text(out, choice.delta.content);
    if (choice?.delta?.refusal) {
      refused = true;
      text(out, choice.delta.refusal);
    }
    for (const call of choice?.delta?.tool_calls ?? []) if (isObject(call)) toolCall(out, call);
    if (choice?.finish_reason) {
      close(out);
      stopReason = refused ? 'refusal' : (STOP_REASONS[choice.finish_reason] ?? 'end_turn');
    }
    if (isObject(chunk.usage)) {
      usage = usageFromOpenAI(chunk.usage);
      usageSeen = true;
    }
    if (stopReason !== undefined && usageSeen) finish(out);
    return out;
  }

  return {
    request(body, target) {
      const req = body as MessagesRequest;
      const out: Record<string, unknown> = {
        model: target.model,
        messages: convertMessages(req.system, req.messages),
        ...(req.tools != null ? { tools: convertTools(req.tools) } : {}),
        ...convertToolChoice(req.tool_choice),
        // max_tokens, not max_completion_tokens: the one OpenAI-compatible servers accept most widely.
        ...(req.max_tokens != null ? { max_tokens: req.max_tokens } : {}),
        ...(req.stop_sequences != null ? { stop: req.stop_sequences } : {}),
        ...(req.temperature != null ? { temperature: req.temperature } : {}),
        ...(req.top_p != null ? { top_p: req.top_p } : {}),
        ...(typeof req.metadata?.user_id === 'string' ? { user: req.metadata.user_id } : {}),
        ...responseFormat(req.output_config),
        // Always ask for the final usage chunk. https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
        ...(target.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      };
      return { path: '/chat/completions', body: out };
    },

    response(body) {
      const res = (isObject(body) ? body : {}) as ChatCompletion;
      usage = usageFromOpenAI(res.usage);
      const choice = res.choices?.[0];
      const message = choice?.message;
      const content: Record<string, unknown>[] = [];
      const reply = message?.content || message?.refusal;
      if (reply) content.push({ type: 'text', text: reply });
      for (const call of message?.tool_calls ?? []) {
        content.push({ type: 'tool_use', id: call.id ?? '', name: call.function?.name ?? '', input: toolInput(call.function?.arguments) });
      }
      const stop = message?.refusal ? 'refusal' : (STOP_REASONS[choice?.finish_reason ?? ''] ?? 'end_turn');
      return {
        body: {
          id: messageId(res.id),
          type: 'message',
          role: 'assistant',
          model: res.model ?? '',
          content,
          stop_reason: stop,
          stop_sequence: null,
          usage: anthropicUsage(usage),
        },
        usage,
      };
    },

    streamEvent(sse) {
      if (state === 'finished' || state === 'failed') return [];
      if (sse.data === '[DONE]') {
        if (state === 'idle') return [];
        const out: SseEvent[] = [];
        finish(out);
        return out;
      }
      const chunk = parseJson(sse.data);
      if (!isObject(chunk)) return fail({ type: 'api_error', message: 'malformed upstream stream event' });
      if (isObject(chunk.error)) return fail(chunk.error as OpenAIErrorObject);
      return translate(chunk as Chunk);
    },

    streamEnd(complete) {
      if (!complete || state !== 'open') return [];
      const out: SseEvent[] = [];
      finish(out);
      return out;
    },

    usage() {
      return usage;
    },

    error(status, body) {
      return openAIUpstreamError(status, body);
    },
  };
}

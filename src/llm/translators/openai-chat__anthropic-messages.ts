/**
 * OpenAI Chat Completions client → Anthropic Messages upstream (`/messages`).
 *
 * Request: only the fields below are translated; OpenAI-only fields with no
 * Anthropic equivalent (seed, logprobs, penalties, logit_bias, reasoning_effort,
 * store, metadata, service_tier…) are not sent, since Anthropic rejects unknown
 * fields. `system`/`developer` messages move to the top-level `system`, in
 * order, wherever they stood. `temperature` passes unchanged and is not
 * rescaled: Anthropic accepts 0–1 where OpenAI accepts 0–2, and refuses
 * higher values itself. Response and stream come back as `chat.completion` /
 * `chat.completion.chunk` objects.
 *
 * JSON mode, a best effort documented here:
 * - `json_schema` becomes Anthropic's structured output, `output_config.format`
 *   (`{type: "json_schema", schema}`); the JSON arrives as ordinary text, so the
 *   response and stream need no special handling. Models without structured
 *   outputs answer 400, which reaches the client as the upstream error.
 *   https://platform.claude.com/docs/en/build-with-claude/structured-outputs
 * - `json_object` has no Anthropic switch: an instruction to answer with one
 *   JSON object is appended to `system`. Nothing enforces it.
 */
import { SluiceError } from '../../errors.js';
import type { SseEvent } from '../sse.js';
import type { TranslateTarget, Translator } from '../translator.js';
import type { Usage } from '../usage.js';
import {
  anthropicErrorFields,
  anthropicUpstreamError,
  mergeAnthropicUsage,
  streamEventUsage,
  usageFromAnthropic,
  type AnthropicErrorObject,
  type AnthropicUsage,
} from './anthropic-messages__anthropic-messages.js';
import { isObject, parseJson } from './openai-chat__openai-chat.js';

// ---- OpenAI request, the fields read. https://platform.openai.com/docs/api-reference/chat/create

interface ContentPart {
  type?: string;
  text?: string;
  refusal?: string;
  image_url?: { url?: string };
}

interface ToolCall {
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface ChatMessage {
  role?: string;
  content?: string | ContentPart[] | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

interface FunctionTool {
  type?: string;
  function?: { name?: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

interface ChatRequest {
  messages?: ChatMessage[];
  tools?: FunctionTool[] | null;
  tool_choice?: string | { type?: string; function?: { name?: string } } | null;
  parallel_tool_calls?: boolean;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  stop?: string | string[] | null;
  temperature?: number | null;
  top_p?: number | null;
  response_format?: { type?: string; json_schema?: { schema?: Record<string, unknown> } } | null;
  user?: string;
  n?: number | null;
  stream_options?: { include_usage?: boolean } | null;
}

// ---- Anthropic request, the fields written. https://docs.anthropic.com/en/api/messages

interface TextBlock {
  type: 'text';
  text: string;
}

type ImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };

type UserBlock =
  | TextBlock
  | { type: 'image'; source: ImageSource }
  | { type: 'tool_result'; tool_use_id: string; content: string | TextBlock[] };

type AssistantBlock = TextBlock | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

type AnthropicMessage = { role: 'user'; content: string | UserBlock[] } | { role: 'assistant'; content: string | AssistantBlock[] };

type ToolChoice = { type: 'auto' | 'any' | 'none'; disable_parallel_tool_use?: boolean } | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean };

// ---- Anthropic response and stream, the fields read. https://docs.anthropic.com/en/api/messages-streaming

interface ResponseBlock {
  type?: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

interface AnthropicResponse {
  id?: string;
  model?: string;
  content?: ResponseBlock[];
  stop_reason?: string | null;
  usage?: AnthropicUsage;
}

interface StreamEvent {
  type?: string;
  index?: number;
  message?: { id?: string; model?: string };
  content_block?: ResponseBlock;
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  error?: AnthropicErrorObject;
}

/** Anthropic requires max_tokens; OpenAI clients often omit it. https://docs.anthropic.com/en/api/messages#body-max-tokens */
const DEFAULT_MAX_TOKENS = 4096;

const JSON_OBJECT_INSTRUCTION = 'Respond with a single valid JSON object and no other text.';

/** https://docs.anthropic.com/en/api/messages#response-stop-reason → https://platform.openai.com/docs/api-reference/chat/object#chat/object-choices */
const FINISH_REASONS: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  // Only server tools pause a turn, and this translator sends none.
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
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

function textParts(content: unknown, field: string): TextBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return objects<ContentPart>(content, field).map((part, j) => {
    if (part.type === 'text' && typeof part.text === 'string') return { type: 'text', text: part.text };
    if (part.type === 'refusal' && typeof part.refusal === 'string') return { type: 'text', text: part.refusal };
    return invalid(`${field}[${j}]`, 'only text parts are allowed here');
  });
}

/** data: URLs become base64 sources, http(s) URLs url sources. https://docs.anthropic.com/en/docs/build-with-claude/vision */
function imageSource(url: unknown, field: string): ImageSource {
  if (typeof url !== 'string') return invalid(field, 'is required', 'REQUIRED');
  const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (data) return { type: 'base64', media_type: data[1]!, data: data[2]! };
  if (/^https?:\/\//i.test(url)) return { type: 'url', url };
  return invalid(field, 'must be an http(s) URL or a base64 data: URL');
}

function userContent(content: unknown, field: string): string | UserBlock[] {
  if (typeof content === 'string') return content;
  return objects<ContentPart>(content, field).map((part, j): UserBlock => {
    if (part.type === 'text' && typeof part.text === 'string') return { type: 'text', text: part.text };
    if (part.type === 'image_url') return { type: 'image', source: imageSource(part.image_url?.url, `${field}[${j}].image_url.url`) };
    return invalid(`${field}[${j}].type`, `content part "${String(part.type)}" is not supported on an Anthropic upstream`, 'UNSUPPORTED');
  });
}

function toolInput(args: unknown, field: string): Record<string, unknown> {
  // Models emit "" for calls without arguments; Anthropic needs an object.
  if (args === undefined || (typeof args === 'string' && args.trim() === '')) return {};
  const input = typeof args === 'string' ? parseJson(args) : undefined;
  return isObject(input) ? input : invalid(field, 'must be a JSON object serialised as a string');
}

function assistantContent(message: ChatMessage, i: number): string | AssistantBlock[] {
  const calls = message.tool_calls == null ? [] : objects<ToolCall>(message.tool_calls, `messages[${i}].tool_calls`);
  if (calls.length === 0 && typeof message.content === 'string') return message.content;
  const text = message.content == null ? [] : textParts(message.content, `messages[${i}].content`);
  // Anthropic rejects empty text blocks, which OpenAI clients send next to tool calls.
  const blocks: AssistantBlock[] = text.filter((b) => b.text !== '');
  calls.forEach((call, j) => {
    const field = `messages[${i}].tool_calls[${j}]`;
    if (typeof call.id !== 'string' || typeof call.function?.name !== 'string') invalid(field, 'needs an id and function.name', 'REQUIRED');
    blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: toolInput(call.function.arguments, `${field}.function.arguments`) });
  });
  return blocks;
}

interface Converted {
  system: TextBlock[];
  messages: AnthropicMessage[];
}

function convertMessages(messages: unknown): Converted {
  if (messages === undefined) return invalid('messages', 'is required', 'REQUIRED');
  const out: Converted = { system: [], messages: [] };
  // The user turn collecting consecutive tool results: Anthropic wants every
  // result of a parallel call in the one user message after the tool_use turn.
  // https://docs.anthropic.com/en/docs/build-with-claude/tool-use/implement-tool-use
  let results: UserBlock[] | undefined;
  objects<ChatMessage>(messages, 'messages').forEach((message, i) => {
    if (message.role !== 'tool') results = undefined;
    switch (message.role) {
      case 'system':
      case 'developer':
        // Anthropic has no system turns; every system text moves to the top-level system, in order.
        out.system.push(...textParts(message.content, `messages[${i}].content`));
        return;
      case 'user':
        out.messages.push({ role: 'user', content: userContent(message.content, `messages[${i}].content`) });
        return;
      case 'assistant':
        out.messages.push({ role: 'assistant', content: assistantContent(message, i) });
        return;
      case 'tool': {
        if (typeof message.tool_call_id !== 'string') invalid(`messages[${i}].tool_call_id`, 'is required', 'REQUIRED');
        const content = typeof message.content === 'string' ? message.content : textParts(message.content, `messages[${i}].content`);
        const block: UserBlock = { type: 'tool_result', tool_use_id: message.tool_call_id, content };
        if (results) results.push(block);
        else {
          results = [block];
          out.messages.push({ role: 'user', content: results });
        }
        return;
      }
      default:
        invalid(`messages[${i}].role`, `role "${String(message.role)}" is not supported on an Anthropic upstream`, 'UNSUPPORTED');
    }
  });
  return out;
}

function convertTools(tools: unknown): Record<string, unknown>[] {
  return objects<FunctionTool>(tools, 'tools').map((tool, i) => {
    const fn = tool.function;
    if (tool.type !== 'function' || typeof fn?.name !== 'string') {
      return invalid(`tools[${i}]`, 'only function tools with a name are supported on an Anthropic upstream', 'UNSUPPORTED');
    }
    return {
      name: fn.name,
      ...(fn.description !== undefined ? { description: fn.description } : {}),
      // Anthropic requires an object schema; OpenAI allows omitting parameters.
      input_schema: fn.parameters ?? { type: 'object', properties: {} },
      // Anthropic enforces the schema with tools[].strict. https://platform.claude.com/docs/en/build-with-claude/structured-outputs
      ...(fn.strict === true ? { strict: true } : {}),
    };
  });
}

/** https://docs.anthropic.com/en/api/messages#body-tool-choice */
function convertToolChoice(choice: ChatRequest['tool_choice'], parallel: boolean | undefined, hasTools: boolean): ToolChoice | undefined {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice == null) return hasTools && parallel === false ? { type: 'auto', ...single } : undefined;
  if (choice === 'auto') return { type: 'auto', ...single };
  if (choice === 'required') return { type: 'any', ...single };
  if (choice === 'none') return { type: 'none' };
  if (isObject(choice) && choice.type === 'function' && typeof choice.function?.name === 'string') {
    return { type: 'tool', name: choice.function.name, ...single };
  }
  return invalid('tool_choice', 'must be auto, none, required or a function choice');
}

function stopSequences(stop: ChatRequest['stop']): string[] | undefined {
  if (stop == null) return undefined;
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) return stop;
  return invalid('stop', 'must be a string or an array of strings');
}

/**
 * The `created` stamp (Unix seconds). The attempt's time when the caller puts
 * one on the target as `created` (golden tests do; the contract does not
 * declare it yet), else now.
 */
function createdAt(target: TranslateTarget): number {
  return 'created' in target && typeof target.created === 'number' ? target.created : Math.floor(Date.now() / 1000);
}

function chatId(anthropicId: string | undefined): string {
  return `chatcmpl-${(anthropicId ?? '').replace(/^msg_/, '')}`;
}

function finishReason(stopReason: string | null | undefined): string {
  return FINISH_REASONS[stopReason ?? ''] ?? 'stop';
}

/** https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage */
function openAIUsage(usage: Usage): Record<string, unknown> {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  };
}

/**
 * OpenAI client → Anthropic upstream. One instance per attempt; it holds
 * whether the client asked for stream usage, the chunk id/created/model, the
 * tool-call index of each tool_use block, and the usage seen so far.
 *
 * Stream end: a cut stream (`streamEnd(false)`) gets nothing more; after an
 * upstream `error` event the client got an error chunk and nothing follows,
 * not even `[DONE]`, as OpenAI does.
 */
export function createOpenAIChatToAnthropicMessages(): Translator {
  let clientWantsUsage = false;
  let created = Math.floor(Date.now() / 1000);
  let wire: AnthropicUsage = {};
  let id = chatId(undefined);
  let model = '';
  /** content block index → OpenAI tool call index (tool calls are counted apart from text blocks). */
  const toolIndex = new Map<number, number>();
  let state: 'open' | 'finished' | 'failed' = 'open';

  function chunk(choices: unknown[], extra: Record<string, unknown> = {}): SseEvent {
    // With include_usage, OpenAI puts `usage: null` on every chunk but the last.
    // https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
    const usage = clientWantsUsage ? { usage: null } : {};
    return { data: JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...usage, ...extra }) };
  }

  function delta(d: Record<string, unknown>, finish: string | null = null): SseEvent {
    return chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
  }

  function usageChunks(): SseEvent[] {
    return clientWantsUsage ? [chunk([], { usage: openAIUsage(usageFromAnthropic(wire)) })] : [];
  }

  /** A mid-stream error as OpenAI streams one: a chunk that is only the error envelope. */
  function fail(error: AnthropicErrorObject): SseEvent[] {
    state = 'failed';
    const { message, type, code } = anthropicErrorFields(error, 500);
    return [{ data: JSON.stringify({ error: { message, type, param: null, code: code ?? null } }) }];
  }

  function translate(e: StreamEvent): SseEvent[] {
    switch (e.type) {
      case 'message_start':
        id = chatId(e.message?.id);
        model = e.message?.model ?? '';
        return [delta({ role: 'assistant', content: '' })];
      case 'content_block_start': {
        const block = e.content_block;
        if (block?.type === 'text' && block.text) return [delta({ content: block.text })];
        if (block?.type !== 'tool_use' || e.index === undefined) return [];
        const index = toolIndex.size;
        toolIndex.set(e.index, index);
        return [delta({ tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] })];
      }
      case 'content_block_delta': {
        const d = e.delta;
        if (d?.type === 'text_delta' && d.text) return [delta({ content: d.text })];
        const index = toolIndex.get(e.index ?? -1);
        if (d?.type === 'input_json_delta' && d.partial_json && index !== undefined) {
          return [delta({ tool_calls: [{ index, function: { arguments: d.partial_json } }] })];
        }
        // thinking_delta, signature_delta, citations_delta: no place in an OpenAI message.
        return [];
      }
      case 'message_delta':
        return e.delta?.stop_reason ? [delta({}, finishReason(e.delta.stop_reason))] : [];
      case 'message_stop':
        state = 'finished';
        return usageChunks();
      case 'error':
        return fail(e.error ?? {});
      default:
        // ping, content_block_stop, and event types added later.
        return [];
    }
  }

  return {
    request(body, target) {
      const req = body as ChatRequest;
      if (req.n != null && req.n !== 1) invalid('n', 'an Anthropic upstream returns one choice; n must be 1', 'UNSUPPORTED');
      created = createdAt(target);
      clientWantsUsage = target.stream && req.stream_options?.include_usage === true;

      const { system, messages } = convertMessages(req.messages);
      const format = req.response_format?.type;
      if (format === 'json_object') system.push({ type: 'text', text: JSON_OBJECT_INSTRUCTION });
      else if (format === 'json_schema' && !isObject(req.response_format?.json_schema?.schema)) {
        invalid('response_format.json_schema.schema', 'is required on an Anthropic upstream', 'REQUIRED');
      } else if (format !== undefined && format !== 'text' && format !== 'json_schema') {
        invalid('response_format.type', 'must be text, json_object or json_schema');
      }

      const hasTools = Array.isArray(req.tools) && req.tools.length > 0;
      const toolChoice = convertToolChoice(req.tool_choice, req.parallel_tool_calls, hasTools);
      const stop = stopSequences(req.stop);
      const out: Record<string, unknown> = {
        model: target.model,
        max_tokens: req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_MAX_TOKENS,
        ...(system.length === 1 ? { system: system[0]!.text } : system.length > 1 ? { system } : {}),
        messages,
        ...(req.tools != null ? { tools: convertTools(req.tools) } : {}),
        ...(toolChoice ? { tool_choice: toolChoice } : {}),
        ...(stop ? { stop_sequences: stop } : {}),
        ...(req.temperature != null ? { temperature: req.temperature } : {}),
        // Claude 4.5 and later models refuse temperature and top_p together; OpenAI advises setting one, so temperature wins.
        // https://platform.claude.com/docs/en/about-claude/models/migrating-to-claude-4
        ...(req.top_p != null && req.temperature == null ? { top_p: req.top_p } : {}),
        ...(format === 'json_schema' ? { output_config: { format: { type: 'json_schema', schema: req.response_format!.json_schema!.schema } } } : {}),
        ...(typeof req.user === 'string' ? { metadata: { user_id: req.user } } : {}),
        ...(target.stream ? { stream: true } : {}),
      };
      return { path: '/messages', body: out };
    },

    response(body) {
      const res = (isObject(body) ? body : {}) as AnthropicResponse;
      wire = res.usage ?? {};
      const usage = usageFromAnthropic(wire);
      const blocks = Array.isArray(res.content) ? res.content : [];
      // Thinking and server-tool blocks have no place in an OpenAI message; their tokens still count in usage.
      const texts = blocks.filter((b) => b.type === 'text').map((b) => b.text ?? '');
      const toolCalls = blocks
        .filter((b) => b.type === 'tool_use')
        .map((b) => ({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }));
      const message = {
        role: 'assistant',
        content: texts.length > 0 || toolCalls.length === 0 ? texts.join('') : null,
        refusal: null,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      };
      return {
        body: {
          id: chatId(res.id),
          object: 'chat.completion',
          created,
          model: res.model ?? '',
          choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(res.stop_reason) }],
          usage: openAIUsage(usage),
        },
        usage,
      };
    },

    streamEvent(event) {
      if (state !== 'open') return [];
      const data = parseJson(event.data);
      if (!isObject(data)) return fail({ type: 'api_error', message: 'malformed upstream stream event' });
      const next = streamEventUsage(data);
      if (next) wire = mergeAnthropicUsage(wire, next);
      return translate(data as StreamEvent);
    },

    streamEnd(complete) {
      if (!complete || state === 'failed') return [];
      // An upstream that ended without message_stop still owes the client its usage.
      const tail = state === 'open' ? usageChunks() : [];
      state = 'finished';
      return [...tail, { data: '[DONE]' }];
    },

    usage() {
      return usageFromAnthropic(wire);
    },

    error(status, body) {
      return anthropicUpstreamError(status, body);
    },
  };
}

/**
 * OpenAI Chat Completions client → Google Gemini API (v1beta `generateContent`
 * and `streamGenerateContent?alt=sse`). https://ai.google.dev/api/generate-content
 *
 * Request: system/developer messages become `systemInstruction`; the other
 * messages become `contents` with roles `user` / `model` (consecutive turns of
 * one role merged, as Gemini alternates roles); tool results become
 * `functionResponse` parts of a user turn. Fields Gemini has no equivalent for
 * (`logprobs`, `logit_bias`, `parallel_tool_calls`, `user`, `metadata`, …) are
 * not sent: Gemini rejects unknown fields.
 *
 * Response: each candidate becomes a choice; function calls become tool calls
 * with ids derived from the response (`call_<responseId>_<n>`), so replays are
 * stable and ids do not repeat across turns. Thought parts are not content.
 *
 * Stream: each SSE event is a whole GenerateContentResponse holding the next
 * parts; Gemini sends each function call whole, so each becomes one tool-call
 * delta with complete arguments. Usage comes on several chunks and the last
 * one wins; the usage chunk is sent at the end, only when the client asked.
 */
import { randomUUID } from 'node:crypto';
import { SluiceError } from '../../errors.js';
import type { SseEvent } from '../sse.js';
import type { TranslateTarget, Translator } from '../translator.js';
import { emptyUsage, type Usage } from '../usage.js';
import { googleUpstreamError, type GoogleErrorObject } from './google-errors.js';
import { isObject, parseJson } from './openai-chat__openai-chat.js';

type JsonSchema = Record<string, unknown>;

/** OpenAI request types, the fields read. https://platform.openai.com/docs/api-reference/chat/create */
interface ChatContentPart {
  type: string;
  text?: string;
  image_url?: { url: string };
  input_audio?: { data: string; format: string };
  file?: { file_data?: string };
}

interface ChatToolCall {
  id: string;
  type: string;
  function?: { name?: string; arguments?: unknown };
}

interface ChatMessage {
  role: string;
  content?: string | ChatContentPart[] | null;
  tool_calls?: unknown;
  tool_call_id?: string;
}

interface ChatTool {
  type: string;
  function?: { name?: string; description?: string; parameters?: unknown };
}

type ChatToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

interface ChatRequest {
  messages?: unknown;
  tools?: unknown;
  tool_choice?: ChatToolChoice;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[] | null;
  n?: number;
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  response_format?: { type: string; json_schema?: { schema?: JsonSchema } };
  reasoning_effort?: string;
  stream_options?: { include_usage?: boolean };
}

/** Gemini request and response types, the fields read or written. https://ai.google.dev/api/caching#Part */
interface GeminiPart {
  text?: string;
  /** The part is a thought summary, not answer text. https://ai.google.dev/gemini-api/docs/thinking#summaries */
  thought?: boolean;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args?: Record<string, unknown> };
  functionResponse?: { name: string; response: Record<string, unknown> };
  thoughtSignature?: string;
}

interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

/** https://ai.google.dev/api/generate-content#UsageMetadata */
interface GeminiUsageMetadata {
  /** Includes the cached tokens. */
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
}

/** https://ai.google.dev/api/generate-content#candidate */
interface GeminiCandidate {
  index?: number;
  content?: { parts?: GeminiPart[] };
  finishReason?: string;
}

/** https://ai.google.dev/api/generate-content#generatecontentresponse */
interface GeminiResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
  /** A stream can end with an error object instead of a chunk. */
  error?: GoogleErrorObject;
}

function invalid(field: string, description: string, reason = 'INVALID_FORMAT'): SluiceError {
  return SluiceError.invalid([{ field, description, reason }]);
}

/** The objects of a request array (none when absent), or an invalid_argument naming the field. */
function objects<T>(value: unknown, field: string): T[] {
  if (value == null) return [];
  if (!Array.isArray(value)) throw invalid(field, 'must be an array');
  value.forEach((item: unknown, i) => {
    if (!isObject(item)) throw invalid(`${field}[${i}]`, 'must be an object');
  });
  return value as T[];
}

/**
 * Gemini 3 rejects a replayed function call without the thought signature it
 * came with; a client speaking OpenAI cannot carry it, so the documented
 * placeholder for history the model did not sign is sent instead.
 * https://ai.google.dev/gemini-api/docs/thought-signatures
 */
const FOREIGN_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

/**
 * `reasoning_effort` → `thinkingBudget` (tokens), Google's own mapping for its
 * OpenAI-compatible endpoint (low 1K, medium 8K, high 24K, none disables);
 * `minimal` takes the lowest and `xhigh`/`max` the highest documented budget.
 * The budget is used rather than `thinkingLevel` because Gemini 2.5 only
 * accepts the budget and Gemini 3 still accepts it.
 * https://ai.google.dev/gemini-api/docs/openai#thinking
 * https://ai.google.dev/gemini-api/docs/thinking#set-budget
 */
const THINKING_BUDGET: Readonly<Record<string, number>> = {
  none: 0,
  minimal: 1024,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 24576,
  max: 24576,
};

/** Image types by file extension, for `fileData`, which needs a MIME type the URL does not carry. https://ai.google.dev/gemini-api/docs/image-understanding */
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
};

/** The MIME type of an image URL from its extension; `image/jpeg` when there is none or it is unknown. */
function imageTypeOf(url: string): string {
  const path = new URL(url).pathname;
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return IMAGE_TYPES[ext] ?? 'image/jpeg';
}

/** `data:<mime>[;…];base64,<data>` → inline data; undefined when the URL is not a base64 data URL. */
function inlineData(url: string): GeminiPart | undefined {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0) return undefined;
  const header = url.slice('data:'.length, comma);
  if (!header.endsWith(';base64')) return undefined;
  return { inlineData: { mimeType: header.split(';')[0] || 'application/octet-stream', data: url.slice(comma + 1) } };
}

function imagePart(url: string, field: string): GeminiPart {
  const inline = inlineData(url);
  if (inline) return inline;
  if (/^https?:\/\//i.test(url) && URL.canParse(url)) return { fileData: { mimeType: imageTypeOf(url), fileUri: url } };
  throw invalid(field, 'must be an http(s) URL or a base64 data URL');
}

/** The texts of a content that may only hold text (system, assistant, tool), empty ones left out. */
function texts(content: ChatMessage['content'], field: string): string[] {
  if (typeof content === 'string') return content === '' ? [] : [content];
  return objects<ChatContentPart>(content, field).flatMap((part, j) => {
    if (part.type === 'text' || part.type === 'refusal') return part.text ? [part.text] : [];
    throw invalid(`${field}[${j}].type`, `content part type "${part.type}" is not allowed here`, 'UNSUPPORTED');
  });
}

function userParts(content: ChatMessage['content'], field: string): GeminiPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  return objects<ChatContentPart>(content, field).flatMap((part, j): GeminiPart[] => {
    const at = `${field}[${j}]`;
    switch (part.type) {
      case 'text':
        return part.text ? [{ text: part.text }] : [];
      case 'image_url':
        return [imagePart(part.image_url?.url ?? '', `${at}.image_url.url`)];
      case 'input_audio':
        // https://ai.google.dev/gemini-api/docs/audio
        return [{ inlineData: { mimeType: `audio/${part.input_audio?.format ?? ''}`, data: part.input_audio?.data ?? '' } }];
      case 'file': {
        const inline = inlineData(part.file?.file_data ?? '');
        if (!inline) throw invalid(`${at}.file.file_data`, 'must be a base64 data URL; file ids cannot be sent to Gemini', 'UNSUPPORTED');
        return [inline];
      }
      default:
        throw invalid(`${at}.type`, `content part type "${part.type}" is not supported by Gemini`, 'UNSUPPORTED');
    }
  });
}

function functionCallParts(calls: unknown, field: string, names: Map<string, string>): GeminiPart[] {
  return objects<ChatToolCall>(calls, field).map((call, j) => {
    const at = `${field}[${j}]`;
    if (call.type !== 'function') throw invalid(`${at}.type`, `tool call type "${call.type}" is not supported by Gemini`, 'UNSUPPORTED');
    if (typeof call.function?.name !== 'string') throw invalid(`${at}.function.name`, 'is required', 'REQUIRED');
    // Gemini wants an object; OpenAI sends JSON text (empty text means no arguments).
    const raw = call.function.arguments;
    const args = raw === '' ? {} : typeof raw === 'string' ? parseJson(raw) : undefined;
    if (!isObject(args)) throw invalid(`${at}.function.arguments`, 'must be a JSON object');
    names.set(call.id, call.function.name);
    const part: GeminiPart = { functionCall: { name: call.function.name, args } };
    // Parallel calls carry one signature, on the first call. https://ai.google.dev/gemini-api/docs/thought-signatures
    return j === 0 ? { ...part, thoughtSignature: FOREIGN_THOUGHT_SIGNATURE } : part;
  });
}

/** A tool result as Gemini's function response object (which must be a JSON object). */
function functionResponsePart(message: ChatMessage, field: string, names: Map<string, string>): GeminiPart {
  const name = names.get(message.tool_call_id ?? '');
  if (name === undefined) throw invalid(`${field}.tool_call_id`, `no earlier assistant tool call has id "${message.tool_call_id ?? ''}"`, 'UNKNOWN_REFERENCE');
  const text = texts(message.content, `${field}.content`).join('');
  const parsed = parseJson(text);
  // https://ai.google.dev/api/caching#FunctionResponse: "the whole response is treated as function output".
  return { functionResponse: { name, response: { content: parsed === undefined ? { result: text } : parsed } } };
}

function toContents(messages: unknown): { system: GeminiPart[]; contents: GeminiContent[] } {
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();
  const push = (role: GeminiContent['role'], parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  objects<ChatMessage>(messages, 'messages').forEach((message, i) => {
    const at = `messages[${i}]`;
    switch (message.role) {
      case 'system':
      case 'developer': {
        // Gemini has one system instruction, so system messages anywhere in the list join it in order.
        system.push(...texts(message.content, `${at}.content`).map((text) => ({ text })));
        break;
      }
      case 'user':
        push('user', userParts(message.content, `${at}.content`));
        break;
      case 'assistant': {
        const text = texts(message.content, `${at}.content`).map((t): GeminiPart => ({ text: t }));
        push('model', [...text, ...functionCallParts(message.tool_calls, `${at}.tool_calls`, callNames)]);
        break;
      }
      case 'tool':
        push('user', [functionResponsePart(message, at, callNames)]);
        break;
      default:
        throw invalid(`${at}.role`, `role "${message.role}" is not supported by Gemini`, 'UNSUPPORTED');
    }
  });
  return { system, contents };
}

/** Schema fields Gemini accepts; any other field is a 400. https://ai.google.dev/api/caching#Schema */
const SCHEMA_FIELDS = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
]);

/** Formats Gemini accepts per type; others are a 400 ("only 'enum' and 'date-time' are supported for STRING type"). https://ai.google.dev/api/caching#Schema */
const SCHEMA_FORMATS: Readonly<Record<string, readonly string[]>> = {
  STRING: ['enum', 'date-time'],
  NUMBER: ['float', 'double'],
  INTEGER: ['int32', 'int64'],
};

/**
 * JSON Schema → Gemini's Schema (a subset of OpenAPI 3.0), for function
 * parameters and `responseSchema`. Keeps the fields Gemini knows and drops the
 * rest (`additionalProperties`, `$schema`, `$defs`, `not`, `patternProperties`,
 * `examples`, …); types are upper-cased and `["x","null"]` becomes `nullable`;
 * `oneOf` becomes `anyOf`, `const` a one-value `enum`, enum values strings;
 * local `$ref`s (`#/$defs/…`, `#/definitions/…`) and one-element `allOf`s are
 * inlined; a recursive or non-local reference becomes an empty schema (any
 * value). A missing type is inferred from `properties` / `items`. Empty
 * `properties` and `required` names without a property are dropped, since
 * Gemini refuses both.
 */
function toGeminiSchema(schema: JsonSchema, root: JsonSchema, refs: readonly string[] = []): JsonSchema {
  let node = schema;
  let path = refs;
  for (;;) {
    const { $ref, allOf, ...rest } = node;
    if (typeof $ref === 'string') {
      const [, group = '', name = ''] = /^#\/(\$defs|definitions)\/(.+)$/.exec($ref) ?? [];
      const defs = Object.hasOwn(root, group) ? root[group] : undefined;
      const resolved = isObject(defs) && Object.hasOwn(defs, name) ? defs[name] : undefined;
      if (!isObject(resolved) || path.includes($ref)) return {};
      node = { ...resolved, ...rest };
      path = [...path, $ref];
    } else if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0])) {
      node = { ...allOf[0], ...rest };
    } else break;
  }

  const out: JsonSchema = {};
  let type = node.type;
  if (Array.isArray(type)) {
    if (type.includes('null')) out.nullable = true;
    const types = type.filter((t): t is string => typeof t === 'string' && t !== 'null');
    type = types.length === 1 ? types[0] : undefined;
    if (types.length > 1) out.anyOf = types.map((t) => ({ type: t.toUpperCase() }));
  }
  // JSON Schema may leave the type implied by the keywords; Gemini needs it to keep properties or items.
  if (type === undefined && !out.anyOf) type = isObject(node.properties) ? 'object' : isObject(node.items) ? 'array' : undefined;
  const upper = typeof type === 'string' ? type.toUpperCase() : undefined;
  if (upper) out.type = upper;

  for (const [key, value] of Object.entries(node)) {
    if (!SCHEMA_FIELDS.has(key) || key === 'type' || value === undefined) continue;
    switch (key) {
      case 'properties': {
        if (upper !== 'OBJECT' || !isObject(value) || Object.keys(value).length === 0) break;
        out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, toGeminiSchema(isObject(sub) ? sub : {}, root, path)]));
        break;
      }
      case 'required': {
        const props = isObject(node.properties) ? node.properties : {};
        const names = Array.isArray(value) ? value.filter((n): n is string => typeof n === 'string' && Object.hasOwn(props, n)) : [];
        if (upper === 'OBJECT' && names.length > 0) out.required = names;
        break;
      }
      case 'items':
        if (upper === 'ARRAY' && isObject(value)) out.items = toGeminiSchema(value, root, path);
        break;
      case 'anyOf':
        if (Array.isArray(value)) out.anyOf = value.filter(isObject).map((sub) => toGeminiSchema(sub, root, path));
        break;
      case 'enum':
        if (Array.isArray(value)) out.enum = value.map(String);
        break;
      case 'format':
        if (upper && SCHEMA_FORMATS[upper]?.includes(String(value))) out.format = value;
        break;
      default:
        out[key] = value;
    }
  }
  if (Array.isArray(node.oneOf) && out.anyOf === undefined) out.anyOf = node.oneOf.filter(isObject).map((sub) => toGeminiSchema(sub, root, path));
  if (node.const !== undefined && out.enum === undefined) out.enum = [String(node.const)];
  return out;
}

function functionDeclaration(tool: ChatTool, i: number): Record<string, unknown> {
  if (tool.type !== 'function') throw invalid(`tools[${i}].type`, `tool type "${tool.type}" is not supported by Gemini`, 'UNSUPPORTED');
  if (typeof tool.function?.name !== 'string') throw invalid(`tools[${i}].function.name`, 'is required', 'REQUIRED');
  const { name, description, parameters } = tool.function;
  const schema = isObject(parameters) ? toGeminiSchema(parameters, parameters) : undefined;
  // A function without parameters omits them: Gemini refuses an OBJECT with no properties.
  const hasParameters = schema !== undefined && (schema.type !== 'OBJECT' || schema.properties !== undefined);
  return { name, ...(description !== undefined ? { description } : {}), ...(hasParameters ? { parameters: schema } : {}) };
}

/** https://ai.google.dev/api/caching#FunctionCallingConfig */
function functionCallingConfig(choice: ChatToolChoice): Record<string, unknown> {
  switch (choice) {
    case 'auto':
      return { mode: 'AUTO' };
    case 'none':
      return { mode: 'NONE' };
    case 'required':
      return { mode: 'ANY' };
    default:
      if (isObject(choice) && choice.type === 'function') return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
      throw invalid('tool_choice', 'must be "auto", "none", "required" or {"type":"function","function":{"name"}}', 'UNSUPPORTED');
  }
}

/** https://ai.google.dev/api/generate-content#generationconfig */
function generationConfig(req: ChatRequest): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const set = (key: string, value: unknown): void => {
    if (value !== undefined && value !== null) config[key] = value;
  };
  set('temperature', req.temperature);
  set('topP', req.top_p);
  set('maxOutputTokens', req.max_completion_tokens ?? req.max_tokens);
  set('stopSequences', typeof req.stop === 'string' ? [req.stop] : req.stop);
  set('candidateCount', req.n);
  set('seed', req.seed);
  set('presencePenalty', req.presence_penalty);
  set('frequencyPenalty', req.frequency_penalty);
  const format = req.response_format;
  if (format?.type === 'json_object' || format?.type === 'json_schema') {
    // https://ai.google.dev/gemini-api/docs/structured-output
    config.responseMimeType = 'application/json';
    const schema = format.json_schema?.schema;
    if (isObject(schema)) config.responseSchema = toGeminiSchema(schema, schema);
  }
  if (req.reasoning_effort != null) {
    const budget = THINKING_BUDGET[req.reasoning_effort];
    if (budget === undefined) throw invalid('reasoning_effort', `"${req.reasoning_effort}" is not a reasoning effort`);
    config.thinkingConfig = { thinkingBudget: budget };
  }
  return config;
}

/** Finish reasons that mean output was withheld. https://ai.google.dev/api/generate-content#FinishReason */
const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

function finishReason(reason: string, calledTools: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (FILTERED.has(reason)) return 'content_filter';
  return calledTools ? 'tool_calls' : 'stop';
}

function usageOf(metadata: GeminiUsageMetadata | undefined): Usage {
  const thoughts = metadata?.thoughtsTokenCount ?? 0;
  return {
    ...emptyUsage(),
    promptTokens: metadata?.promptTokenCount ?? 0,
    completionTokens: (metadata?.candidatesTokenCount ?? 0) + thoughts,
    cachedTokens: metadata?.cachedContentTokenCount ?? 0,
    reasoningTokens: thoughts,
  };
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

/** Answer text: the text parts that are not thoughts. */
function isAnswerText(part: GeminiPart): part is GeminiPart & { text: string } {
  return typeof part.text === 'string' && part.thought !== true;
}

/**
 * The `created` stamp (Unix seconds): the attempt's time when the caller puts
 * one on the target as `created` (golden tests do; the contract does not
 * declare it yet), else now. The same convention as openai-chat__anthropic-messages.
 */
function createdAt(target: TranslateTarget): number {
  return 'created' in target && typeof target.created === 'number' ? target.created : Math.floor(Date.now() / 1000);
}

/** The SSE `data:` of one chat.completion.chunk. */
function chunkEvent(chunk: Record<string, unknown>): SseEvent {
  return { data: JSON.stringify(chunk) };
}

/**
 * OpenAI Chat Completions → Gemini generateContent. One instance per attempt;
 * it remembers from `request` the model, `created`, `n` and whether the client
 * asked for stream usage, and during a stream the response id, which choices
 * have begun, how many tool calls each has, the latest usage and whether an
 * error ended it.
 */
export function createOpenAIChatToGeminiGenerate(): Translator {
  let model = '';
  let created = Math.floor(Date.now() / 1000);
  let choiceCount = 1;
  let includeUsage = false;
  let usage = emptyUsage();
  let head: { id: string; model: string; callPrefix: string } | undefined;
  const begun = new Set<number>();
  const toolCalls = new Map<number, number>();
  let failed = false;

  /** The id and model shared by the whole response, fixed by its first chunk. */
  const headOf = (res: GeminiResponse): NonNullable<typeof head> => {
    if (!head) {
      const responseId = res.responseId ?? randomUUID();
      head = { id: `chatcmpl-${responseId}`, model: res.modelVersion ?? model, callPrefix: `call_${responseId}` };
    }
    return head;
  };

  const chunk = (index: number, delta: Record<string, unknown>, finish: string | null = null): SseEvent => {
    const h = head as NonNullable<typeof head>;
    return chunkEvent({
      id: h.id,
      object: 'chat.completion.chunk',
      created,
      model: h.model,
      choices: [{ index, delta, logprobs: null, finish_reason: finish }],
      // With include_usage every chunk carries `usage: null` but the last. https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
      ...(includeUsage ? { usage: null } : {}),
    });
  };

  const streamError = (error: GoogleErrorObject): SseEvent => {
    failed = true;
    const e = googleUpstreamError(error.code ?? 500, { error });
    return { data: JSON.stringify({ error: { message: e.message, type: e.type, code: e.code ?? null, param: e.param ?? null } }) };
  };

  return {
    request(body, target) {
      const req = body as ChatRequest;
      if (req.messages == null) throw invalid('messages', 'is required', 'REQUIRED');
      model = target.model;
      created = createdAt(target);
      choiceCount = req.n ?? 1;
      includeUsage = req.stream_options?.include_usage === true;

      const { system, contents } = toContents(req.messages);
      const out: Record<string, unknown> = { contents };
      if (system.length > 0) out.systemInstruction = { parts: system };
      const tools = objects<ChatTool>(req.tools, 'tools');
      if (tools.length > 0) {
        out.tools = [{ functionDeclarations: tools.map(functionDeclaration) }];
        if (req.tool_choice !== undefined) out.toolConfig = { functionCallingConfig: functionCallingConfig(req.tool_choice) };
      }
      const config = generationConfig(req);
      if (Object.keys(config).length > 0) out.generationConfig = config;

      const name = encodeURIComponent(target.model);
      // alt=sse frames each chunk as an SSE event. https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent
      return { path: target.stream ? `/models/${name}:streamGenerateContent?alt=sse` : `/models/${name}:generateContent`, body: out };
    },

    response(body) {
      const res = (isObject(body) ? body : {}) as GeminiResponse;
      const h = headOf(res);
      usage = usageOf(res.usageMetadata);
      const candidates = res.candidates ?? [];
      const choices =
        candidates.length > 0
          ? candidates.map((candidate, i) => {
              const parts = candidate.content?.parts ?? [];
              const text = parts.filter(isAnswerText).map((p) => p.text).join('');
              const calls = parts.flatMap((p) => (p.functionCall ? [p.functionCall] : []));
              const message: Record<string, unknown> = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text, refusal: null };
              if (calls.length > 0) {
                message.tool_calls = calls.map((call, k) => ({
                  id: `${h.callPrefix}_${k}`,
                  type: 'function',
                  function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
                }));
              }
              return { index: candidate.index ?? i, message, logprobs: null, finish_reason: finishReason(candidate.finishReason ?? 'STOP', calls.length > 0) };
            })
          : // A blocked prompt has no candidates, only promptFeedback: every choice is empty and filtered.
            // https://ai.google.dev/api/generate-content#PromptFeedback
            Array.from({ length: choiceCount }, (_, i) => ({
              index: i,
              message: { role: 'assistant', content: '', refusal: null },
              logprobs: null,
              finish_reason: res.promptFeedback?.blockReason ? 'content_filter' : 'stop',
            }));
      return {
        body: { id: h.id, object: 'chat.completion', created, model: h.model, choices, usage: openAIUsage(usage) },
        usage,
      };
    },

    streamEvent(event) {
      if (failed) return [];
      const res = parseJson(event.data);
      if (!isObject(res)) return [streamError({ code: 502, message: 'malformed event in the upstream stream', status: 'UNAVAILABLE' })];
      const chunkRes = res as GeminiResponse;
      if (isObject(chunkRes.error)) return [streamError(chunkRes.error)];
      const h = headOf(chunkRes);
      if (chunkRes.usageMetadata) usage = usageOf(chunkRes.usageMetadata);

      const out: SseEvent[] = [];
      const begin = (index: number): void => {
        if (begun.has(index)) return;
        begun.add(index);
        out.push(chunk(index, { role: 'assistant', content: '' }));
      };
      const candidates = chunkRes.candidates ?? [];
      if (candidates.length === 0 && chunkRes.promptFeedback?.blockReason) {
        for (let i = 0; i < choiceCount; i++) {
          begin(i);
          out.push(chunk(i, {}, 'content_filter'));
        }
      }
      candidates.forEach((candidate, position) => {
        const index = candidate.index ?? position;
        begin(index);
        for (const part of candidate.content?.parts ?? []) {
          if (isAnswerText(part) && part.text !== '') out.push(chunk(index, { content: part.text }));
          else if (part.functionCall) {
            const n = toolCalls.get(index) ?? 0;
            toolCalls.set(index, n + 1);
            const { name, args } = part.functionCall;
            out.push(chunk(index, { tool_calls: [{ index: n, id: `${h.callPrefix}_${n}`, type: 'function', function: { name, arguments: JSON.stringify(args ?? {}) } }] }));
          }
        }
        if (candidate.finishReason) out.push(chunk(index, {}, finishReason(candidate.finishReason, toolCalls.has(index))));
      });
      return out;
    },

    streamEnd(complete) {
      if (!complete || failed) return [];
      const out: SseEvent[] = [];
      if (includeUsage) {
        const h = headOf({});
        out.push(chunkEvent({ id: h.id, object: 'chat.completion.chunk', created, model: h.model, choices: [], usage: openAIUsage(usage) }));
      }
      out.push({ data: '[DONE]' });
      return out;
    },

    usage() {
      return usage;
    },

    error(status, body) {
      return googleUpstreamError(status, body);
    },
  };
}

/**
 * OpenAI Chat Completions client → OpenAI-shaped upstream (openai, azure_openai,
 * openai_compatible, mock). A passthrough: the body goes upstream unchanged
 * (unknown fields included) except `model`, and, for streams, the usage
 * request the gateway always needs. Chunks are forwarded with their data
 * string untouched.
 *
 * This file also owns the OpenAI wire pieces the cross-schema translators
 * share: the usage object and the error envelope.
 */
import type { SseEvent } from '../sse.js';
import type { Translator, UpstreamError } from '../translator.js';
import { lastObjectValue } from '../json-sniff.js';
import { emptyUsage, type Usage } from '../usage.js';

/** OpenAI's usage object, the fields Sluice reads. https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage */
export interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

/** OpenAI's error object. https://platform.openai.com/docs/guides/error-codes */
export interface OpenAIErrorObject {
  message?: string;
  type?: string | null;
  param?: string | null;
  code?: string | null;
}

/** A parsed JSON text, or undefined when the text is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether a value is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Normalises OpenAI usage; absent counters are 0. */
export function usageFromOpenAI(usage: OpenAIUsage | null | undefined): Usage {
  return {
    ...emptyUsage(),
    promptTokens: usage?.prompt_tokens ?? 0,
    completionTokens: usage?.completion_tokens ?? 0,
    cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/** The OpenAI-style error type for an HTTP status, used when the upstream names none. */
export function errorTypeForStatus(status: number): string {
  if (status >= 500) return 'api_error';
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 429:
      return 'rate_limit_error';
    default:
      return 'invalid_request_error';
  }
}

const MAX_ERROR_TEXT = 2000;

/**
 * An error body as an object when it is (or its text parses as) a JSON object;
 * otherwise its text, truncated to 2000 characters.
 */
export function errorBody(body: unknown): Record<string, unknown> | string {
  const parsed = typeof body === 'string' ? parseJson(body) : body;
  if (isObject(parsed)) return parsed;
  const text = typeof body === 'string' ? body : (JSON.stringify(body) ?? '');
  return text.slice(0, MAX_ERROR_TEXT);
}

/** The `error` object of an `{"error": {...}}` envelope (OpenAI's and Anthropic's), or undefined. */
export function envelopeErrorObject(body: unknown): Record<string, unknown> | undefined {
  const parsed = errorBody(body);
  return typeof parsed !== 'string' && isObject(parsed.error) ? parsed.error : undefined;
}

/**
 * An error whose body is not an envelope: its text (or its JSON), truncated
 * to 2000 characters, is the message; the type follows the status.
 */
export function plainUpstreamError(status: number, body: unknown): UpstreamError {
  const parsed = errorBody(body);
  const text = typeof parsed === 'string' ? parsed : JSON.stringify(parsed).slice(0, MAX_ERROR_TEXT);
  return { status, message: text || `upstream answered HTTP ${status}`, type: errorTypeForStatus(status) };
}

/**
 * An OpenAI-shaped error response (`{"error":{message,type,param,code}}`) in
 * neutral form. A missing type is derived from the status.
 * https://platform.openai.com/docs/guides/error-codes
 */
export function openAIUpstreamError(status: number, body: unknown): UpstreamError {
  const error = envelopeErrorObject(body) as OpenAIErrorObject | undefined;
  if (!error) return plainUpstreamError(status, body);
  return {
    status,
    message: typeof error.message === 'string' ? error.message : '',
    type: typeof error.type === 'string' && error.type !== '' ? error.type : errorTypeForStatus(status),
    ...(typeof error.code === 'string' ? { code: error.code } : {}),
    ...(typeof error.param === 'string' ? { param: error.param } : {}),
  };
}

/** A stream chunk, the fields this translator reads. https://platform.openai.com/docs/api-reference/chat-streaming/streaming */
interface ChunkPassthrough {
  choices?: unknown[] | null;
  usage?: OpenAIUsage | null;
}

/** The `[DONE]` sentinel that ends an OpenAI stream. https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream */
const DONE = '[DONE]';

/**
 * OpenAI client → OpenAI-shaped upstream. One instance per attempt; it
 * remembers whether the client asked for usage, the usage seen, and whether
 * `[DONE]` was forwarded.
 */
export function createOpenAIChatToOpenAIChat(): Translator {
  let clientWantsUsage = false;
  let usage = emptyUsage();
  let doneSent = false;

  return {
    request(body, target) {
      const out: Record<string, unknown> = { ...body, model: target.model };
      if (target.stream) {
        const options = isObject(body.stream_options) ? body.stream_options : {};
        clientWantsUsage = options.include_usage === true;
        // Always ask for the final usage chunk, so the gateway can account streams.
        // https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options
        out.stream = true;
        out.stream_options = { ...options, include_usage: true };
      }
      return { path: '/chat/completions', body: out };
    },

    response(body) {
      const out = isObject(body) ? body : {};
      usage = usageFromOpenAI((out as ChunkPassthrough).usage);
      return { body: out, usage };
    },

    passthroughUsage(text) {
      const wire = lastObjectValue(text, 'usage');
      if (!wire || typeof wire.prompt_tokens !== 'number') return undefined;
      usage = usageFromOpenAI(wire as OpenAIUsage);
      return usage;
    },

    streamEvent(event) {
      if (event.data === DONE) {
        if (doneSent) return [];
        doneSent = true;
        return [event];
      }
      // Hot path: a chunk that carries no usage object is forwarded without parsing it.
      if (!event.data.includes('"usage"')) return [event];
      if (event.data.endsWith(',"usage":null}')) {
        return clientWantsUsage ? [event] : [{ ...event, data: `${event.data.slice(0, -',"usage":null}'.length)}}` }];
      }
      const chunk = parseJson(event.data);
      if (!isObject(chunk)) return [event];
      const { choices, usage: wire } = chunk as ChunkPassthrough;
      if (!isObject(wire)) {
        // With include_usage forced on, OpenAI adds `"usage": null` to every chunk; a client
        // that did not ask for usage gets the chunks it would have had without it.
        if (!clientWantsUsage && 'usage' in chunk) {
          const { usage: _null, ...rest } = chunk;
          return [{ ...event, data: JSON.stringify(rest) }];
        }
        return [event];
      }
      usage = usageFromOpenAI(wire);
      // Only the usage-only chunk is the one the client did not ask for; some
      // OpenAI-compatible servers send it with choices null or absent instead of [].
      // Azure's prompt_filter_results chunk also has choices: [] but no usage, so it is kept.
      // https://learn.microsoft.com/en-us/azure/ai-services/openai/concepts/content-filter
      const usageOnly = !Array.isArray(choices) || choices.length === 0;
      return usageOnly && !clientWantsUsage ? [] : [event];
    },

    streamEnd(complete): SseEvent[] {
      return complete && !doneSent ? [{ data: DONE }] : [];
    },

    usage() {
      return usage;
    },

    error(status, body) {
      return openAIUpstreamError(status, body);
    },
  };
}

/**
 * Anthropic Messages client → Anthropic upstream. A passthrough: the body goes
 * upstream with `model` replaced, events come back unchanged. Anthropic
 * streams always carry usage (message_start and message_delta), so nothing
 * has to be asked for or stripped.
 *
 * This file also owns the Anthropic wire pieces the cross-schema translators
 * share: the usage object and the error envelope.
 */
import type { SseEvent } from '../sse.js';
import type { Translator, UpstreamError } from '../translator.js';
import { emptyUsage, type Usage } from '../usage.js';
import { envelopeErrorObject, errorTypeForStatus, isObject, parseJson, plainUpstreamError } from './openai-chat__openai-chat.js';

/** Anthropic's usage object, the fields Sluice reads. https://docs.anthropic.com/en/api/messages#response-usage */
export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  output_tokens_details?: { thinking_tokens?: number } | null;
}

/** Anthropic's error object. https://docs.anthropic.com/en/api/errors */
export interface AnthropicErrorObject {
  type?: string;
  message?: string;
}

/** The stream event fields usage accounting reads. https://docs.anthropic.com/en/api/messages-streaming */
interface UsageEvent {
  type?: string;
  message?: { usage?: AnthropicUsage | null } | null;
  usage?: AnthropicUsage | null;
}

/**
 * Normalises Anthropic usage. Anthropic's `input_tokens` excludes cache reads
 * and writes; the prompt total is the sum of the three.
 * https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance
 */
export function usageFromAnthropic(usage: AnthropicUsage | null | undefined): Usage {
  const cacheRead = usage?.cache_read_input_tokens ?? 0;
  const cacheWrite = usage?.cache_creation_input_tokens ?? 0;
  return {
    ...emptyUsage(),
    promptTokens: (usage?.input_tokens ?? 0) + cacheRead + cacheWrite,
    completionTokens: usage?.output_tokens ?? 0,
    cachedTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    reasoningTokens: usage?.output_tokens_details?.thinking_tokens ?? 0,
  };
}

/**
 * Folds a stream event's usage into the usage seen so far. message_delta
 * counters are cumulative and absent or null when unchanged, so present ones
 * overwrite and absent ones keep the message_start value.
 * https://docs.anthropic.com/en/api/messages-streaming#event-types
 */
export function mergeAnthropicUsage(seen: AnthropicUsage, next: AnthropicUsage | null | undefined): AnthropicUsage {
  return {
    input_tokens: next?.input_tokens ?? seen.input_tokens,
    output_tokens: next?.output_tokens ?? seen.output_tokens,
    cache_creation_input_tokens: next?.cache_creation_input_tokens ?? seen.cache_creation_input_tokens,
    cache_read_input_tokens: next?.cache_read_input_tokens ?? seen.cache_read_input_tokens,
    output_tokens_details: next?.output_tokens_details ?? seen.output_tokens_details,
  };
}

/** The usage carried by a parsed stream event (message_start or message_delta), if any. */
export function streamEventUsage(event: unknown): AnthropicUsage | null | undefined {
  if (!isObject(event)) return undefined;
  const e = event as UsageEvent;
  if (e.type === 'message_start') return e.message?.usage;
  if (e.type === 'message_delta') return e.usage;
  return undefined;
}

/** Error types both APIs use with the same meaning. https://docs.anthropic.com/en/api/errors#http-errors */
export const SHARED_ERROR_TYPES: ReadonlySet<string> = new Set([
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'rate_limit_error',
  'api_error',
]);

/**
 * An Anthropic error object as an OpenAI-style type, keeping the Anthropic
 * type as `code` when it has no OpenAI equivalent (`overloaded_error`,
 * `billing_error`, `request_too_large`, `timeout_error`…), so a surface that
 * speaks Anthropic can restore it.
 */
export function anthropicErrorFields(error: AnthropicErrorObject, status: number): Omit<UpstreamError, 'status'> {
  const message = typeof error.message === 'string' ? error.message : '';
  const type = typeof error.type === 'string' ? error.type : '';
  if (SHARED_ERROR_TYPES.has(type)) return { message, type };
  return { message, type: errorTypeForStatus(status), ...(type ? { code: type } : {}) };
}

/**
 * An Anthropic error response (`{"type":"error","error":{type,message}}`) in
 * neutral form; the status is kept (529 for `overloaded_error`).
 * https://docs.anthropic.com/en/api/errors#error-shapes
 */
export function anthropicUpstreamError(status: number, body: unknown): UpstreamError {
  const error = envelopeErrorObject(body);
  if (!error) return plainUpstreamError(status, body);
  return { status, ...anthropicErrorFields(error as AnthropicErrorObject, status) };
}

/**
 * Anthropic client → Anthropic upstream. One instance per attempt; it holds
 * the usage seen in the stream so far.
 */
export function createAnthropicMessagesToAnthropicMessages(): Translator {
  let wire: AnthropicUsage = {};

  return {
    request(body, target) {
      const out: Record<string, unknown> = { ...body, model: target.model };
      if (target.stream) out.stream = true;
      return { path: '/messages', body: out };
    },

    response(body) {
      const out = isObject(body) ? body : {};
      wire = (out.usage as AnthropicUsage | undefined) ?? {};
      return { body: out, usage: usageFromAnthropic(wire) };
    },

    streamEvent(event): SseEvent[] {
      const next = streamEventUsage(parseJson(event.data));
      if (next) wire = mergeAnthropicUsage(wire, next);
      return [event];
    },

    streamEnd() {
      // Anthropic streams end with their own message_stop; there is no sentinel to add.
      return [];
    },

    usage() {
      return usageFromAnthropic(wire);
    },

    error(status, body) {
      return anthropicUpstreamError(status, body);
    },
  };
}

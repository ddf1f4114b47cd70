/**
 * The translator contract. A translator converts one request between the API
 * a client speaks and the API an upstream speaks, and converts the answer
 * (whole body or stream events) back.
 *
 * Lifetime: one translator instance per upstream attempt. It holds the
 * stream state (open content blocks, tool-call indexes, usage seen so far)
 * and is never shared between requests.
 *
 * The OpenAI Chat Completions shape is the lingua franca: a pair without a
 * direct translator is composed through it (see `composeTranslators`).
 */
import type { SseEvent } from './sse.js';
import type { Usage } from './usage.js';

/** The API schemas Sluice speaks, used in file names, the registry and golden directories. */
export type ApiSchema = 'openai-chat' | 'anthropic-messages' | 'gemini-generate' | 'openai-embeddings' | 'gemini-embed';

/** Client-facing schemas. */
export type ClientSchema = Extract<ApiSchema, 'openai-chat' | 'anthropic-messages' | 'openai-embeddings'>;

/** What the translator knows about the attempt. */
export interface TranslateTarget {
  /** Upstream model id (the Azure deployment for azure_openai). */
  model: string;
  /** Whether the client asked for a stream. */
  stream: boolean;
  /** Start of the attempt in Unix seconds, for the `created` field of translated answers (defaults to now). */
  created?: number;
}

/** One upstream call, relative to the provider's base URL. */
export interface UpstreamCall {
  /**
   * Path and query appended to the provider's base URL, e.g.
   * `/chat/completions`, `/messages`,
   * `/models/gemini-2.0-flash:streamGenerateContent?alt=sse`.
   * The provider descriptor adds authentication and API-version details.
   */
  path: string;
  /** JSON body. */
  body: Record<string, unknown>;
  /** Extra headers the translation needs (e.g. `anthropic-beta`), never credentials. */
  headers?: Record<string, string>;
}

/** A whole (non-streaming) response, translated to the client's schema. */
export interface TranslatedResponse {
  body: Record<string, unknown>;
  usage: Usage;
}

/** An upstream error, normalised so each client surface can render it in its own envelope. */
export interface UpstreamError {
  /** HTTP status to answer the client with (usually the upstream's). */
  status: number;
  /** The upstream's own message, kept verbatim. */
  message: string;
  /** OpenAI-style error type, e.g. `invalid_request_error`, `rate_limit_error`, `authentication_error`, `api_error`. */
  type: string;
  /** Machine code when the upstream gave one (e.g. `context_length_exceeded`). */
  code?: string;
  /** The offending parameter when the upstream named one. */
  param?: string;
}

/** Converts one request and its answer between a client schema and an upstream schema. */
export interface Translator {
  /** The upstream request for the client's body (already validated as JSON). */
  request(body: Record<string, unknown>, target: TranslateTarget): UpstreamCall;
  /** A whole upstream response body in the client's schema. */
  response(body: unknown): TranslatedResponse;
  /**
   * Only for translators that forward a whole response byte for byte: its usage
   * read from the text without parsing all of it, or undefined when that is not
   * possible (then `response` runs on the parsed body as usual).
   */
  passthroughUsage?(text: string): Usage | undefined;
  /**
   * One upstream stream event → zero or more client stream events, in order.
   * The translator asks the upstream for usage itself (in `request`) and drops
   * usage events the client did not ask for.
   */
  streamEvent(event: SseEvent): SseEvent[];
  /**
   * The stream ended (`complete`: the upstream finished normally; false when it
   * was cut or failed). Returns the closing client events, e.g. OpenAI's
   * `data: [DONE]`.
   */
  streamEnd(complete: boolean): SseEvent[];
  /** Usage of the response, or of the stream so far. */
  usage(): Usage;
  /** An upstream error response (status ≥ 400) in neutral form. */
  error(status: number, body: unknown): UpstreamError;
}

/** Builds a fresh translator for one attempt. */
export type TranslatorFactory = () => Translator;

/**
 * `outer` converts client → lingua franca, `inner` converts lingua franca →
 * upstream; the result converts client → upstream. Stream events flow
 * upstream → inner → outer; usage and errors come from `inner`, which sees the
 * upstream.
 */
export function composeTranslators(outer: Translator, inner: Translator): Translator {
  return {
    request(body, target) {
      return inner.request(outer.request(body, target).body, target);
    },
    response(body) {
      const mid = inner.response(body);
      return { body: outer.response(mid.body).body, usage: mid.usage };
    },
    streamEvent(event) {
      return inner.streamEvent(event).flatMap((e) => outer.streamEvent(e));
    },
    streamEnd(complete) {
      const tail = inner.streamEnd(complete).flatMap((e) => outer.streamEvent(e));
      return [...tail, ...outer.streamEnd(complete)];
    },
    usage() {
      return inner.usage();
    },
    error(status, body) {
      return inner.error(status, body);
    },
  };
}

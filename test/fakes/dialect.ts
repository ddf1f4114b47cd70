/**
 * The contract between the fake-upstream core and each provider dialect
 * (OpenAI, Azure OpenAI, Anthropic, Gemini). The core owns the server,
 * recording, steering, delays and faults; a dialect owns everything that is
 * wire format: paths, authentication, validation, bodies, errors, headers and
 * stream framing.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isRecord, type FakeReply } from './behaviour.js';

/** A request as dialects see it. */
export interface FakeRequest {
  method: string;
  /** Percent-decoded path. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; `undefined` when empty or not JSON. */
  body: unknown;
}

/** A provider-neutral error, rendered by the dialect in its own envelope. */
export interface ErrorSpec {
  status: number;
  message: string;
  /** OpenAI `type`, Anthropic `error.type`; when absent the dialect picks one from the status (Azure: its platform envelope). */
  type?: string;
  param?: string | null;
  code?: string | null;
  /** Gemini `error.details`. */
  details?: unknown[];
}

/** One stream event before framing: the SSE `event:` name (Anthropic only) and the data text. */
export interface StreamEvent {
  event?: string;
  data: string;
}

/** How a dialect puts events on the wire. */
export interface Framing {
  contentType: string;
  /** The bytes for event number `index` (0-based, counting every event written). */
  frame(event: StreamEvent, index: number): string;
  /** Written after the last event of a stream that ends normally. */
  end: string;
}

/** What an endpoint answers with on success. */
export type Answer = { kind: 'json'; body: unknown } | { kind: 'stream'; framing: Framing; events: StreamEvent[] };

/** Per-request facilities the core hands to an endpoint. */
export interface AnswerContext {
  /** Fresh ids, unique within the fake: `ids('call_')` → `call_000…1`. */
  ids: (prefix: string) => string;
  reply: FakeReply | undefined;
}

/** One served operation, matched by the dialect's router. */
export interface Endpoint {
  /** The model named by the path or body, read for model-name steering. */
  model: string | undefined;
  /** The provider's 400 for what the real API would reject, or undefined. */
  validate(request: FakeRequest): ErrorSpec | undefined;
  answer(request: FakeRequest, context: AnswerContext): Answer;
}

/** Values a dialect needs to build its response headers. */
export interface HeaderContext {
  requestId: string;
  status: number;
  retryAfter: number | string | undefined;
}

/** A provider's wire format. Stateless; one instance serves every request of a fake. */
export interface Dialect {
  /** Path the SDK / gateway base URL ends with (`/v1`, `/v1beta`, or empty). */
  basePath: string;
  /** The endpoint for a method and path, or undefined to answer `notFound`. */
  route(request: FakeRequest): Endpoint | undefined;
  /** The provider's answer to missing or unknown credentials; `apiKeys` undefined accepts any non-empty key. */
  authenticate(request: FakeRequest, apiKeys: readonly string[] | undefined): ErrorSpec | undefined;
  notFound(request: FakeRequest): ErrorSpec;
  /** The body was not JSON. */
  invalidJson(): ErrorSpec;
  /** The provider's usual error for a status forced by steering (with the `retry-after` the response will carry). */
  statusError(status: number, retryAfter: number | string | undefined): ErrorSpec;
  /** Status of the default mid-stream error (`errorAt`). */
  midStreamStatus: number;
  /** The error envelope. */
  errorBody(spec: ErrorSpec, requestId: string): unknown;
  /** A mid-stream error event whose data is `data`. */
  streamError(data: string): StreamEvent;
  /** `content-type` of whole JSON responses. */
  jsonContentType: string;
  headers(context: HeaderContext): Record<string, string>;
}

/** `data: …` events separated by a blank line (OpenAI). */
export const dataOnlySse: Framing = {
  contentType: 'text/event-stream; charset=utf-8',
  frame: (event) => `data: ${event.data}\n\n`,
  end: '',
};

/** `event: …` and `data: …` lines separated by a blank line (Anthropic). */
export const namedEventSse: Framing = {
  contentType: 'text/event-stream; charset=utf-8',
  frame: (event) => `event: ${event.event ?? 'message'}\ndata: ${event.data}\n\n`,
  end: '',
};

/** Gemini's `alt=sse`: `data: …` with CRLF line endings, as Google sends them. */
export const crlfDataSse: Framing = {
  contentType: 'text/event-stream',
  frame: (event) => `data: ${event.data}\r\n\r\n`,
  end: '',
};

/** Gemini's default `streamGenerateContent` framing: one JSON array written element by element. */
export const jsonArrayStream: Framing = {
  contentType: 'application/json; charset=UTF-8',
  frame: (event, index) => `${index === 0 ? '[' : ',\r\n'}${event.data}`,
  end: ']',
};

/** A `retry-after` header value, or nothing. */
export function retryAfterHeader(retryAfter: number | string | undefined): Record<string, string> {
  return retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
}

/** A header's first value. */
export function header(request: FakeRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether `key` is acceptable: any non-empty key, or one of `apiKeys` when given. */
export function keyAccepted(key: string, apiKeys: readonly string[] | undefined): boolean {
  return apiKeys ? apiKeys.includes(key) : key.length > 0;
}

/** The objects of a JSON array (other elements and non-arrays are skipped). */
export function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** A non-negative integer, or undefined. */
export function optionalCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** The strings of a string-or-array field (`stop`, `stop_sequences`, `stopSequences`). */
export function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** JSON type name as validation messages say it: "a string", "an object"… */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  return typeof value;
}

/**
 * What a fake upstream does with one request, and the three ways to say it:
 * programmatically (`enqueue` / `setDefault`), with `x-fake-*` request
 * headers, and with tokens in the model name (for clients whose headers the
 * gateway strips). See README.md in this directory for the full table.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** A tool call the fake should make instead of the ones it would derive from the request. */
export interface FakeToolCall {
  name: string;
  /** An object is serialised as JSON; a string is sent verbatim (so it may be invalid JSON on purpose). */
  arguments?: Record<string, unknown> | string;
}

/**
 * Token counts placed verbatim in the provider's own usage fields; a count
 * left out is computed from the request and the reply.
 */
export interface FakeUsage {
  /** OpenAI `prompt_tokens`, Anthropic `input_tokens`, Gemini `promptTokenCount`. */
  inputTokens?: number;
  /** OpenAI `completion_tokens`, Anthropic `output_tokens`, Gemini `candidatesTokenCount`. */
  outputTokens?: number;
  /** OpenAI `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`, Gemini `cachedContentTokenCount`. */
  cachedTokens?: number;
  /** Anthropic `cache_creation_input_tokens` (other providers have no such field). */
  cacheCreationTokens?: number;
  /** OpenAI `completion_tokens_details.reasoning_tokens`, Anthropic `output_tokens_details.thinking_tokens`, Gemini `thoughtsTokenCount`. */
  reasoningTokens?: number;
}

/** What a successful completion says, overriding the fake's derived reply field by field. */
export interface FakeReply {
  text?: string;
  /** Replaces the tool calls derived from "call <tool>"; `[]` means none. */
  toolCalls?: FakeToolCall[];
  usage?: FakeUsage;
  /** Sent verbatim as the provider's finish / stop reason (e.g. `content_filter`, `refusal`, `SAFETY`). */
  finishReason?: string;
}

/**
 * One request's behaviour. Layers are merged field by field, later winning:
 * `setDefault` ← model-name tokens ← the next `enqueue`d behaviour ← `x-fake-*` headers.
 */
export interface FakeBehaviour {
  /** Answer with this HTTP error status (400–599) in the provider's error envelope (or `errorBody`). */
  status?: number;
  /** `retry-after` value (seconds or an HTTP date) added to the response. */
  retryAfter?: number | string;
  /** Milliseconds to wait before the first byte of the response (headers included). */
  delayMs?: number;
  /** Milliseconds to wait between stream events. */
  chunkDelayMs?: number;
  /**
   * Close the socket abruptly after this many stream events (0: before any
   * byte, a connection error). A whole JSON response with N > 0 is cut after
   * its headers and half its body.
   */
  cutAfter?: number;
  /** Insert one malformed (truncated JSON) event before the stream's event N (0-based). */
  malformedAt?: number;
  /** Replace the stream from event N (0-based) on with the provider's mid-stream error event, then end the stream. */
  errorAt?: number;
  /** A JSON subset the request body must contain; otherwise a 400 in the provider's envelope names the first mismatch. */
  expect?: unknown;
  /** Overrides for the successful reply. */
  reply?: FakeReply;
  /** Body sent instead of the provider's default error (for `status`, and in the `errorAt` event). A string is sent raw as HTML. */
  errorBody?: unknown;
}

/** An `x-fake-*` header the fake could not read; answered with a 400 naming the header. */
export class FakeSteeringError extends Error {
  constructor(
    readonly header: string,
    message: string,
  ) {
    super(message);
    this.name = 'FakeSteeringError';
  }
}

/** Integer-valued knobs, as header names and model-name tokens. */
const INTEGER_KNOBS = [
  { key: 'status', header: 'x-fake-status', token: 'fail' },
  { key: 'delayMs', header: 'x-fake-delay-ms', token: 'slow' },
  { key: 'chunkDelayMs', header: 'x-fake-chunk-delay-ms', token: 'chunk-delay' },
  { key: 'cutAfter', header: 'x-fake-cut-after', token: 'cut-after' },
  { key: 'malformedAt', header: 'x-fake-malformed', token: 'malformed' },
  { key: 'errorAt', header: 'x-fake-error-at', token: 'error-at' },
  { key: 'retryAfter', header: 'x-fake-retry-after', token: 'retry-after' },
] as const;

function isErrorStatus(n: number): boolean {
  return n >= 400 && n <= 599;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseJsonHeader(name: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new FakeSteeringError(name, `${name} must be JSON, got ${JSON.stringify(value)}`);
  }
}

/**
 * Reads the `x-fake-*` headers of one request.
 * @throws FakeSteeringError when a header's value cannot be used.
 */
export function behaviourFromHeaders(headers: IncomingHttpHeaders): FakeBehaviour {
  const behaviour: FakeBehaviour = {};
  for (const knob of INTEGER_KNOBS) {
    const value = headerValue(headers, knob.header)?.trim();
    if (value === undefined) continue;
    if (knob.key === 'retryAfter' && !/^\d+$/.test(value)) {
      // An HTTP-date is a valid Retry-After too; pass it through untouched.
      behaviour.retryAfter = value;
      continue;
    }
    if (!/^\d+$/.test(value)) throw new FakeSteeringError(knob.header, `${knob.header} must be a non-negative integer, got ${JSON.stringify(value)}`);
    const n = Number(value);
    if (knob.key === 'status' && !isErrorStatus(n)) throw new FakeSteeringError(knob.header, `${knob.header} must be an HTTP error status (400-599), got ${n}`);
    behaviour[knob.key] = n;
  }
  const expect = headerValue(headers, 'x-fake-expect');
  if (expect !== undefined) behaviour.expect = parseJsonHeader('x-fake-expect', expect);
  const errorBody = headerValue(headers, 'x-fake-error-body');
  if (errorBody !== undefined) behaviour.errorBody = parseJsonHeader('x-fake-error-body', errorBody);
  const reply = headerValue(headers, 'x-fake-reply');
  if (reply !== undefined) behaviour.reply = readReply(parseJsonHeader('x-fake-reply', reply));
  return behaviour;
}

function readReply(value: unknown): FakeReply {
  const bad = (what: string): never => {
    throw new FakeSteeringError('x-fake-reply', `x-fake-reply: ${what}`);
  };
  if (!isRecord(value)) return bad('must be a JSON object');
  const reply: FakeReply = {};
  if (value.text !== undefined) reply.text = typeof value.text === 'string' ? value.text : bad('text must be a string');
  if (value.finishReason !== undefined) reply.finishReason = typeof value.finishReason === 'string' ? value.finishReason : bad('finishReason must be a string');
  if (value.toolCalls !== undefined) {
    if (!Array.isArray(value.toolCalls)) return bad('toolCalls must be an array');
    reply.toolCalls = value.toolCalls.map((call: unknown, i) => {
      if (!isRecord(call) || typeof call.name !== 'string') return bad(`toolCalls[${i}].name must be a string`);
      const args = call.arguments;
      if (args === undefined) return { name: call.name };
      if (typeof args === 'string' || isRecord(args)) return { name: call.name, arguments: args };
      return bad(`toolCalls[${i}].arguments must be an object or a string`);
    });
  }
  if (value.usage !== undefined) {
    if (!isRecord(value.usage)) return bad('usage must be an object');
    const usage: FakeUsage = {};
    for (const key of ['inputTokens', 'outputTokens', 'cachedTokens', 'cacheCreationTokens', 'reasoningTokens'] as const) {
      const n = value.usage[key];
      if (n === undefined) continue;
      usage[key] = typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : bad(`usage.${key} must be a non-negative integer`);
    }
    reply.usage = usage;
  }
  return reply;
}

/**
 * Reads the steering tokens of a model name, e.g. `gpt-4o-fail-429`,
 * `claude-slow-300`, `gemini-cut-after-3-chunk-delay-50`. A token is
 * `<knob>-<integer>` delimited by the start or end of the name or by a
 * character other than a letter or digit. `fail-<n>` counts only for 400–599.
 */
export function behaviourFromModel(model: string | undefined): FakeBehaviour {
  const behaviour: FakeBehaviour = {};
  if (!model) return behaviour;
  for (const knob of INTEGER_KNOBS) {
    const match = new RegExp(`(?:^|[^a-z0-9])${knob.token}-(\\d+)(?![0-9])`, 'i').exec(model);
    if (!match?.[1]) continue;
    const n = Number(match[1]);
    if (knob.key === 'status' && !isErrorStatus(n)) continue;
    behaviour[knob.key] = n;
  }
  return behaviour;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Merges behaviour layers field by field (and `reply` field by field); later layers win, `undefined` never overrides. */
export function mergeBehaviours(...layers: (FakeBehaviour | undefined)[]): FakeBehaviour {
  const merged: FakeBehaviour = {};
  for (const layer of layers) {
    if (!layer) continue;
    const { reply, ...rest } = layer;
    Object.assign(merged, definedOnly(rest));
    if (reply) merged.reply = { ...merged.reply, ...definedOnly(reply) };
  }
  return merged;
}

/** The first place where a request body does not contain an expected JSON subset. */
export interface ExpectMismatch {
  /** `messages[0].role` style; empty for the body itself. */
  path: string;
  detail: string;
}

/**
 * Checks that `actual` contains `expected`: objects need every expected key
 * (recursively, extra keys allowed), arrays need the same length with each
 * element matching, other values must be equal.
 */
export function findMismatch(expected: unknown, actual: unknown, path = ''): ExpectMismatch | undefined {
  if (isRecord(expected)) {
    if (!isRecord(actual)) return { path, detail: `expected an object, got ${describe(actual)}` };
    for (const [key, value] of Object.entries(expected)) {
      const at = path ? `${path}.${key}` : key;
      if (!(key in actual)) return { path: at, detail: `expected ${describe(value)}, but the field is missing` };
      const mismatch = findMismatch(value, actual[key], at);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return { path, detail: `expected an array, got ${describe(actual)}` };
    if (actual.length !== expected.length) return { path, detail: `expected ${expected.length} items, got ${actual.length}` };
    for (const [i, value] of expected.entries()) {
      const mismatch = findMismatch(value, actual[i], `${path}[${i}]`);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  return expected === actual ? undefined : { path, detail: `expected ${describe(expected)}, got ${describe(actual)}` };
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** A JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

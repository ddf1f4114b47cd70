/**
 * OTLP spans (the OTLP/HTTP JSON encoding) of a settled request: one SERVER
 * span for the request and one CLIENT child span per provider attempt, with
 * the OpenTelemetry GenAI attributes (`gen_ai.operation.name`,
 * `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`,
 * `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, …) plus
 * `sluice.*` ones. A valid W3C `traceparent` request header makes the
 * request span a child of the caller's span.
 */
import { randomFillSync } from 'node:crypto';
import type { Endpoint, ProxyContext } from '../../policy/context.js';
import { genAiProviderName } from '../prometheus/metrics.js';
import { requestCostNanos } from '../metrics/rollup.js';

/** An OTLP `AnyValue` in its JSON form. */
export type OtlpValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

/** An OTLP span in its JSON form (ids hex, times decimal nanoseconds). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 2 = SERVER, 3 = CLIENT. */
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  /** 1 = OK, 2 = ERROR. */
  status: { code: number; message?: string };
}

const OPERATION: Record<Endpoint, string> = { chat_completions: 'chat', messages: 'chat', embeddings: 'embeddings' };
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** Epoch ms (integers, from `Date.now()`) as decimal nanoseconds. */
const nanos = (ms: number): string => (Number.isInteger(ms) ? `${ms}000000` : (BigInt(Math.round(ms * 1000)) * 1000n).toString());

/** Random ids from a pooled buffer: one `randomFillSync` per 4 KiB instead of one call per id. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const hex = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
}

function attrs(values: Record<string, string | number | boolean | undefined>): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const [key, v] of Object.entries(values)) {
    if (v === undefined || v === '') continue;
    if (typeof v === 'string') out.push({ key, value: { stringValue: v } });
    else if (typeof v === 'boolean') out.push({ key, value: { boolValue: v } });
    else if (Number.isInteger(v)) out.push({ key, value: { intValue: String(v) } });
    else out.push({ key, value: { doubleValue: v } });
  }
  return out;
}

/** The caller's trace and span ids from a valid `traceparent` header (all-zero ids are invalid). */
export function parentOf(header: string | string[] | undefined): { traceId: string; spanId: string } | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]! };
}

/** The request span and its attempt spans. */
export function spansOf(ctx: ProxyContext): OtlpSpan[] {
  const parent = parentOf(ctx.headers.traceparent);
  const traceId = parent?.traceId ?? randomHex(16);
  const spanId = randomHex(8);
  const operation = OPERATION[ctx.endpoint];
  const status = ctx.status ?? (ctx.clientAborted ? 499 : 500);
  const finishedAt = ctx.finishedAt ?? Date.now();
  const served = ctx.served;
  const usage = served ? ctx.usage : undefined;
  const errorType = status >= 400 ? (ctx.error?.details.code ?? String(status)) : undefined;
  const cost = requestCostNanos(ctx);
  const request: OtlpSpan = {
    traceId,
    spanId,
    parentSpanId: parent?.spanId,
    name: ctx.requestedModel ? `${operation} ${ctx.requestedModel}` : operation,
    kind: 2,
    startTimeUnixNano: nanos(ctx.startedAt),
    endTimeUnixNano: nanos(finishedAt),
    attributes: attrs({
      'gen_ai.operation.name': operation,
      'gen_ai.provider.name': served ? genAiProviderName(ctx, served.provider) : undefined,
      'gen_ai.request.model': ctx.requestedModel,
      'gen_ai.response.model': served?.model,
      'gen_ai.usage.input_tokens': usage?.promptTokens,
      'gen_ai.usage.output_tokens': usage?.completionTokens,
      'gen_ai.usage.cache_read.input_tokens': usage?.cachedTokens || undefined,
      'gen_ai.usage.reasoning.output_tokens': usage?.reasoningTokens || undefined,
      'gen_ai.request.stream': ctx.stream,
      'http.request.method': ctx.method,
      'url.path': ctx.path,
      'http.response.status_code': status,
      'error.type': errorType,
      'sluice.request_id': ctx.requestId,
      'sluice.workspace': (ctx.gateway?.workspace ?? ctx.key?.workspace)?.name,
      'sluice.gateway': ctx.gateway?.name ?? ctx.gatewayName,
      'sluice.api_key.id': ctx.key?.id,
      'sluice.route': ctx.route?.name,
      'sluice.provider': served?.provider,
      'sluice.rejected_stage': ctx.rejectedStage,
      'sluice.attempts': ctx.attempts.length,
      'sluice.cost_usd': cost > 0n ? Number(cost) / 1e9 : undefined,
      'sluice.client_aborted': ctx.clientAborted || undefined,
      'sluice.time_to_first_token_ms': ctx.firstByteAt !== undefined ? ctx.firstByteAt - ctx.startedAt : undefined,
    }),
    status: status >= 500 ? { code: 2, message: ctx.error?.message ?? `HTTP ${status}` } : { code: 0 },
  };
  const spans = [request];
  let cursor = ctx.startedAt;
  for (const [i, a] of ctx.attempts.entries()) {
    // Attempts run one after another: without a recorded start, one starts where the previous ended.
    const start = a.startedAt ?? cursor;
    cursor = start + a.latencyMs;
    const failed = a.status === 0 || a.status >= 400;
    spans.push({
      traceId,
      spanId: randomHex(8),
      parentSpanId: spanId,
      name: `${operation} ${a.model}`,
      kind: 3,
      startTimeUnixNano: nanos(start),
      endTimeUnixNano: nanos(start + a.latencyMs),
      attributes: attrs({
        'gen_ai.operation.name': operation,
        'gen_ai.provider.name': genAiProviderName(ctx, a.provider),
        'gen_ai.request.model': a.model,
        'gen_ai.response.model': served && i === ctx.attempts.length - 1 && !failed ? served.model : undefined,
        'gen_ai.usage.input_tokens': !failed && i === ctx.attempts.length - 1 ? usage?.promptTokens : undefined,
        'gen_ai.usage.output_tokens': !failed && i === ctx.attempts.length - 1 ? usage?.completionTokens : undefined,
        'http.response.status_code': a.status || undefined,
        'error.type': failed ? (a.errorCode ?? (a.status ? String(a.status) : 'connection_error')) : undefined,
        'sluice.provider': a.provider,
        'sluice.attempt': i + 1,
        'sluice.fallback_reason': a.fallbackReason,
      }),
      status: failed ? { code: 2, message: a.errorCode ?? `HTTP ${a.status}` } : { code: 0 },
    });
  }
  return spans;
}

/**
 * The request-log record of one settled `ProxyContext`, served or rejected.
 * Built synchronously in the settle hook, so it only copies what the context
 * holds; headers and bodies are serialised only when recording is on.
 */
import type { LimitOutcomeDoc } from '../../db/entities.js';
import type { LimitOutcome, ProxyContext } from '../../policy/context.js';
import { errorBody, httpStatusOf } from '../../proxy/envelopes.js';
import { servedHeaders } from '../../proxy/forward.js';
import { costNanos } from '../pricing/cost.js';
import { redactHeaders } from './redact.js';
import { reassembleStream } from './reassemble.js';
import { completionText, promptText } from './search-text.js';
import type { RequestLogDoc } from './types.js';

/**
 * Request headers carrying the conversation (session) id, first match wins:
 * Sluice's own, then common spellings clients already send.
 */
export const CONVERSATION_HEADERS = ['x-sluice-conversation-id', 'x-conversation-id', 'x-session-id'] as const;

/** Recorded bodies longer than this (UTF-16 code units of their JSON text) are cut, and the record says so. */
export const DEFAULT_MAX_RECORDED_BODY_CHARS = 1_048_576;

/** Status recorded for a request whose client left before any answer was written (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

const MAX_CONVERSATION_ID = 255;

export interface RequestRecordOptions {
  maxBodyChars?: number;
}

function conversationId(ctx: ProxyContext): string {
  for (const name of CONVERSATION_HEADERS) {
    const v = ctx.headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value) return value.slice(0, MAX_CONVERSATION_ID);
  }
  return '';
}

function outcomes(list: readonly LimitOutcome[] | undefined, kind: LimitOutcome['kind']): LimitOutcomeDoc[] {
  if (!list) return [];
  return list.filter((o) => o.kind === kind).map((o) => ({ name: o.name, outcome: o.outcome, key: o.key, remaining: String(o.remaining) }));
}

/** Whether the request's headers and bodies are recorded: the gateway records, or a provider it tried does. */
export function isRecorded(ctx: ProxyContext): boolean {
  const gateway = ctx.gateway;
  if (!gateway) return false;
  if (gateway.recordBodies) return true;
  const providers = gateway.workspace.providers;
  return ctx.attempts.some((a) => providers.get(a.provider)?.recordBodies === true);
}

/** The answer as sent: the captured JSON, the reassembled stream, or the error envelope. */
function responseBodyOf(ctx: ProxyContext): unknown {
  const captured = ctx.responseCapture;
  if (captured && captured.length) {
    if (!ctx.stream) {
      try {
        return JSON.parse(captured[0]!) as unknown;
      } catch {
        return captured[0];
      }
    }
    return reassembleStream(ctx.surface, captured);
  }
  if (ctx.error) return errorBody(ctx.surface, ctx.error);
  return null;
}

function responseHeadersOf(ctx: ProxyContext, status: number): Record<string, string> {
  const headers: Record<string, string> = { 'x-request-id': ctx.requestId, ...servedHeaders(ctx) };
  if (status === 200) headers['content-type'] = ctx.stream ? 'text/event-stream; charset=utf-8' : 'application/json';
  else if (status !== CLIENT_CLOSED_STATUS) headers['content-type'] = 'application/json';
  const retryAfter = ctx.error?.details.retryAfterSeconds;
  if (retryAfter !== undefined && ctx.error && !ctx.served) headers['retry-after'] = String(retryAfter);
  return headers;
}

/** Builds the record; never throws for a well-formed context. */
export function requestLogRecord(ctx: ProxyContext, options: RequestRecordOptions = {}): RequestLogDoc {
  const gateway = ctx.gateway;
  const served = ctx.served;
  const usage = ctx.usage;
  const error = ctx.error;
  const status = ctx.status ?? (error ? httpStatusOf(error) : ctx.clientAborted ? CLIENT_CLOSED_STATUS : 0);
  let cost = '0';
  if (served && usage && gateway) {
    const price = gateway.pricedModels.get(`${served.provider}/${served.model}`)?.modelPrice;
    if (price) cost = costNanos(usage, price).toString();
  }
  const doc: RequestLogDoc = {
    id: ctx.requestId,
    time: ctx.startedAt,
    workspaceId: ctx.key?.workspace.id ?? gateway?.workspace.id ?? '',
    // Client-controlled values (URL gateway name, requested model) are cut to their column sizes.
    gateway: (gateway?.name ?? ctx.gatewayName ?? '').slice(0, 63),
    apiKeyId: ctx.key?.id ?? '',
    apiKeyPrefix: ctx.key?.prefix ?? '',
    endpoint: ctx.endpoint,
    requestedModel: ctx.requestedModel.slice(0, 255),
    provider: served?.provider ?? '',
    model: (served?.model ?? '').slice(0, 255),
    route: ctx.route?.name ?? '',
    celResults: { ...ctx.celResults },
    attempts: ctx.attempts.map((a) => ({ ...a })),
    status,
    errorCode: error ? (error.details.code ?? error.kind).slice(0, 64) : '',
    errorMessage: error?.message ?? '',
    rejectedStage: ctx.rejectedStage ?? '',
    latencyMs: Math.max(0, (ctx.finishedAt ?? Date.now()) - ctx.startedAt),
    ttftMs: ctx.firstByteAt ? Math.max(0, ctx.firstByteAt - ctx.startedAt) : 0,
    promptTokens: usage?.promptTokens ?? 0,
    completionTokens: usage?.completionTokens ?? 0,
    cachedTokens: usage?.cachedTokens ?? 0,
    reasoningTokens: usage?.reasoningTokens ?? 0,
    cacheWriteTokens: usage?.cacheWriteTokens ?? 0,
    costNanos: cost,
    rateLimits: outcomes(ctx.limitOutcomes, 'rate'),
    spendLimits: outcomes(ctx.limitOutcomes, 'spend'),
    conversationId: conversationId(ctx),
    streamed: ctx.stream,
    clientAborted: ctx.clientAborted === true,
    bodiesTruncated: false,
    requestHeaders: null,
    responseHeaders: null,
    requestBody: null,
    responseBody: null,
    searchText: null,
  };
  if (isRecorded(ctx)) recordBodies(ctx, doc, status, options.maxBodyChars ?? DEFAULT_MAX_RECORDED_BODY_CHARS);
  return doc;
}

function recordBodies(ctx: ProxyContext, doc: RequestLogDoc, status: number, max: number): void {
  const cut = (text: string): string => {
    if (text.length <= max) return text;
    doc.bodiesTruncated = true;
    return text.slice(0, max);
  };
  const response = responseBodyOf(ctx);
  doc.requestHeaders = JSON.stringify(redactHeaders(ctx.headers));
  doc.responseHeaders = JSON.stringify(redactHeaders(responseHeadersOf(ctx, status)));
  doc.requestBody = cut(JSON.stringify(ctx.body));
  doc.responseBody = response === null ? null : cut(JSON.stringify(response));
  const text = [...promptText(ctx.body), ...(response && typeof response === 'object' ? completionText(response as Record<string, unknown>) : [])];
  doc.searchText = cut(text.filter(Boolean).join('\n'));
}

/**
 * What the rate-limit and spend-limit stages share: the request's admission
 * (what they charged, on `ctx.admission`, read back by the settle hook), scope values and
 * counter keys, the request's worst-case token count, and the store-failure
 * policy.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { estimatePromptTokens } from '../../observability/pricing/cost.js';
import type { ProxyContext } from '../context.js';
import { decideOnStoreError, type FailureMode } from '../counters/errors.js';
import type { CounterStore } from '../counters/types.js';
import { celContext } from '../stages.js';
import type { RuntimeLimitScope } from './config.js';

/**
 * Output tokens assumed for a request that sets neither `max_completion_tokens`
 * nor `max_tokens` (per choice): what token limits and budgets reserve for
 * it. A reply longer than this is still settled at its real usage, so such a
 * request can take more than it reserved.
 */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

/** Where the limit stages log: warnings only (store outages, unpriced models, settlement failures). */
export type LimitLogger = Pick<FastifyBaseLogger, 'warn'>;

/** What the limit hooks need. */
export interface LimitDeps {
  store: CounterStore;
  log: LimitLogger;
  /** Clock for spend periods; default `Date.now`. */
  now?: () => number;
}

/** A token limit charged at admission: the worst case reserved, corrected at settlement. */
export interface TokenCharge {
  key: string;
  windowMs: number;
  reserved: number;
}

/** What admission charged for one request; the settle hook replaces it with the real usage. */
export interface Admission {
  /** `estimatePromptTokens(body)`, computed once per request. */
  promptTokens?: number;
  rates?: { atMs: number; charges: TokenCharge[] };
  budget?: { reservationId: string; reservedNanos: bigint };
}

/**
 * The admission of `ctx`, created on first use. It lives on the context (`ctx.admission`), not in a
 * WeakMap keyed by it: the WeakMap's entries outlived their requests in the young GC (with the route
 * plans' WeakMap, ≈ 20 % more bytes promoted per scavenge at 2,000 req/s).
 */
export function admissionOf(ctx: ProxyContext): Admission {
  return (ctx.admission ??= {});
}

/** The request's estimated prompt tokens (cached on its admission). */
export function promptTokensOf(ctx: ProxyContext): number {
  const admission = admissionOf(ctx);
  return (admission.promptTokens ??= estimatePromptTokens(ctx.body));
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * The most output tokens the request can produce: `max_completion_tokens` or
 * `max_tokens` (else `DEFAULT_MAX_OUTPUT_TOKENS`) times OpenAI's `n`; 0 for
 * embeddings.
 */
export function maxOutputTokens(ctx: ProxyContext): number {
  if (ctx.endpoint === 'embeddings') return 0;
  const perChoice = positiveInteger(ctx.body.max_completion_tokens) ?? positiveInteger(ctx.body.max_tokens) ?? DEFAULT_MAX_OUTPUT_TOKENS;
  return perChoice * (positiveInteger(ctx.body.n) ?? 1);
}

/** A CEL key value as a counter key part: strings as they are, numbers and booleans in their JSON form. */
function keyOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * The counter this request shares under `scope`: the workspace, gateway or
 * key id, or the value of the key expression (evaluated against the
 * requested model). An expression that fails at run time or yields no
 * usable key means the limit does not apply to this request; the outcome is
 * recorded in `ctx.celResults[label]` either way.
 */
export function scopeValue(scope: RuntimeLimitScope, ctx: ProxyContext, label: string): string | undefined {
  switch (scope.kind) {
    case 'workspace':
      return `w:${ctx.gateway!.workspace.id}`;
    case 'gateway':
      return `g:${ctx.gateway!.id}`;
    case 'key':
      return `k:${ctx.key!.id}`;
    case 'expr': {
      const result = scope.expr.evaluate(celContext(ctx, ctx.requestedModel));
      if (!result.ok) {
        ctx.celResults[label] = `error: ${result.error.split('\n')[0]}`;
        return undefined;
      }
      const value = keyOf(result.value);
      ctx.celResults[label] = value === undefined ? `error: not a key: ${JSON.stringify(result.value)}` : value;
      if (value === undefined) return undefined;
      return exprScopeValue(value);
    }
  }
}

/** The scope value of a key expression's result (`e:<value>`); counter keys are capped at 1024 characters, so long values are hashed. */
export function exprScopeValue(value: string): string {
  return value.length > 512 ? `h:${createHash('sha256').update(value).digest('hex')}` : `e:${value}`;
}

/** `<limit id>:<scope value>`: a changed scope starts a new counter. */
export function counterKey(limitId: string, scope: string): string {
  return `${limitId}:${scope}`;
}

/** Calls `fn` at most once per `intervalMs`, passing how many calls were dropped since the last one. */
export function throttled<A extends unknown[]>(intervalMs: number, fn: (suppressed: number, ...args: A) => void): (...args: A) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (...args) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed += 1;
      return;
    }
    last = now;
    fn(suppressed, ...args);
    suppressed = 0;
  };
}

/** Reports a store outage seen by a limit stage: what was done, for which request. */
export type StoreFailureReporter = (err: unknown, requestId: string, admitted: boolean) => void;

/** A throttled reporter (one line per 10 s per stage) for store outages. */
export function storeFailureReporter(log: LimitLogger, stage: string): StoreFailureReporter {
  return throttled(10_000, (suppressed: number, err: unknown, requestId: string, admitted: boolean) => {
    log.warn({ err, requestId, suppressed }, `${stage}: counter store unavailable, ${admitted ? 'admitting (fail_open)' : 'rejecting (fail_closed)'}`);
  });
}

/**
 * Applies the limits' failure modes to a store error: when any applicable
 * limit is `fail_closed` the request is rejected (503
 * `counter_store_unavailable`), otherwise it is admitted unlimited. Either
 * way the outage is reported. Errors other than a store outage are rethrown.
 */
export function admitOnStoreFailure(modes: readonly FailureMode[], err: unknown, ctx: ProxyContext, report: StoreFailureReporter): void {
  const decision = decideOnStoreError(modes.includes('fail_closed') ? 'fail_closed' : 'fail_open', err);
  report(decision.error.cause ?? decision.error, ctx.requestId, decision.admit);
  if (!decision.admit) throw decision.error;
}

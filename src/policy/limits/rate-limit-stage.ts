/**
 * The rate_limit stage: every rate limit of the gateway that applies to the
 * request is checked and charged in one atomic `checkRates` call (all or
 * nothing). A request limit costs 1; a token limit reserves the request's
 * worst case (`estimatePromptTokens(body)` plus `maxOutputTokens`), which the
 * settle hook corrects with the real usage. Over a limit → 429
 * `rate_limit_exceeded` with `Retry-After`, before any provider is called.
 *
 * Every answer, served or rejected, carries OpenAI's headers for the most
 * restrictive limit of each unit: `x-ratelimit-limit-requests`,
 * `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` and the
 * `-tokens` variants; resets are durations as OpenAI writes them (`20ms`,
 * `1s`, `6m0s`, `1h0m0s`).
 */
import { SluiceError } from '../../errors.js';
import type { ProxyContext } from '../context.js';
import type { RateCheck, RateDecision, RateResult } from '../counters/types.js';
import { admissionOf, admitOnStoreFailure, counterKey, maxOutputTokens, promptTokensOf, scopeValue, storeFailureReporter, type LimitDeps } from './admission.js';
import type { RuntimeRateLimit } from './config.js';
import { recordLimitOutcomes } from './outcomes.js';

const WINDOW_NAMES: Record<number, string> = { 1_000: 'second', 60_000: 'minute', 3_600_000: 'hour', 86_400_000: 'day' };

/**
 * A duration in Go's `time.Duration` notation, as OpenAI's `x-ratelimit-reset-*`
 * headers use it: `0s`, `250ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. Rounded up
 * to the millisecond.
 */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const seconds = `${Math.floor(millis / 1000)}${millis % 1000 ? `.${String(millis % 1000).padStart(3, '0').replace(/0+$/, '')}` : ''}s`;
  if (hours) return `${hours}h${minutes}m${seconds}`;
  if (minutes) return `${minutes}m${seconds}`;
  return seconds;
}

/** The decision that binds: one that does not fit, else the one with the least room. */
function tightest(decisions: readonly RateDecision[]): RateDecision | undefined {
  let best: RateDecision | undefined;
  for (const d of decisions) {
    if (!best || (!d.fits && best.fits) || (d.fits === best.fits && d.remaining < best.remaining)) best = d;
  }
  return best;
}

function setHeaders(ctx: ProxyContext, limits: readonly RuntimeRateLimit[], decisions: readonly RateDecision[]): void {
  const headers = (ctx.responseHeaders ??= {});
  for (const unit of ['requests', 'tokens'] as const) {
    const d = tightest(decisions.filter((_, i) => limits[i]!.unit === unit));
    if (!d) continue;
    headers[`x-ratelimit-limit-${unit}`] = String(d.limit);
    headers[`x-ratelimit-remaining-${unit}`] = String(d.remaining);
    headers[`x-ratelimit-reset-${unit}`] = formatResetDuration(d.resetMs);
  }
}

function exceeded(limits: readonly RuntimeRateLimit[], checks: readonly RateCheck[], result: RateResult): SluiceError {
  const over = result.decisions.flatMap((d, i) => (d.fits ? [] : [{ d, limit: limits[i]!, cost: checks[i]!.cost }]));
  const never = over.find((o) => o.d.retryAfterMs === undefined);
  if (never) {
    const { limit, cost } = never;
    return new SluiceError('resource_exhausted', `Request too large for rate limit "${limit.name}": it needs ${cost} ${limit.unit}, the limit allows ${limit.limit + limit.burst} per ${WINDOW_NAMES[limit.windowMs]}.`, {
      details: { code: 'rate_limit_exceeded' },
    });
  }
  const retryAfterMs = Math.max(...over.map((o) => o.d.retryAfterMs!));
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const first = over[0]!;
  return new SluiceError(
    'resource_exhausted',
    `Rate limit "${first.limit.name}" reached: limit ${first.limit.limit} ${first.limit.unit} per ${WINDOW_NAMES[first.limit.windowMs]}, used ${first.d.used}, requested ${first.cost}. Please try again in ${retryAfterSeconds}s.`,
    { details: { code: 'rate_limit_exceeded', retryAfterSeconds } },
  );
}

/** The `rateLimit` pipeline hook; records token charges on `ctx.admission` for the settle hook. */
export function rateLimitStage(deps: LimitDeps): (ctx: ProxyContext) => Promise<void> {
  const report = storeFailureReporter(deps.log, 'rate_limit');
  return async (ctx) => {
    const limits: RuntimeRateLimit[] = [];
    const checks: RateCheck[] = [];
    const scopes: string[] = [];
    for (const limit of ctx.gateway!.rateLimits) {
      const scope = scopeValue(limit.scope, ctx, `rate_limit:${limit.name}`);
      if (scope === undefined) continue;
      const cost = limit.unit === 'requests' ? 1 : promptTokensOf(ctx) + maxOutputTokens(ctx);
      limits.push(limit);
      scopes.push(scope);
      checks.push({ key: counterKey(limit.id, scope), windowMs: limit.windowMs, limit: limit.limit, burst: limit.burst, cost });
    }
    if (checks.length === 0) return;
    let result: RateResult;
    try {
      result = await deps.store.checkRates(checks);
    } catch (err) {
      recordLimitOutcomes(ctx, 'rate', limits, scopes, () => ['store_unavailable', 0]);
      return admitOnStoreFailure(
        limits.map((l) => l.onStoreFailure),
        err,
        ctx,
        report,
      );
    }
    setHeaders(ctx, limits, result.decisions);
    recordLimitOutcomes(ctx, 'rate', limits, scopes, (i) => [result.decisions[i]!.fits ? 'allowed' : 'rejected', result.decisions[i]!.remaining]);
    if (!result.allowed) throw exceeded(limits, checks, result);
    const charges = checks.flatMap((c, i) => (limits[i]!.unit === 'tokens' && c.cost > 0 ? [{ key: c.key, windowMs: c.windowMs, reserved: c.cost }] : []));
    if (charges.length) admissionOf(ctx).rates = { atMs: result.atMs, charges };
  };
}

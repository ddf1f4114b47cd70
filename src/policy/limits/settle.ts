/**
 * The settle hook of the limits: once the answer is complete (served,
 * rejected, failed or cut by the client), what admission charged is replaced
 * by what the request really used.
 *
 * - Token rate limits: `adjustRates` by real tokens (prompt + completion of
 *   `ctx.usage`) minus the reserved worst case; a request nothing served
 *   refunds its whole reservation.
 * - Budgets: served → `settleBudget` with `costNanos(ctx.usage, price of the
 *   served model)`, so a stream cut by the client bills what it produced; an
 *   unpriced served model settles 0; served without any usage reported
 *   settles the reserved worst case. Nothing served → `releaseBudget`.
 *
 * The store calls run in the background: the hook returns at once, never
 * throws, and logs a failed settlement (a lost refund ages out with its
 * window; a lost budget settlement leaves the hold to expire with its TTL).
 * The wrapped hook (the request log) runs after, whatever happened.
 */
import { costNanos } from '../../observability/pricing/cost.js';
import type { ProxyContext } from '../context.js';
import type { Admission, LimitDeps } from './admission.js';

async function settleAdmission(deps: LimitDeps, ctx: ProxyContext, admission: Admission): Promise<void> {
  const served = ctx.served;
  const usage = served ? ctx.usage : undefined;
  const pending: Promise<unknown>[] = [];
  if (admission.rates) {
    const realTokens = served ? (usage ? usage.promptTokens + usage.completionTokens : undefined) : 0;
    const { atMs, charges } = admission.rates;
    const adjustments = realTokens === undefined ? [] : charges.map((c) => ({ key: c.key, windowMs: c.windowMs, chargedAtMs: atMs, delta: realTokens - c.reserved })).filter((a) => a.delta !== 0);
    if (adjustments.length) pending.push(deps.store.adjustRates(adjustments));
  }
  if (admission.budget) {
    const { reservationId, reservedNanos } = admission.budget;
    if (!served) pending.push(deps.store.releaseBudget(reservationId));
    else {
      const price = ctx.gateway?.pricedModels.get(`${served.provider}/${served.model}`)?.modelPrice;
      const actual = !usage ? reservedNanos : price ? costNanos(usage, price) : 0n;
      pending.push(deps.store.settleBudget(reservationId, actual));
    }
  }
  await Promise.all(pending);
}

/** The `settle` pipeline hook: settles the request's limits in the background, then calls `next` (the request log). */
export function limitSettleHook(deps: LimitDeps, next?: (ctx: ProxyContext) => void): (ctx: ProxyContext) => void {
  const fail = (err: unknown, ctx: ProxyContext): void => {
    try {
      deps.log.warn({ err, requestId: ctx.requestId }, 'settle: could not settle rate limits or budgets');
    } catch {
      // Logging must never break a response.
    }
  };
  return (ctx) => {
    const admission = ctx.admission;
    if (admission) {
      ctx.admission = undefined;
      settleAdmission(deps, ctx, admission).catch((err: unknown) => fail(err, ctx));
    }
    next?.(ctx);
  };
}

/**
 * What each rate limit and budget decided for a request, appended to
 * `ctx.limitOutcomes` by the limit stages for the request log.
 */
import type { LimitOutcome, ProxyContext } from '../context.js';
import type { BudgetDecision } from '../counters/types.js';
import type { RuntimeSpendLimit } from './config.js';

/** Appends one outcome per limit (`limits[i]` counted under `scopes[i]`, decided by `decide(i)`). */
export function recordLimitOutcomes(
  ctx: ProxyContext,
  kind: LimitOutcome['kind'],
  limits: readonly { name: string }[],
  scopes: readonly string[],
  decide: (i: number) => [LimitOutcome['outcome'], number | bigint],
): void {
  const out = (ctx.limitOutcomes ??= []);
  for (let i = 0; i < limits.length; i++) {
    const [outcome, remaining] = decide(i);
    out.push({ kind, name: limits[i]!.name, outcome, key: scopes[i]!, remaining });
  }
}

/** A budget's outcome: over a `block` budget is `rejected`; over an `alert` one or past `warnAt` is `warned`. */
export function budgetOutcome(budget: RuntimeSpendLimit, d: BudgetDecision): [LimitOutcome['outcome'], bigint] {
  const left = d.limitNanos > d.spentNanos ? d.limitNanos - d.spentNanos : 0n;
  if (!d.fits) return [budget.block ? 'rejected' : 'warned', left];
  const pastWarn = budget.warnAt > 0 && d.spentNanos * 1_000_000n >= BigInt(Math.round(budget.warnAt * 1_000_000)) * d.limitNanos;
  return [pastWarn ? 'warned' : 'allowed', left];
}

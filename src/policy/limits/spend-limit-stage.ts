/**
 * The spend_limit stage: reserves the request's worst-case cost on every
 * budget that applies (the workspace-wide ones and the gateway's; scopes
 * workspace, gateway, key or a CEL key) in one atomic `reserveBudgets` call,
 * in the calendar period of each (`periodFor`, UTC). A `block` budget that
 * cannot take the worst case → 429 `spend_limit_exceeded` with `Retry-After`
 * until the period ends; nothing is reserved then. The settle hook replaces
 * the reservation with the real cost.
 *
 * **Worst case.** This stage runs before routing, so it prices every model
 * the request can end up on: the route stage is evaluated on a copy of the
 * context, and the dearest `worstCaseCostNanos(estimatePromptTokens(body),
 * maxOutputTokens, price)` among the members of the pools it yields (primary
 * and fallbacks) is reserved. A request the route stage will reject reserves
 * nothing. An **unpriced** model (no catalogue entry, no override) reserves 0
 * and settles at 0, with one warning per model and process: its spend is
 * unknown, so only a budget already used up blocks it. Give such a model a
 * price override to enforce budgets on it.
 *
 * **Warning header.** When a budget is past its `warnAt` fraction (this
 * request's reservation included), or an `alert` budget is over, the answer
 * carries `x-sluice-spend-warning`: one entry per budget, comma-separated,
 * each `<budget name>;used=<percent of the budget, integer, rounded down>%;period=<period key>`,
 * e.g. `team-monthly;used=85%;period=2026-05`.
 */
import { SluiceError } from '../../errors.js';
import { worstCaseCostNanos } from '../../observability/pricing/cost.js';
import type { ProxyContext } from '../context.js';
import type { BudgetReservation, BudgetReserve } from '../counters/types.js';
import { periodFor, type Period } from '../counters/periods.js';
import { planRoute } from '../stages.js';
import { admissionOf, admitOnStoreFailure, counterKey, maxOutputTokens, promptTokensOf, scopeValue, storeFailureReporter, type LimitDeps } from './admission.js';
import type { RuntimeSpendLimit } from './config.js';
import { budgetOutcome, recordLimitOutcomes } from './outcomes.js';

/** How long a period's counters outlive the period (late settlements still land). */
const PERIOD_SLACK_MS = 86_400_000;

/** The header naming budgets past their warning threshold. */
export const SPEND_WARNING_HEADER = 'x-sluice-spend-warning';

/** The public names of the models that may serve the request, from the route plan (made once, reused by the route stage). */
function candidateModels(ctx: ProxyContext): string[] {
  let pools;
  try {
    pools = planRoute(ctx).pools;
  } catch {
    return [];
  }
  return [...new Set(pools.flatMap((p) => p.members.map((m) => `${m.provider}/${m.model}`)))];
}

function percentUsed(spent: bigint, limit: bigint): bigint {
  return limit === 0n ? 100n : (spent * 100n) / limit;
}

/** The `spendLimit` pipeline hook; records the reservation on `ctx.admission` for the settle hook. */
export function spendLimitStage(deps: LimitDeps): (ctx: ProxyContext) => Promise<void> {
  const report = storeFailureReporter(deps.log, 'spend_limit');
  const warnedUnpriced = new Set<string>();
  const now = deps.now ?? Date.now;

  const worstCase = (ctx: ProxyContext): bigint => {
    const gateway = ctx.gateway!;
    let worst = 0n;
    for (const name of candidateModels(ctx)) {
      const price = gateway.pricedModels.get(name)?.modelPrice;
      if (!price) {
        if (!warnedUnpriced.has(name)) {
          warnedUnpriced.add(name);
          deps.log.warn({ model: name, gateway: gateway.name }, 'spend_limit: model has no price; its requests reserve and settle 0 against budgets');
        }
        continue;
      }
      const cost = worstCaseCostNanos(promptTokensOf(ctx), maxOutputTokens(ctx), price);
      if (cost > worst) worst = cost;
    }
    return worst;
  };

  return async (ctx) => {
    const gateway = ctx.gateway!;
    const budgets: RuntimeSpendLimit[] = [];
    const periods: Period[] = [];
    const reserves: BudgetReserve[] = [];
    const scopes: string[] = [];
    const at = new Date(now());
    let amountNanos: bigint | undefined;
    for (const budget of [...gateway.workspace.spendLimits, ...gateway.spendLimits]) {
      const scope = scopeValue(budget.scope, ctx, `spend_limit:${budget.name}`);
      if (scope === undefined) continue;
      const period = periodFor(budget.period, at);
      amountNanos ??= worstCase(ctx);
      budgets.push(budget);
      scopes.push(scope);
      periods.push(period);
      reserves.push({
        key: counterKey(budget.id, scope),
        periodKey: period.key,
        limitNanos: budget.limitNanos,
        amountNanos,
        expireAtMs: period.end.getTime() + PERIOD_SLACK_MS,
        block: budget.block,
      });
    }
    if (reserves.length === 0) return;
    let result: BudgetReservation;
    try {
      result = await deps.store.reserveBudgets(reserves);
    } catch (err) {
      recordLimitOutcomes(ctx, 'spend', budgets, scopes, () => ['store_unavailable', 0n]);
      return admitOnStoreFailure(
        budgets.map((b) => b.onStoreFailure),
        err,
        ctx,
        report,
      );
    }
    recordLimitOutcomes(ctx, 'spend', budgets, scopes, (i) => budgetOutcome(budgets[i]!, result.decisions[i]!));
    if (!result.allowed) {
      const over = result.decisions.flatMap((d, i) => (!d.fits && budgets[i]!.block ? [i] : []));
      const retryAfterMs = Math.max(...over.map((i) => periods[i]!.end.getTime() - at.getTime()));
      const first = budgets[over[0]!]!;
      throw new SluiceError('resource_exhausted', `Spend limit "${first.name}" reached for period ${periods[over[0]!]!.key}.`, {
        details: { code: 'spend_limit_exceeded', retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
      });
    }
    if (result.reservationId) admissionOf(ctx).budget = { reservationId: result.reservationId, reservedNanos: amountNanos ?? 0n };
    const warnings = result.decisions.flatMap((d, i) => {
      const budget = budgets[i]!;
      const pastWarn = budget.warnAt > 0 && d.spentNanos * 1_000_000n >= BigInt(Math.round(budget.warnAt * 1_000_000)) * d.limitNanos;
      return pastWarn || !d.fits ? [`${budget.name};used=${percentUsed(d.spentNanos, d.limitNanos)}%;period=${periods[i]!.key}`] : [];
    });
    if (warnings.length) (ctx.responseHeaders ??= {})[SPEND_WARNING_HEADER] = warnings.join(', ');
  };
}

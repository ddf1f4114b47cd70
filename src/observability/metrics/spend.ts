/**
 * Spend summaries from the rollups: each budget's spend in its current
 * calendar period (the period the spend-limit stage charges, `periodFor`),
 * and the top models and API keys by cost over a range.
 *
 * A budget applies to the requests of its gateway (or of every gateway for
 * a workspace-wide one) and counts them per scope value: one counter for
 * `workspace` scope (and for `gateway` scope on a gateway's own budget), one
 * per gateway for a workspace-wide `gateway`-scoped budget, one per API key
 * for `key` scope. The rollups cannot tell the values of an `expr` scope, so
 * such a budget reports the spend of every request it applies to, flagged
 * as an upper bound. Spend here is what the rollups recorded in the period
 * (settled cost of served requests), whenever the budget was created; the
 * counter store, which enforces the budget, also counts live reservations.
 */
import type { SpendPeriod } from '../../policy/counters/periods.js';
import { periodFor } from '../../policy/counters/periods.js';
import { segmentsOf, type CostTotals, type RollupStore } from './store.js';

export interface BudgetInput {
  id: string;
  name: string;
  /** '' for a workspace-wide budget. */
  gatewayName: string;
  amountMicros: bigint;
  period: SpendPeriod;
  scope: 'workspace' | 'gateway' | 'key' | 'expr';
  enforcement: 'block' | 'alert';
}

export interface BudgetUseResult {
  budget: BudgetInput;
  key: string;
  spentNanos: bigint;
  periodStart: Date;
  periodEnd: Date;
  usedFraction: number;
  upperBound: boolean;
}

export interface CostShareResult extends CostTotals {
  name: string;
}

/** Each budget's spend in its period containing `now`, one entry per counter, highest spend first within a budget. */
export async function budgetUses(store: RollupStore, workspaceId: string, budgets: readonly BudgetInput[], gatewayNames: readonly string[], now: Date): Promise<BudgetUseResult[]> {
  const out: BudgetUseResult[] = [];
  for (const budget of budgets) {
    const period = periodFor(budget.period, now);
    const segments = segmentsOf(period.start.getTime() / 1000, Math.min(period.end.getTime(), now.getTime() + 60_000) / 1000);
    const filter = budget.gatewayName ? { gateway: budget.gatewayName } : {};
    const perGateway = budget.scope === 'gateway' && !budget.gatewayName;
    const dimension = budget.scope === 'key' ? 'apiKeyId' : perGateway ? 'gateway' : undefined;
    const spend = await store.costBy(workspaceId, dimension, segments, filter);
    const limitNanos = budget.amountMicros * 1000n;
    const entry = (key: string, spentNanos: bigint): BudgetUseResult => ({
      budget,
      key,
      spentNanos,
      periodStart: period.start,
      periodEnd: period.end,
      usedFraction: limitNanos > 0n ? Number((spentNanos * 1_000_000n) / limitNanos) / 1_000_000 : 0,
      upperBound: budget.scope === 'expr',
    });
    if (!dimension) {
      out.push(entry('', spend.get('')?.costNanos ?? 0n));
      continue;
    }
    const keys = perGateway ? [...new Set([...gatewayNames, ...spend.keys()])] : [...spend.keys()];
    const entries = keys.map((k) => entry(k, spend.get(k)?.costNanos ?? 0n));
    entries.sort((a, b) => (a.spentNanos === b.spentNanos ? a.key.localeCompare(b.key) : a.spentNanos < b.spentNanos ? 1 : -1));
    out.push(...entries);
  }
  return out;
}

/** The `limit` models (or keys) with the highest cost in `[from, to)` epoch seconds, then by requests. */
export async function topByCost(store: RollupStore, workspaceId: string, dimension: 'model' | 'apiKeyId', from: number, to: number, limit: number): Promise<CostShareResult[]> {
  const totals = await store.costBy(workspaceId, dimension, segmentsOf(from, to));
  return [...totals.entries()]
    .map(([name, t]) => ({ name, ...t }))
    .sort((a, b) => (a.costNanos === b.costNanos ? b.requests - a.requests : a.costNanos < b.costNanos ? 1 : -1))
    .slice(0, limit);
}

/**
 * Rate limits and spend limits as the runtime snapshot holds them: rows
 * validated and converted once per config change (windows in ms, money in
 * nano-dollars, key expressions compiled), so the request path does no
 * parsing.
 */
import type { RateLimitRow, ScopeDoc, SpendLimitRow } from '../../db/entities.js';
import type { CompiledCel } from '../cel.js';
import type { FailureMode } from '../counters/errors.js';
import type { SpendPeriod } from '../counters/periods.js';

/** Which requests share one counter: the workspace, the gateway, the API key, or each value of a CEL key expression. */
export type RuntimeLimitScope = { kind: 'workspace' | 'gateway' | 'key' } | { kind: 'expr'; expr: CompiledCel };

/** A rate limit ready for `checkRates`. */
export interface RuntimeRateLimit {
  id: string;
  name: string;
  unit: 'requests' | 'tokens';
  limit: number;
  windowMs: number;
  burst: number;
  scope: RuntimeLimitScope;
  onStoreFailure: FailureMode;
}

/** A budget ready for `reserveBudgets`. */
export interface RuntimeSpendLimit {
  id: string;
  name: string;
  /** The budget per period in nano-dollars (`amount_micros × 1000`). */
  limitNanos: bigint;
  period: SpendPeriod;
  /** `block` rejects when the budget does not fit; `alert` only tracks and warns. */
  block: boolean;
  /** Fraction of the budget (0 < x < 1) past which answers carry `x-sluice-spend-warning`; 0 disables. */
  warnAt: number;
  scope: RuntimeLimitScope;
  onStoreFailure: FailureMode;
}

/** Compiles a key expression; returns undefined (and reports the problem) when it does not compile. */
export type KeyExprCompiler = (what: string, source: string) => CompiledCel | undefined;

const WINDOW_MS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const PERIODS: readonly string[] = ['daily', 'weekly', 'monthly'];

function failureMode(stored: string): FailureMode {
  return stored === 'fail_closed' ? 'fail_closed' : 'fail_open';
}

function scopeOf(doc: ScopeDoc, what: string, compile: KeyExprCompiler): RuntimeLimitScope | string {
  if (doc.kind === 'expr') {
    const expr = compile(what, doc.expr ?? '');
    return expr ? { kind: 'expr', expr } : '';
  }
  if (doc.kind === 'workspace' || doc.kind === 'gateway' || doc.kind === 'key') return { kind: doc.kind };
  return `${what}: unknown scope "${String(doc.kind)}"`;
}

/**
 * Converts a stored rate limit. Returns a problem line instead when the row
 * cannot be enforced (unknown unit or window, a limit out of range, a key
 * expression that does not compile: reported by `compile`, and the line is '').
 */
export function toRuntimeRateLimit(row: RateLimitRow, compile: KeyExprCompiler): RuntimeRateLimit | string {
  const what = `rate limit ${row.name}`;
  const windowMs = WINDOW_MS[row.window];
  if (row.unit !== 'requests' && row.unit !== 'tokens') return `${what}: unknown unit "${row.unit}"`;
  if (windowMs === undefined) return `${what}: unknown window "${row.window}"`;
  const limit = Number(row.limit);
  const burst = Number(row.burst);
  if (!Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(burst) || burst < 0 || burst > limit) {
    return `${what}: limit ${row.limit} and burst ${row.burst} are out of range`;
  }
  const scope = scopeOf(row.scope, what, compile);
  if (typeof scope === 'string') return scope;
  return { id: row.id, name: row.name, unit: row.unit, limit, windowMs, burst, scope, onStoreFailure: failureMode(row.onStoreFailure) };
}

/** Converts a stored spend limit, or returns a problem line as `toRuntimeRateLimit` does. */
export function toRuntimeSpendLimit(row: SpendLimitRow, compile: KeyExprCompiler): RuntimeSpendLimit | string {
  const what = `spend limit ${row.name}`;
  if (!PERIODS.includes(row.period)) return `${what}: unknown period "${row.period}"`;
  const micros = BigInt(row.amountMicros);
  if (micros < 0n) return `${what}: negative amount`;
  const scope = scopeOf(row.scope, what, compile);
  if (typeof scope === 'string') return scope;
  return {
    id: row.id,
    name: row.name,
    limitNanos: micros * 1000n,
    period: row.period as SpendPeriod,
    block: row.enforcement !== 'alert',
    warnAt: Number(row.warnAt) > 0 && Number(row.warnAt) < 1 ? Number(row.warnAt) : 0,
    scope,
    onStoreFailure: failureMode(row.onStoreFailure),
  };
}

/** Whether any of these limits' key expressions reads the request body. */
export function limitsReadBody(limits: readonly { scope: RuntimeLimitScope }[]): boolean {
  return limits.some((l) => l.scope.kind === 'expr' && l.scope.expr.readsBody);
}

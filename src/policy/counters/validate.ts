/**
 * Argument checks shared by both stores, so that both reject the same inputs (with a
 * RangeError: a bad argument here is a caller bug, not a client error) and the Lua scripts
 * only ever see integers they can hold exactly.
 */
import type { BudgetReserve, RateAdjustment, RateCheck } from './types.js';

const MAX_KEY_LENGTH = 1024;
/** Rate counts stay far below 2^53 so that Lua and JavaScript doubles hold them exactly. */
const MAX_UNITS = 1e12;
/** Longest window: 31 days. */
const MAX_WINDOW_MS = 31 * 86_400_000;
/** Money fits a signed 64-bit integer, as in the API. */
const MAX_NANOS = 2n ** 63n - 1n;
const PERIOD_KEY = /^[0-9A-Za-z-]{1,32}$/;

function fail(message: string): never {
  throw new RangeError(message);
}

function checkKey(key: string, what: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) fail(`${what} must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
}

function checkInteger(value: number, min: number, max: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) fail(`${what} must be an integer in [${min}, ${max}], got ${value}`);
}

function checkNanos(value: bigint, what: string): void {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_NANOS) fail(`${what} must be a bigint in [0, 2^63 - 1]`);
}

function checkUnique(ids: string[], what: string): void {
  if (new Set(ids).size !== ids.length) fail(`the same ${what} appears twice in one call`);
}

/** Validates rate checks: key, window, limit, 0 ≤ burst ≤ limit, cost, and no duplicate counter. */
export function validateRateChecks(checks: readonly RateCheck[]): void {
  for (const c of checks) {
    checkKey(c.key, 'rate limit key');
    checkInteger(c.windowMs, 1, MAX_WINDOW_MS, 'windowMs');
    checkInteger(c.limit, 1, MAX_UNITS, 'limit');
    checkInteger(c.burst, 0, c.limit, 'burst');
    checkInteger(c.cost, 0, MAX_UNITS, 'cost');
  }
  checkUnique(checks.map((c) => `${c.windowMs}:${c.key}`), 'rate limit (key, windowMs)');
}

/** Validates rate adjustments: key, window, charge time and integer delta. */
export function validateRateAdjustments(adjustments: readonly RateAdjustment[]): void {
  for (const a of adjustments) {
    checkKey(a.key, 'rate limit key');
    checkInteger(a.windowMs, 1, MAX_WINDOW_MS, 'windowMs');
    checkInteger(a.chargedAtMs, 0, Number.MAX_SAFE_INTEGER, 'chargedAtMs');
    checkInteger(a.delta, -MAX_UNITS, MAX_UNITS, 'delta');
  }
}

/** Validates a budget key and period key. */
export function validateBudgetId(key: string, periodKey: string): void {
  checkKey(key, 'budget key');
  if (typeof periodKey !== 'string' || !PERIOD_KEY.test(periodKey)) fail(`periodKey must match ${PERIOD_KEY}, got "${periodKey}"`);
}

/** Validates budget reserves: ids, money ranges, expiry, and no duplicate budget. */
export function validateBudgetReserves(reserves: readonly BudgetReserve[]): void {
  for (const r of reserves) {
    validateBudgetId(r.key, r.periodKey);
    checkNanos(r.limitNanos, 'limitNanos');
    checkNanos(r.amountNanos, 'amountNanos');
    checkInteger(r.expireAtMs, 0, Number.MAX_SAFE_INTEGER, 'expireAtMs');
    if (typeof r.block !== 'boolean') fail('block must be a boolean');
  }
  checkUnique(reserves.map((r) => `${r.periodKey}:${r.key}`), 'budget (key, periodKey)');
}

/** Validates a settlement amount. */
export function validateActualNanos(actualNanos: bigint): void {
  checkNanos(actualNanos, 'actualNanos');
}

/** Validates a reservation id handed back by `reserveBudgets`. */
export function validateReservationId(reservationId: string): void {
  checkKey(reservationId, 'reservationId');
}

/**
 * The counter-store contract the rate-limit and spend-limit stages call. Two
 * implementations keep the same semantics: `memory-store.ts` (one process,
 * the embedded default) and `redis-store.ts` (shared by every replica).
 * README.md in this folder explains the algorithms and failure semantics.
 */

/** One sliding-window limit: at most `limit` units per rolling `windowMs`, with optional `burst`. */
export interface RateLimitSpec {
  /** Opaque counter id chosen by the caller (limit id + scope value); at most 1024 characters. */
  key: string;
  /** Window length in ms (1000 for a per-second limit, 60000 per minute…). */
  windowMs: number;
  /** Units (requests or tokens) per window; a positive integer. */
  limit: number;
  /**
   * Extra units one window may take above `limit` (0 ≤ burst ≤ limit), repaid by the next:
   * two consecutive aligned windows never exceed `2 × limit` together.
   */
  burst: number;
}

/** A rate limit to check and charge: 1 for a request limit, the reserved tokens for a token limit. */
export interface RateCheck extends RateLimitSpec {
  /** Units this request takes; a non-negative integer. */
  cost: number;
}

/** How one limit stands after a check, in the order of the checks passed. */
export interface RateDecision {
  /** This limit had room for the cost. The request is admitted only when every limit fits. */
  fits: boolean;
  /** Units counted in the rolling window (after the charge when the request was admitted), rounded up. */
  used: number;
  /** Units still available now (after the charge when admitted), for `x-ratelimit-remaining-*`. */
  remaining: number;
  /** The configured limit, for `x-ratelimit-limit-*`. */
  limit: number;
  /** Ms until the counter is back to zero with no further traffic, for `x-ratelimit-reset-*`. */
  resetMs: number;
  /**
   * Only when the limit does not fit: ms until this cost would fit with no further traffic
   * (`Retry-After`). Absent when it never can (the cost exceeds the limit's capacity).
   */
  retryAfterMs?: number;
}

/** Outcome of a multi-limit check: all limits are charged, or none. */
export interface RateResult {
  /** Every limit fits, and (for `checkRates`) every one was charged. */
  allowed: boolean;
  /** Store time of the decision (Redis server time for the Redis store); pass it back to `adjustRates`. */
  atMs: number;
  decisions: RateDecision[];
}

/** Corrects a charged token limit with the real usage once it is known. */
export interface RateAdjustment {
  key: string;
  windowMs: number;
  /** `atMs` of the check that charged the reservation, so a refund goes back to the bucket that paid it. */
  chargedAtMs: number;
  /** Real units minus charged units; an integer, negative for a refund. */
  delta: number;
}

/** One budget to reserve a request's worst-case cost against. Money is integer nano-dollars. */
export interface BudgetReserve {
  /** Opaque budget id chosen by the caller (spend-limit id + scope value); at most 1024 characters. */
  key: string;
  /** Calendar period the spend belongs to, e.g. `2026-12`, `2026-W49`, `2026-12-01` (see `periods.ts`). */
  periodKey: string;
  /** Budget for the period; 0 ≤ limit < 2^63. */
  limitNanos: bigint;
  /** Worst-case cost of this request; 0 ≤ amount < 2^63. */
  amountNanos: bigint;
  /** Epoch ms after which the period's counter may be dropped: period end plus some slack. */
  expireAtMs: number;
  /** `true` for an enforcing (`block`) budget; `false` tracks spend without ever rejecting (`alert`). */
  block: boolean;
}

/** How one budget stands after a reservation, in the order of the reserves passed. */
export interface BudgetDecision {
  /** settled + reserved + this amount is within the limit. For an `alert` budget, false means "alert". */
  fits: boolean;
  /** Settled plus live reservations, including this request's when the reservation was made. */
  spentNanos: bigint;
  limitNanos: bigint;
}

/** Outcome of a multi-budget reservation: every budget is reserved, or none. */
export interface BudgetReservation {
  /** Every blocking budget fits; the reservation was made on all budgets. */
  allowed: boolean;
  /** Present when allowed and at least one budget was passed; settle or release it exactly once. */
  reservationId?: string;
  decisions: BudgetDecision[];
}

/** What a settle or release did. Repeating either is harmless and reports the first outcome. */
export type ReservationOutcome = 'applied' | 'already_settled' | 'already_released' | 'unknown';

/** Spend of one budget in one period. Expired reservations are not counted. */
export interface BudgetSpend {
  settledNanos: bigint;
  reservedNanos: bigint;
}

/**
 * Rate and spend counters. Every method is atomic: a concurrent caller (in this process or
 * another replica sharing the store) sees each call entirely or not at all. Every method
 * rejects with `CounterStoreUnavailable` when the store cannot answer, and with a RangeError
 * for arguments outside the documented ranges.
 */
export interface CounterStore {
  /** Checks every limit and charges every one only if all fit. Duplicate (key, windowMs) pairs are rejected. */
  checkRates(checks: readonly RateCheck[]): Promise<RateResult>;
  /** As `checkRates`, without charging anything: what a request of these costs would see now. */
  peekRates(checks: readonly RateCheck[]): Promise<RateResult>;
  /**
   * Settles token limits with real usage. A refund (negative delta) goes to the bucket that was
   * charged, and is dropped once that bucket has left the window; extra usage counts now.
   */
  adjustRates(adjustments: readonly RateAdjustment[]): Promise<void>;
  /**
   * Reserves `amountNanos` on every budget only if every blocking budget fits, under one
   * reservation id. An unsettled reservation stops counting after the store's reservation TTL,
   * so a crashed process cannot leak budget. Duplicate (key, periodKey) pairs are rejected.
   */
  reserveBudgets(reserves: readonly BudgetReserve[]): Promise<BudgetReservation>;
  /**
   * Replaces the reservation with the real cost on each of its budgets (in the period it was
   * reserved in). Idempotent; still records the cost when the reservation has expired.
   */
  settleBudget(reservationId: string, actualNanos: bigint): Promise<ReservationOutcome>;
  /** Drops the reservation on each of its budgets: the request failed before costing anything. Idempotent. */
  releaseBudget(reservationId: string): Promise<ReservationOutcome>;
  /** Current spend of one budget in one period. */
  spend(key: string, periodKey: string): Promise<BudgetSpend>;
  /** Releases connections and timers; later calls reject with `CounterStoreUnavailable`. */
  close(): Promise<void>;
}

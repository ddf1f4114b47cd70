/**
 * The in-process counter store, the embedded default. Every method does its work synchronously
 * before its promise settles, so calls are atomic with respect to each other in this process.
 * Counters live only as long as the process: budgets start again from zero after a restart.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_RESERVATION_TTL_MS, RESERVATION_RECORD_GRACE_MS } from './defaults.js';
import { CounterStoreUnavailable } from './errors.js';
import { applyAdjustment, decide, fits, windowAt, type WindowState } from './sliding-window.js';
import type {
  BudgetDecision,
  BudgetReservation,
  BudgetReserve,
  BudgetSpend,
  CounterStore,
  RateAdjustment,
  RateCheck,
  RateResult,
  ReservationOutcome,
} from './types.js';
import {
  validateActualNanos,
  validateBudgetId,
  validateBudgetReserves,
  validateRateAdjustments,
  validateRateChecks,
  validateReservationId,
} from './validate.js';

/** Options of `createMemoryCounterStore`. */
export interface MemoryCounterStoreOptions {
  /** Clock in epoch ms; tests inject a fake one. Default `Date.now`. */
  now?: () => number;
  /** How long an unsettled reservation counts; default 15 minutes. */
  reservationTtlMs?: number;
  /**
   * Most rate counters kept; past it the least recently used one is forgotten (its key starts
   * again from zero). Guards memory against high-cardinality CEL keys. Default 1,000,000.
   */
  maxRateCounters?: number;
}

/** Sizes of the store's maps, for metrics and tests. */
export interface MemoryCounterStats {
  rateCounters: number;
  budgetCounters: number;
  reservations: number;
}

interface RateEntry {
  windowMs: number;
  state: WindowState;
}

interface Hold {
  amount: bigint;
  expiresAt: number;
}

interface BudgetCounter {
  settled: bigint;
  reserved: bigint;
  /** Live reservations by id, in insertion order, which is expiry order (one TTL, a forward clock). */
  holds: Map<string, Hold>;
  expiresAt: number;
}

interface ReservationLine {
  counterId: string;
  amount: bigint;
  expireAtMs: number;
}

interface Reservation {
  state: 'open' | 'settled' | 'released';
  lines: ReservationLine[];
  forgetAt: number;
}

/**
 * Walks a map a few entries per call and deletes the expired ones, so memory stays bounded
 * without a timer or a full scan on the request path. A map iterator survives deletions and
 * insertions; it restarts from the beginning once exhausted.
 */
class Sweeper<V> {
  private iterator: Iterator<[string, V]> | undefined;

  constructor(
    private readonly map: Map<string, V>,
    private readonly expired: (value: V, nowMs: number) => boolean,
  ) {}

  step(steps: number, nowMs: number): void {
    for (let i = 0; i < steps; i++) {
      this.iterator ??= this.map.entries();
      const next = this.iterator.next();
      if (next.done) {
        this.iterator = undefined;
        return;
      }
      const [key, value] = next.value;
      if (this.expired(value, nowMs)) this.map.delete(key);
    }
  }
}

const SWEEP_STEPS = 8;

const rateId = (key: string, windowMs: number): string => `${windowMs}:${key}`;
const budgetId = (key: string, periodKey: string): string => `${periodKey}:${key}`;

/** The in-process `CounterStore`. Create it with `createMemoryCounterStore`. */
export class MemoryCounterStore implements CounterStore {
  private readonly now: () => number;
  private readonly reservationTtlMs: number;
  private readonly maxRateCounters: number;
  private readonly rates = new Map<string, RateEntry>();
  private readonly budgets = new Map<string, BudgetCounter>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly sweepers: { step(steps: number, nowMs: number): void }[];
  private closed = false;

  constructor(options: MemoryCounterStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.reservationTtlMs = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.maxRateCounters = options.maxRateCounters ?? 1_000_000;
    this.sweepers = [
      new Sweeper(this.rates, (e: RateEntry, now) => (e.state.index + 2) * e.windowMs <= now),
      new Sweeper(this.budgets, (b: BudgetCounter, now) => b.expiresAt <= now),
      new Sweeper(this.reservations, (r: Reservation, now) => r.forgetAt <= now),
    ];
  }

  async checkRates(checks: readonly RateCheck[]): Promise<RateResult> {
    return this.rate(checks, true);
  }

  async peekRates(checks: readonly RateCheck[]): Promise<RateResult> {
    return this.rate(checks, false);
  }

  async adjustRates(adjustments: readonly RateAdjustment[]): Promise<void> {
    validateRateAdjustments(adjustments);
    const now = this.begin(adjustments.length);
    for (const a of adjustments) {
      const id = rateId(a.key, a.windowMs);
      const { state } = windowAt(this.rates.get(id)?.state, a.windowMs, now);
      applyAdjustment(state, Math.floor(a.chargedAtMs / a.windowMs), a.delta);
      if (state.current === 0 && state.previous === 0) this.rates.delete(id);
      else this.storeRate(id, a.windowMs, state);
    }
  }

  async reserveBudgets(reserves: readonly BudgetReserve[]): Promise<BudgetReservation> {
    validateBudgetReserves(reserves);
    const now = this.begin(reserves.length);
    const rows = reserves.map((r) => {
      const id = budgetId(r.key, r.periodKey);
      const stored = this.budgets.get(id);
      const counter = stored && stored.expiresAt > now ? stored : undefined;
      if (counter) this.purge(counter, now);
      const settled = counter?.settled ?? 0n;
      const reserved = counter?.reserved ?? 0n;
      return { r, id, counter, settled, reserved, fits: settled + reserved + r.amountNanos <= r.limitNanos };
    });
    const allowed = rows.every((row) => row.fits || !row.r.block);
    const budgetDecision = (row: (typeof rows)[number], spent: bigint): BudgetDecision => ({ fits: row.fits, spentNanos: spent, limitNanos: row.r.limitNanos });
    if (!allowed || rows.length === 0) return { allowed, decisions: rows.map((row) => budgetDecision(row, row.settled + row.reserved)) };

    const reservationId = randomUUID();
    const holdUntil = now + this.reservationTtlMs;
    for (const row of rows) {
      const counter = row.counter ?? { settled: 0n, reserved: 0n, holds: new Map<string, Hold>(), expiresAt: 0 };
      counter.reserved += row.r.amountNanos;
      counter.holds.set(reservationId, { amount: row.r.amountNanos, expiresAt: holdUntil });
      counter.expiresAt = Math.max(row.r.expireAtMs, holdUntil);
      this.budgets.set(row.id, counter);
    }
    this.reservations.set(reservationId, {
      state: 'open',
      lines: rows.map((row) => ({ counterId: row.id, amount: row.r.amountNanos, expireAtMs: Math.max(row.r.expireAtMs, holdUntil) })),
      forgetAt: holdUntil + RESERVATION_RECORD_GRACE_MS,
    });
    return { allowed, reservationId, decisions: rows.map((row) => budgetDecision(row, row.settled + row.reserved + row.r.amountNanos)) };
  }

  async settleBudget(reservationId: string, actualNanos: bigint): Promise<ReservationOutcome> {
    validateReservationId(reservationId);
    validateActualNanos(actualNanos);
    return this.finish(reservationId, actualNanos);
  }

  async releaseBudget(reservationId: string): Promise<ReservationOutcome> {
    validateReservationId(reservationId);
    return this.finish(reservationId, undefined);
  }

  async spend(key: string, periodKey: string): Promise<BudgetSpend> {
    validateBudgetId(key, periodKey);
    const now = this.begin(1);
    const counter = this.budgets.get(budgetId(key, periodKey));
    if (!counter || counter.expiresAt <= now) return { settledNanos: 0n, reservedNanos: 0n };
    this.purge(counter, now);
    return { settledNanos: counter.settled, reservedNanos: counter.reserved };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rates.clear();
    this.budgets.clear();
    this.reservations.clear();
  }

  /** Sizes of the store's maps. */
  stats(): MemoryCounterStats {
    return { rateCounters: this.rates.size, budgetCounters: this.budgets.size, reservations: this.reservations.size };
  }

  /** Common prologue: refuse after close, read the clock once, sweep a little. */
  private begin(touched: number): number {
    if (this.closed) throw new CounterStoreUnavailable();
    const now = this.now();
    for (const sweeper of this.sweepers) sweeper.step(SWEEP_STEPS + 2 * touched, now);
    return now;
  }

  private rate(checks: readonly RateCheck[], charge: boolean): RateResult {
    validateRateChecks(checks);
    const now = this.begin(checks.length);
    const rows = checks.map((check) => {
      const id = rateId(check.key, check.windowMs);
      const view = windowAt(this.rates.get(id)?.state, check.windowMs, now);
      return { check, id, view, fits: fits(check, view) };
    });
    const allowed = rows.every((row) => row.fits);
    if (allowed && charge) {
      for (const row of rows) {
        row.view.state.current += row.check.cost;
        this.storeRate(row.id, row.check.windowMs, row.view.state);
      }
    }
    return { allowed, atMs: now, decisions: rows.map((row) => decide(row.check, row.view, now, row.fits)) };
  }

  /** Stores a rate counter as the most recently used, forgetting the least recently used past the cap. */
  private storeRate(id: string, windowMs: number, state: WindowState): void {
    this.rates.delete(id);
    this.rates.set(id, { windowMs, state });
    if (this.rates.size > this.maxRateCounters) {
      const oldest = this.rates.keys().next();
      if (!oldest.done) this.rates.delete(oldest.value);
    }
  }

  /** Drops expired reservations from a budget; they stop counting. */
  private purge(counter: BudgetCounter, now: number): void {
    for (const [id, hold] of counter.holds) {
      if (hold.expiresAt > now) break;
      counter.reserved -= hold.amount;
      counter.holds.delete(id);
    }
  }

  /** Settles (`actualNanos` given) or releases a reservation on each of its budgets, once. */
  private finish(reservationId: string, actualNanos: bigint | undefined): ReservationOutcome {
    const now = this.begin(1);
    const reservation = this.reservations.get(reservationId);
    if (!reservation || reservation.forgetAt <= now) return 'unknown';
    if (reservation.state === 'settled') return 'already_settled';
    if (reservation.state === 'released') return 'already_released';
    for (const line of reservation.lines) {
      // A period whose counter has expired is over: nothing left to enforce or report.
      if (line.expireAtMs <= now) continue;
      const counter = this.budgets.get(line.counterId) ?? { settled: 0n, reserved: 0n, holds: new Map<string, Hold>(), expiresAt: line.expireAtMs };
      const hold = counter.holds.get(reservationId);
      if (hold) {
        counter.reserved -= hold.amount;
        counter.holds.delete(reservationId);
      }
      if (actualNanos !== undefined) counter.settled += actualNanos;
      this.budgets.set(line.counterId, counter);
    }
    reservation.state = actualNanos === undefined ? 'released' : 'settled';
    return 'applied';
  }
}

/** Creates the in-process counter store. */
export function createMemoryCounterStore(options: MemoryCounterStoreOptions = {}): MemoryCounterStore {
  return new MemoryCounterStore(options);
}

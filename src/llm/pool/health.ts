/**
 * Passive health of pool members: a circuit breaker and a latency estimate
 * per member key, fed by the outcomes of real requests (no active probes
 * are sent; the first request after the open period is the probe).
 */
import type { FallbackTrigger } from './types.js';

/** Circuit state of one member. `half_open`: the open period has elapsed and one probe may go. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Construction options for `MemberHealth`; every field has a default. */
export interface MemberHealthOptions {
  /** Consecutive counted failures (other than 429) that open the circuit. Default 5. */
  failureThreshold?: number;
  /** Consecutive 429s that open the circuit. Default 10; see `countsAgainstHealth`. */
  rateLimitThreshold?: number;
  /** Time open before the first half-open probe. Default 30 s. */
  openMs?: number;
  /** Cap for the open time, which doubles each time a probe fails. Default 5 min. */
  maxOpenMs?: number;
  /** A probe that has not reported back after this long is presumed lost and another is allowed. Default 2 min. */
  probeLeaseMs?: number;
  /** Weight of the newest sample in the latency EWMA. Default 0.2. */
  latencyAlpha?: number;
  /** A key not written for this long is forgotten (closed, latency unknown). Default 1 h. */
  idleMs?: number;
  /** Most keys kept; beyond it the least recently written key is forgotten. Default 10,000. */
  maxKeys?: number;
  /** Clock in milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** One member's health, for metrics and the dashboard. */
export interface MemberHealthSnapshot {
  key: string;
  state: CircuitState;
  consecutiveFailures: number;
  consecutiveRateLimits: number;
  /** EWMA latency in ms; undefined until the first success. */
  latencyMs: number | undefined;
  /** When the current open period ends (clock of `now`); undefined when closed. */
  openUntil: number | undefined;
  /** Probes failed in a row since the circuit last closed (the backoff exponent). */
  reopens: number;
}

interface Entry {
  failures: number;
  rateLimits: number;
  latencyMs: number | undefined;
  /** Start of the current open period; undefined = closed. */
  openedAt: number | undefined;
  openForMs: number;
  reopens: number;
  /** When the half-open probe was handed out; undefined = none in flight. */
  probeAt: number | undefined;
  touchedAt: number;
}

/**
 * Circuit breaker and latency EWMA per member key.
 *
 * Lifetime: one instance per process, shared by all requests and pools, kept
 * across config reloads (keys are per (provider, model), not per config).
 * Every `record*` call and a granted probe mutate it; every call drops
 * idle keys; reads never create entries.
 *
 * States: closed → open after `failureThreshold` consecutive counted
 * failures (or `rateLimitThreshold` consecutive 429s); open → half-open
 * after the open period; in half-open exactly one `isAvailable` caller gets
 * true (the probe). The probe's success closes the circuit; its failure
 * re-opens it for twice the previous period, capped at `maxOpenMs`.
 * A success in any state closes the circuit: a real answer is the best
 * evidence there is. A failure reported while open (an attempt that started
 * earlier, or a fail-static attempt) changes nothing, so a full outage does
 * not push the backoff to its cap within a second.
 *
 * Every attempt the pipeline makes gets exactly one verdict as soon as it is
 * known: `recordSuccess`, `recordFailure`, or `release` (no verdict: a client
 * error, a client disconnect). A stream's verdict comes at its first byte
 * (latency = time to first byte); an upstream cut later adds a
 * `recordFailure('connection_error')`. So a probe never stays in flight; a
 * lost one is given up after `probeLeaseMs`.
 *
 * Memory: keys not written for `idleMs` are forgotten, and at most
 * `maxKeys` are kept (least recently written first out). Forgetting also
 * makes a member that least_latency stopped choosing "unknown" again, so it
 * is re-measured rather than starved by a stale estimate.
 */
export class MemberHealth {
  readonly #failureThreshold: number;
  readonly #rateLimitThreshold: number;
  readonly #openMs: number;
  readonly #maxOpenMs: number;
  readonly #probeLeaseMs: number;
  readonly #alpha: number;
  readonly #idleMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** Insertion order = order of last write, oldest first (re-inserted on every write). */
  readonly #entries = new Map<string, Entry>();
  /** The key written last (the Map's newest entry while it is present). */
  #newest: string | undefined;

  constructor(options: MemberHealthOptions = {}) {
    this.#failureThreshold = options.failureThreshold ?? 5;
    this.#rateLimitThreshold = options.rateLimitThreshold ?? 10;
    this.#openMs = options.openMs ?? 30_000;
    this.#maxOpenMs = options.maxOpenMs ?? 300_000;
    this.#probeLeaseMs = options.probeLeaseMs ?? 120_000;
    this.#alpha = options.latencyAlpha ?? 0.2;
    this.#idleMs = options.idleMs ?? 3_600_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Whether a request may be sent to `key` now. Closed → true; open → false;
   * half-open → true for exactly one caller (the probe, recorded as in
   * flight until it reports back or its lease expires), false for others.
   */
  isAvailable(key: string): boolean {
    const now = this.#now();
    const entry = this.#read(key, now);
    if (entry === undefined || entry.openedAt === undefined) return true;
    if (!elapsed(entry.openedAt, now, entry.openForMs)) return false;
    if (entry.probeAt !== undefined && !elapsed(entry.probeAt, now, this.#probeLeaseMs)) return false;
    entry.probeAt = now;
    this.#touch(key, entry, now);
    return true;
  }

  /** Records a successful attempt: closes the circuit, clears the failure streaks, folds `latencyMs` into the EWMA. */
  recordSuccess(key: string, latencyMs: number): void {
    const now = this.#now();
    const entry = this.#write(key, now);
    entry.failures = 0;
    entry.rateLimits = 0;
    entry.openedAt = undefined;
    entry.openForMs = 0;
    entry.reopens = 0;
    entry.probeAt = undefined;
    if (Number.isFinite(latencyMs) && latencyMs >= 0) {
      entry.latencyMs =
        entry.latencyMs === undefined ? latencyMs : this.#alpha * latencyMs + (1 - this.#alpha) * entry.latencyMs;
    }
  }

  /**
   * Records a counted failure (see `countsAgainstHealth`). `rate_limited`
   * feeds the 429 streak and other triggers the failure streak; either
   * reaching its threshold opens a closed circuit. In half-open any failure
   * re-opens with the doubled period. While open, nothing changes.
   */
  recordFailure(key: string, trigger?: FallbackTrigger): void {
    const now = this.#now();
    const entry = this.#write(key, now);
    if (entry.openedAt !== undefined) {
      if (!elapsed(entry.openedAt, now, entry.openForMs)) return;
      entry.reopens += 1;
      this.#open(entry, now, Math.min(this.#openMs * 2 ** entry.reopens, this.#maxOpenMs));
      return;
    }
    if (trigger === 'rate_limited') entry.rateLimits += 1;
    else entry.failures += 1;
    if (entry.failures >= this.#failureThreshold || entry.rateLimits >= this.#rateLimitThreshold) {
      this.#open(entry, now, this.#openMs);
    }
  }

  /**
   * Ends an attempt without a health verdict (client error, client
   * disconnect, aborted before sending). Frees the half-open probe so the
   * next caller probes; otherwise changes nothing.
   */
  release(key: string): void {
    const entry = this.#read(key, this.#now());
    if (entry !== undefined) entry.probeAt = undefined;
  }

  /** EWMA latency of successful attempts in ms; undefined until measured (or after being forgotten). */
  latencyMs(key: string): number | undefined {
    return this.#read(key, this.#now())?.latencyMs;
  }

  /** Current circuit state of `key`; an unknown key is closed. Does not hand out the probe. */
  state(key: string): CircuitState {
    const now = this.#now();
    const entry = this.#read(key, now);
    return entry === undefined ? 'closed' : stateOf(entry, now);
  }

  /** Every remembered member's health, oldest write first, as a copy (idle keys are dropped first, as on every call). */
  snapshot(): MemberHealthSnapshot[] {
    const now = this.#now();
    this.#sweep(now);
    return [...this.#entries].map(([key, entry]) => ({
      key,
      state: stateOf(entry, now),
      consecutiveFailures: entry.failures,
      consecutiveRateLimits: entry.rateLimits,
      latencyMs: entry.latencyMs,
      openUntil: entry.openedAt === undefined ? undefined : entry.openedAt + entry.openForMs,
      reopens: entry.reopens,
    }));
  }

  #open(entry: Entry, now: number, forMs: number): void {
    entry.openedAt = now;
    entry.openForMs = forMs;
    entry.probeAt = undefined;
    entry.failures = 0;
    entry.rateLimits = 0;
  }

  #read(key: string, now: number): Entry | undefined {
    this.#sweep(now);
    return this.#entries.get(key);
  }

  #write(key: string, now: number): Entry {
    const entry = this.#read(key, now) ?? {
      failures: 0,
      rateLimits: 0,
      latencyMs: undefined,
      openedAt: undefined,
      openForMs: 0,
      reopens: 0,
      probeAt: undefined,
      touchedAt: now,
    };
    this.#touch(key, entry, now);
    if (this.#entries.size > this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return entry;
  }

  #touch(key: string, entry: Entry, now: number): void {
    entry.touchedAt = now;
    // Already the newest entry: moving it would only churn the Map's table (a delete and a set per
    // request made V8 rebuild it every few requests, and each rebuilt table outlived a scavenge).
    if (this.#newest === key && this.#entries.get(key) === entry) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#newest = key;
  }

  /** Drops idle entries from the old end; stops at the first fresh one, so it is O(1) amortised. */
  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.touchedAt < this.#idleMs) return;
      this.#entries.delete(key);
    }
  }
}

function stateOf(entry: Entry, now: number): CircuitState {
  if (entry.openedAt === undefined) return 'closed';
  return elapsed(entry.openedAt, now, entry.openForMs) ? 'half_open' : 'open';
}

/** Whether `ms` have passed since `since`. A wall clock stepped backwards counts as passed, so it cannot hold a circuit open for the size of the step. */
function elapsed(since: number, now: number, ms: number): boolean {
  const passed = now - since;
  return passed >= ms || passed < 0;
}

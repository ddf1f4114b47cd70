/**
 * The Redis counter store, shared by every replica. Each method is one Lua script run with
 * EVALSHA (falling back to EVAL, which also caches the script, when the server answers
 * NOSCRIPT after a restart or SCRIPT FLUSH): one round trip, atomic on the server, timed by the
 * server's clock. Every key is namespaced under the prefix and carries a TTL.
 *
 * Outages: commands are never queued while disconnected (the offline queue is off and nothing
 * is retried), so a call rejects with `CounterStoreUnavailable` at once when Redis is down and
 * within the timeout when it hangs; the client reconnects in the background by itself.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { DEFAULT_RESERVATION_TTL_MS, RESERVATION_RECORD_GRACE_MS } from './defaults.js';
import { CounterStoreUnavailable } from './errors.js';
import { BUDGET_FINISH, BUDGET_RESERVE, BUDGET_SPEND, RATE_ADJUST, RATE_CHECK } from './redis-scripts.js';
import { decide, windowAt } from './sliding-window.js';
import type {
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

/** Options of `createRedisCounterStore`. */
export interface RedisCounterStoreOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS (`REDIS_URL`). */
  url: string;
  /** Prefix of every key; default `sluice:`. On Redis Cluster use a hash tag such as `{sluice}:`. */
  prefix?: string;
  /** Connect timeout and per-command timeout in ms; default 200. */
  timeoutMs?: number;
  /** How long an unsettled reservation counts; default 15 minutes. */
  reservationTtlMs?: number;
  /**
   * Receives each connection-level error (refused, lost, timed out) for the caller to log; the
   * store itself logs nothing and keeps reconnecting with a backoff of at most one second.
   */
  onConnectionError?: (err: Error) => void;
  /** Name shown by `CLIENT LIST`; default `sluice-counters`. */
  connectionName?: string;
}

interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });

const SCRIPTS = {
  rateCheck: script(RATE_CHECK),
  rateAdjust: script(RATE_ADJUST),
  reserve: script(BUDGET_RESERVE),
  finish: script(BUDGET_FINISH),
  spend: script(BUDGET_SPEND),
};

const OUTCOMES: readonly ReservationOutcome[] = ['applied', 'already_settled', 'already_released', 'unknown'];

function unexpected(reply: unknown): never {
  throw new TypeError(`unexpected reply from a counter script: ${JSON.stringify(reply)}`);
}

function asArray(reply: unknown): unknown[] {
  return Array.isArray(reply) ? reply : unexpected(reply);
}

function asInt(reply: unknown): number {
  return typeof reply === 'number' && Number.isSafeInteger(reply) ? reply : unexpected(reply);
}

function asNanos(reply: unknown): bigint {
  return typeof reply === 'string' && /^\d+$/.test(reply) ? BigInt(reply) : unexpected(reply);
}

/** The Redis `CounterStore`. Create it with `createRedisCounterStore`. */
export class RedisCounterStore implements CounterStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly reservationTtlMs: number;
  private lastError: Error | undefined;
  private closed = false;

  constructor(options: RedisCounterStoreOptions) {
    const timeoutMs = options.timeoutMs ?? 200;
    this.prefix = options.prefix ?? 'sluice:';
    this.reservationTtlMs = options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.redis = new Redis(options.url, {
      connectionName: options.connectionName ?? 'sluice-counters',
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      // Commands issued in the same tick (concurrent requests, a settlement's two scripts) share one socket write.
      enableAutoPipelining: true,
      // Fail fast instead of queueing: a limit decides on its failure mode, not on a backlog.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A command cut off by a lost connection may have run; resending could charge twice.
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    });
    // Without a listener an 'error' event would crash the process.
    this.redis.on('error', (err: Error) => {
      this.lastError = err;
      options.onConnectionError?.(err);
    });
  }

  async checkRates(checks: readonly RateCheck[]): Promise<RateResult> {
    return this.rate(checks, true);
  }

  async peekRates(checks: readonly RateCheck[]): Promise<RateResult> {
    return this.rate(checks, false);
  }

  async adjustRates(adjustments: readonly RateAdjustment[]): Promise<void> {
    validateRateAdjustments(adjustments);
    if (adjustments.length === 0) return;
    await this.run(
      SCRIPTS.rateAdjust,
      adjustments.map((a) => this.rateKey(a.key, a.windowMs)),
      adjustments.flatMap((a) => [a.windowMs, a.chargedAtMs, a.delta]),
    );
  }

  async reserveBudgets(reserves: readonly BudgetReserve[]): Promise<BudgetReservation> {
    validateBudgetReserves(reserves);
    if (reserves.length === 0) return { allowed: true, decisions: [] };
    const id = randomUUID();
    const reply = asArray(
      await this.run(
        SCRIPTS.reserve,
        [this.recordKey(id), ...reserves.flatMap((r) => [this.counterKey(r.key, r.periodKey), this.holdsKey(r.key, r.periodKey)])],
        [
          id,
          this.reservationTtlMs,
          this.reservationTtlMs + RESERVATION_RECORD_GRACE_MS,
          ...reserves.flatMap((r) => [r.limitNanos.toString(), r.amountNanos.toString(), r.expireAtMs, r.block ? '1' : '0']),
        ],
      ),
    );
    const allowed = asInt(reply[1]) === 1;
    const decisions = reserves.map((r, i) => {
      const at = 2 + i * 3;
      return { fits: asInt(reply[at]) === 1, spentNanos: asNanos(reply[at + 1]) + asNanos(reply[at + 2]), limitNanos: r.limitNanos };
    });
    return allowed ? { allowed, reservationId: id, decisions } : { allowed, decisions };
  }

  async settleBudget(reservationId: string, actualNanos: bigint): Promise<ReservationOutcome> {
    validateReservationId(reservationId);
    validateActualNanos(actualNanos);
    return this.finish(reservationId, 'settle', actualNanos);
  }

  async releaseBudget(reservationId: string): Promise<ReservationOutcome> {
    validateReservationId(reservationId);
    return this.finish(reservationId, 'release', 0n);
  }

  async spend(key: string, periodKey: string): Promise<BudgetSpend> {
    validateBudgetId(key, periodKey);
    const reply = asArray(await this.run(SCRIPTS.spend, [this.counterKey(key, periodKey), this.holdsKey(key, periodKey)], []));
    return { settledNanos: asNanos(reply[0]), reservedNanos: asNanos(reply[1]) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  /**
   * Resolves once connected, or rejects with `CounterStoreUnavailable` after `timeoutMs`. Calls
   * made before the first connection reject, so start-up (and `/readyz`) can wait on this.
   */
  async whenReady(timeoutMs: number): Promise<void> {
    if (this.closed) throw new CounterStoreUnavailable();
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(new CounterStoreUnavailable({ cause: this.lastError }));
      }, timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  private rateKey(key: string, windowMs: number): string {
    return `${this.prefix}rl:${windowMs}:${key}`;
  }

  private counterKey(key: string, periodKey: string): string {
    return `${this.prefix}budget:c:${periodKey}:${key}`;
  }

  private holdsKey(key: string, periodKey: string): string {
    return `${this.prefix}budget:h:${periodKey}:${key}`;
  }

  private recordKey(reservationId: string): string {
    return `${this.prefix}budget:r:${reservationId}`;
  }

  private async rate(checks: readonly RateCheck[], charge: boolean): Promise<RateResult> {
    validateRateChecks(checks);
    if (checks.length === 0) return { allowed: true, atMs: Date.now(), decisions: [] };
    const reply = asArray(
      await this.run(
        SCRIPTS.rateCheck,
        checks.map((c) => this.rateKey(c.key, c.windowMs)),
        [charge ? '1' : '0', ...checks.flatMap((c) => [c.windowMs, c.limit, c.burst, c.cost])],
      ),
    );
    const now = asInt(reply[0]);
    const decisions = checks.map((check, i) => {
      const at = 2 + i * 4;
      const state = { index: asInt(reply[at + 1]), previous: asInt(reply[at + 2]), current: asInt(reply[at + 3]) };
      return decide(check, windowAt(state, check.windowMs, now), now, asInt(reply[at]) === 1);
    });
    return { allowed: asInt(reply[1]) === 1, atMs: now, decisions };
  }

  private async finish(reservationId: string, mode: 'settle' | 'release', actualNanos: bigint): Promise<ReservationOutcome> {
    const reply = await this.run(SCRIPTS.finish, [this.recordKey(reservationId)], [mode, actualNanos.toString()]);
    return OUTCOMES.find((o) => o === reply) ?? unexpected(reply);
  }

  /** One script call: EVALSHA, then EVAL once if the server does not have the script cached. */
  private async run(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (this.closed) throw new CounterStoreUnavailable();
    try {
      return await this.redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw new CounterStoreUnavailable({ cause: err });
    }
    try {
      return await this.redis.eval(s.source, keys.length, ...keys, ...args);
    } catch (err) {
      throw new CounterStoreUnavailable({ cause: err });
    }
  }
}

/** Creates a Redis counter store with its own connection; it connects in the background at once. */
export function createRedisCounterStore(options: RedisCounterStoreOptions): RedisCounterStore {
  return new RedisCounterStore(options);
}

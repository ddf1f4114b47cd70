/**
 * Behaviour both stores share, run against the memory store (fake clock) and a real Redis
 * (real time, 1 s windows). Redis must be reachable at REDIS_URL (default 127.0.0.1:6379):
 * the Redis half fails rather than skips without it. Real-time bounds leave 250 ms for a busy
 * machine between aligning on a window and the calls that follow.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryCounterStore } from './memory-store.js';
import { createRedisCounterStore } from './redis-store.js';
import type { BudgetReserve, CounterStore, RateCheck } from './types.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const W = 1000;

interface Harness {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A store; each call with options makes a new one (closed at teardown). */
  store(options?: { reservationTtlMs?: number }): Promise<CounterStore>;
  /** Lets `ms` pass: the fake clock for memory, a real sleep for Redis. */
  wait(ms: number): Promise<void>;
  /** Moves to `offsetMs` past the start of the next aligned window of `windowMs`. */
  alignTo(windowMs: number, offsetMs: number): Promise<void>;
}

function memoryHarness(): Harness {
  let now = Date.UTC(2026, 11, 1);
  let main: CounterStore | undefined;
  return {
    name: 'memory',
    async setup() {
      main = createMemoryCounterStore({ now: () => now });
    },
    async teardown() {
      await main?.close();
    },
    async store(options) {
      return options ? createMemoryCounterStore({ now: () => now, ...options }) : main!;
    },
    async wait(ms) {
      now += ms;
    },
    async alignTo(windowMs, offsetMs) {
      now = (Math.floor(now / windowMs) + 1) * windowMs + offsetMs;
    },
  };
}

function redisHarness(): Harness {
  const prefix = `sluice-test:${randomUUID().slice(0, 8)}:`;
  const stores: CounterStore[] = [];
  let admin: Redis | undefined;
  const make = async (options: { reservationTtlMs?: number } = {}): Promise<CounterStore> => {
    const store = createRedisCounterStore({ url: REDIS_URL, prefix, ...options });
    stores.push(store);
    await store.whenReady(2000);
    return store;
  };
  const serverNow = async (): Promise<number> => {
    const [seconds, micros] = await admin!.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };
  return {
    name: 'redis',
    async setup() {
      admin = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      await admin.connect().catch((err: unknown) => {
        throw new Error(`these tests need Redis at ${REDIS_URL} (start it with: redis-server --daemonize yes --port 6379 --save "" --appendonly no)`, { cause: err });
      });
      await make();
    },
    async teardown() {
      await Promise.all(stores.map((s) => s.close()));
      if (!admin) return;
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length) await admin.del(...keys);
      await admin.quit();
    },
    async store(options) {
      return options ? make(options) : stores[0]!;
    },
    async wait(ms) {
      await sleep(ms);
    },
    async alignTo(windowMs, offsetMs) {
      const now = await serverNow();
      await sleep((Math.floor(now / windowMs) + 1) * windowMs + offsetMs - now);
    },
  };
}

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

describe.each([memoryHarness(), redisHarness()])('$name counter store', (h) => {
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  describe('rate limits', () => {
    it('admits up to the limit in a window, then denies with the time until one fits', async () => {
      const store = await h.store();
      const check: RateCheck = { key: uid('basic'), windowMs: W, limit: 3, burst: 0, cost: 1 };
      await h.alignTo(W, 50);
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await store.checkRates([check]));
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
      expect(results.map((r) => r.decisions[0]!.remaining)).toEqual([2, 1, 0, 0]);
      const denied = results[3]!.decisions[0]!;
      expect(denied).toMatchObject({ fits: false, used: 3, limit: 3 });
      // All three still weigh on the next window; one more fits once a third of it has passed:
      // 3 × (1 − e/W) + 1 ≤ 3 ⇔ e ≥ 334 ms, so (W − 50) + 334 = 1284 ms from the denial.
      expect(denied.retryAfterMs).toBeLessThanOrEqual(1284);
      expect(denied.retryAfterMs).toBeGreaterThan(1284 - 250);
      // Back to zero once the next window has passed too.
      expect(denied.resetMs).toBeLessThanOrEqual(2 * W - 50);
      expect(denied.resetMs).toBeGreaterThan(2 * W - 50 - 250);

      await h.wait(denied.retryAfterMs! + 20);
      const after = [await store.checkRates([check]), await store.checkRates([check])];
      expect(after.map((r) => r.allowed)).toEqual([true, false]);

      await h.wait(2 * W);
      const fresh = await store.peekRates([check]);
      expect(fresh.decisions[0]).toMatchObject({ fits: true, used: 0, remaining: 3, resetMs: 0 });
    });

    it('lets one window take limit + burst and repays it in the next', async () => {
      const store = await h.store();
      const check: RateCheck = { key: uid('burst'), windowMs: W, limit: 4, burst: 2, cost: 1 };
      await h.alignTo(W, 50);
      const first = [];
      for (let i = 0; i < 7; i++) first.push((await store.checkRates([check])).allowed);
      expect(first).toEqual([true, true, true, true, true, true, false]);
      // Next window, 600 ms in: the rolling estimate (6 × 0.4 = 2.4) would allow 3 more, but two
      // aligned windows together stay within 2 × limit = 8, so only 2 do.
      await h.alignTo(W, 600);
      const second = [];
      for (let i = 0; i < 3; i++) second.push(await store.checkRates([check]));
      expect(second.map((r) => r.allowed)).toEqual([true, true, false]);
      // The third fits when the burst window leaves the pair, at the start of the window after.
      const retry = second[2]!.decisions[0]!.retryAfterMs!;
      expect(retry).toBeLessThanOrEqual(400);
      expect(retry).toBeGreaterThan(400 - 250);
    });

    it('checks several limits all-or-nothing', async () => {
      const store = await h.store();
      const wide: RateCheck = { key: uid('wide'), windowMs: 60_000, limit: 10, burst: 0, cost: 1 };
      const narrow: RateCheck = { key: uid('narrow'), windowMs: 60_000, limit: 1, burst: 0, cost: 1 };
      expect((await store.checkRates([wide, narrow])).allowed).toBe(true);
      const denied = await store.checkRates([wide, narrow]);
      expect(denied.allowed).toBe(false);
      expect(denied.decisions.map((d) => d.fits)).toEqual([true, false]);
      expect(denied.decisions[1]!.retryAfterMs).toBeGreaterThan(0);
      // The limit that had room was not charged either.
      const peek = await store.peekRates([wide]);
      expect(peek.decisions[0]).toMatchObject({ used: 1, remaining: 9 });
    });

    it('settles a token limit with the real usage', async () => {
      const store = await h.store();
      const tokens: RateCheck = { key: uid('tpm'), windowMs: 3_600_000, limit: 1000, burst: 0, cost: 400 };
      const charged = await store.checkRates([tokens]);
      expect(charged.decisions[0]).toMatchObject({ used: 400, remaining: 600 });
      await store.adjustRates([{ key: tokens.key, windowMs: tokens.windowMs, chargedAtMs: charged.atMs, delta: -300 }]);
      expect((await store.peekRates([{ ...tokens, cost: 0 }])).decisions[0]).toMatchObject({ used: 100, remaining: 900 });
      await store.adjustRates([{ key: tokens.key, windowMs: tokens.windowMs, chargedAtMs: charged.atMs, delta: 50 }]);
      expect((await store.checkRates([{ ...tokens, cost: 900 }])).allowed).toBe(false);
      expect((await store.checkRates([{ ...tokens, cost: 850 }])).allowed).toBe(true);
      expect((await store.peekRates([{ ...tokens, cost: 0 }])).decisions[0]).toMatchObject({ used: 1000, remaining: 0 });
    });

    it('refunds the window that was charged, and drops refunds older than the horizon', async () => {
      const store = await h.store();
      const tokens: RateCheck = { key: uid('refund'), windowMs: W, limit: 10, burst: 0, cost: 8 };
      await h.alignTo(W, 50);
      const charged = await store.checkRates([tokens]);
      await h.alignTo(W, 500);
      // The refund lands in the previous window (8 → 2), which weighs half now: 2 × 0.5 = 1.
      // Had it gone to the current window it would be lost and 8 × 0.5 = 4 would remain.
      await store.adjustRates([{ key: tokens.key, windowMs: W, chargedAtMs: charged.atMs, delta: -6 }]);
      expect((await store.peekRates([{ ...tokens, cost: 0 }])).decisions[0]!.used).toBe(1);

      const old = await store.checkRates([{ ...tokens, cost: 5 }]);
      await h.wait(2 * W + 50);
      await store.adjustRates([{ key: tokens.key, windowMs: W, chargedAtMs: old.atMs, delta: -5 }]);
      expect((await store.peekRates([{ ...tokens, cost: 0 }])).decisions[0]!.used).toBe(0);
      // Usage beyond the reservation counts now, whenever the charge was.
      await store.adjustRates([{ key: tokens.key, windowMs: W, chargedAtMs: old.atMs, delta: 3 }]);
      expect((await store.peekRates([{ ...tokens, cost: 0 }])).decisions[0]!.used).toBe(3);
    });

    it('denies for good a cost above the capacity', async () => {
      const store = await h.store();
      const check: RateCheck = { key: uid('huge'), windowMs: 60_000, limit: 10, burst: 2, cost: 13 };
      const denied = await store.checkRates([check]);
      expect(denied.allowed).toBe(false);
      expect(denied.decisions[0]!.retryAfterMs).toBeUndefined();
      expect((await store.checkRates([{ ...check, cost: 12 }])).allowed).toBe(true);
    });

    it('rejects malformed checks with a RangeError before touching the store', async () => {
      const store = await h.store();
      const ok: RateCheck = { key: uid('bad'), windowMs: W, limit: 10, burst: 0, cost: 1 };
      for (const bad of [{ burst: 11 }, { cost: -1 }, { cost: 1.5 }, { windowMs: 0 }, { limit: 0 }, { key: '' }]) {
        await expect(store.checkRates([{ ...ok, ...bad }])).rejects.toBeInstanceOf(RangeError);
      }
      await expect(store.checkRates([ok, { ...ok, limit: 5 }])).rejects.toBeInstanceOf(RangeError);
      expect((await store.checkRates([])).allowed).toBe(true);
    });
  });

  describe('budgets', () => {
    const periodKey = '2026-12';
    const expireAtMs = Date.now() + 3_600_000;
    const budget = (name: string, limitNanos: bigint, amountNanos: bigint, block = true): BudgetReserve => ({
      key: uid(name),
      periodKey,
      limitNanos,
      amountNanos,
      expireAtMs,
      block,
    });

    it('reserves, then settles or releases exactly once', async () => {
      const store = await h.store();
      const b = budget('lifecycle', 1_000n, 300n);
      const first = await store.reserveBudgets([b]);
      expect(first).toMatchObject({ allowed: true, decisions: [{ fits: true, spentNanos: 300n, limitNanos: 1_000n }] });
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 0n, reservedNanos: 300n });

      expect(await store.settleBudget(first.reservationId!, 120n)).toBe('applied');
      expect(await store.settleBudget(first.reservationId!, 120n)).toBe('already_settled');
      expect(await store.releaseBudget(first.reservationId!)).toBe('already_settled');
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 120n, reservedNanos: 0n });

      const second = await store.reserveBudgets([b]);
      expect(second.decisions[0]!.spentNanos).toBe(420n);
      expect(await store.releaseBudget(second.reservationId!)).toBe('applied');
      expect(await store.releaseBudget(second.reservationId!)).toBe('already_released');
      expect(await store.settleBudget(second.reservationId!, 300n)).toBe('already_released');
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 120n, reservedNanos: 0n });

      expect(await store.settleBudget(randomUUID(), 1n)).toBe('unknown');
    });

    it('reserves on every budget or on none, and never blocks on an alert budget', async () => {
      const store = await h.store();
      const workspace = budget('workspace', 1_000n, 400n);
      const key = budget('key', 500n, 400n);
      const alert = budget('alert', 100n, 400n, false);
      const first = await store.reserveBudgets([workspace, key, alert]);
      expect(first.allowed).toBe(true);
      expect(first.decisions.map((d) => d.fits)).toEqual([true, true, false]);

      const second = await store.reserveBudgets([workspace, key, alert]);
      expect(second.allowed).toBe(false);
      expect(second.reservationId).toBeUndefined();
      expect(second.decisions.map((d) => [d.fits, d.spentNanos])).toEqual([
        [true, 400n],
        [false, 400n],
        [false, 400n],
      ]);
      // The workspace budget had room but was not charged.
      expect(await store.spend(workspace.key, periodKey)).toEqual({ settledNanos: 0n, reservedNanos: 400n });

      // Settling applies the real cost to every budget of the reservation, in one call.
      expect(await store.settleBudget(first.reservationId!, 250n)).toBe('applied');
      for (const b of [workspace, key, alert]) expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 250n, reservedNanos: 0n });
      // A lower limit passed later takes effect at once.
      expect((await store.reserveBudgets([{ ...workspace, limitNanos: 600n }])).allowed).toBe(false);
    });

    it('keeps amounts beyond 2^53 exact', async () => {
      const store = await h.store();
      const b = budget('big', 9_000_000_000_000_000_000n, 999_999_999_999n);
      const r = await store.reserveBudgets([b]);
      expect(r.decisions[0]!.spentNanos).toBe(999_999_999_999n);
      expect(await store.settleBudget(r.reservationId!, 1_234_567_890_123_456_789n)).toBe('applied');
      const again = await store.reserveBudgets([{ ...b, amountNanos: 1n }]);
      expect(again.decisions[0]!.spentNanos).toBe(1_234_567_890_123_456_790n);
      expect(await store.settleBudget(again.reservationId!, 999_999_999_999n)).toBe('applied');
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 1_234_568_890_123_456_788n, reservedNanos: 0n });
      const over = await store.reserveBudgets([{ ...b, amountNanos: 9_000_000_000_000_000_000n - 1_234_568_890_123_456_788n + 1n }]);
      expect(over.allowed).toBe(false);
      // A carry that lands exactly on the limb boundary.
      const carry = budget('carry', 2n ** 62n, 1_000_000_999_999_999_999n);
      await store.reserveBudgets([carry]);
      expect((await store.reserveBudgets([{ ...carry, amountNanos: 1n }])).decisions[0]!.spentNanos).toBe(1_000_001_000_000_000_000n);
      await expect(store.reserveBudgets([{ ...b, amountNanos: 2n ** 63n }])).rejects.toBeInstanceOf(RangeError);
      await expect(store.reserveBudgets([{ ...b, amountNanos: -1n }])).rejects.toBeInstanceOf(RangeError);
    });

    it('stops counting a reservation after its TTL, and still records its late settlement', async () => {
      const store = await h.store({ reservationTtlMs: 300 });
      const b = budget('expiry', 1_000n, 1_000n);
      const crashed = await store.reserveBudgets([b]);
      expect((await store.reserveBudgets([b])).allowed).toBe(false);
      await h.wait(400);
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 0n, reservedNanos: 0n });
      const next = await store.reserveBudgets([b]);
      expect(next.allowed).toBe(true);
      // The slow request finally settles: its cost is recorded, and its expired hold is not
      // subtracted twice from the live one.
      expect(await store.settleBudget(crashed.reservationId!, 200n)).toBe('applied');
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 200n, reservedNanos: 1_000n });
      expect(await store.releaseBudget(next.reservationId!)).toBe('applied');
      expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: 200n, reservedNanos: 0n });
    });

    it('admits exactly 10 of 200 concurrent worst-case reservations, and settled spend never exceeds the budget', async () => {
      const store = await h.store();
      const LIMIT = 10_000_000n;
      const WORST = 1_000_000n;
      const b = budget('race', LIMIT, WORST);
      let settled = 0n;
      let round = 0;
      for (;;) {
        const results = await Promise.all(Array.from({ length: 200 }, () => store.reserveBudgets([b])));
        const admitted = results.filter((r) => r.allowed);
        expect(admitted.length).toBe(Number((LIMIT - settled) / WORST));
        if (round === 0) expect(admitted.length).toBe(10);
        if (admitted.length === 0) break;
        expect(await store.spend(b.key, periodKey)).toEqual({ settledNanos: settled, reservedNanos: BigInt(admitted.length) * WORST });
        // Real costs are between half and all of the worst case; settle them concurrently too.
        const costs = admitted.map((_, i) => WORST / 2n + BigInt((i * 7919 + round * 104729) % 500_001));
        const outcomes = await Promise.all(admitted.map((r, i) => store.settleBudget(r.reservationId!, costs[i]!)));
        expect(outcomes.every((o) => o === 'applied')).toBe(true);
        settled += costs.reduce((a, c) => a + c, 0n);
        const spend = await store.spend(b.key, periodKey);
        expect(spend).toEqual({ settledNanos: settled, reservedNanos: 0n });
        expect(spend.settledNanos).toBeLessThanOrEqual(LIMIT);
        round += 1;
      }
      expect(round).toBeGreaterThan(1);
      expect(LIMIT - settled).toBeLessThan(WORST);
    });
  });
});

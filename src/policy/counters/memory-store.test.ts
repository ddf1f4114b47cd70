import { describe, expect, it } from 'vitest';
import { CounterStoreUnavailable } from './errors.js';
import { createMemoryCounterStore } from './memory-store.js';
import type { BudgetReserve, RateCheck } from './types.js';

function clock(start = Date.UTC(2026, 11, 1)): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (ms) => (t = ms) };
}

const T0 = Date.UTC(2026, 11, 1);
const limit10: RateCheck = { key: 'k', windowMs: 1000, limit: 10, burst: 0, cost: 1 };

describe('memory counter store', () => {
  it('slides the window exactly as the two-bucket estimate says', async () => {
    const c = clock(T0);
    const store = createMemoryCounterStore({ now: c.now });
    for (let i = 0; i < 10; i++) expect((await store.checkRates([limit10])).allowed).toBe(true);
    const denied = await store.checkRates([limit10]);
    // 10 × (1 − e/1000) + 1 ≤ 10 from e = 100 ms into the next window.
    expect(denied.decisions[0]).toMatchObject({ fits: false, used: 10, remaining: 0, resetMs: 2000, retryAfterMs: 1100 });
    c.advance(1099);
    expect((await store.peekRates([limit10])).allowed).toBe(false);
    c.advance(1);
    expect((await store.peekRates([limit10])).decisions[0]).toMatchObject({ fits: true, used: 9, remaining: 1 });
    c.set(T0 + 1500);
    const half = [];
    for (let i = 0; i < 6; i++) half.push((await store.checkRates([limit10])).allowed);
    expect(half).toEqual([true, true, true, true, true, false]);
    expect((await store.peekRates([limit10])).decisions[0]).toMatchObject({ used: 10, resetMs: 1500 });
    await store.close();
  });

  it('keeps memory bounded: expired counters and reservations are swept as calls go by', async () => {
    const c = clock(T0);
    const store = createMemoryCounterStore({ now: c.now, reservationTtlMs: 1000 });
    for (let i = 0; i < 5000; i++) await store.checkRates([{ ...limit10, key: `user-${i}` }]);
    const reserve = (key: string): BudgetReserve => ({ key, periodKey: '2026-12-01', limitNanos: 10n, amountNanos: 1n, expireAtMs: T0 + 86_400_000, block: true });
    for (let i = 0; i < 500; i++) await store.reserveBudgets([reserve(`budget-${i}`)]);
    expect(store.stats()).toEqual({ rateCounters: 5000, budgetCounters: 500, reservations: 500 });

    // Past the rate windows, the period's end and the reservations' record grace.
    c.advance(2 * 86_400_000);
    for (let i = 0; i < 1000; i++) await store.peekRates([limit10]);
    expect(store.stats()).toEqual({ rateCounters: 0, budgetCounters: 0, reservations: 0 });
    await store.close();
  });

  it('forgets the least recently used rate counter beyond its cap', async () => {
    const c = clock(T0);
    const store = createMemoryCounterStore({ now: c.now, maxRateCounters: 50 });
    for (let i = 0; i < 200; i++) {
      await store.checkRates([{ ...limit10, key: `user-${i}` }]);
      await store.checkRates([{ ...limit10, key: 'busy' }]);
    }
    expect(store.stats().rateCounters).toBe(50);
    expect((await store.peekRates([{ ...limit10, key: 'busy' }])).decisions[0]!.used).toBe(10);
    expect((await store.peekRates([{ ...limit10, key: 'user-199' }])).decisions[0]!.used).toBe(1);
    expect((await store.peekRates([{ ...limit10, key: 'user-0' }])).decisions[0]!.used).toBe(0);
    await store.close();
  });

  it('keeps counting when the clock steps back', async () => {
    const c = clock(T0 + 5000);
    const store = createMemoryCounterStore({ now: c.now });
    for (let i = 0; i < 10; i++) await store.checkRates([limit10]);
    c.set(T0 + 2000);
    expect((await store.checkRates([limit10])).allowed).toBe(false);
    await store.close();
  });

  it('rejects calls after close', async () => {
    const store = createMemoryCounterStore();
    await store.close();
    await expect(store.checkRates([limit10])).rejects.toBeInstanceOf(CounterStoreUnavailable);
    await expect(store.spend('k', '2026-12')).rejects.toBeInstanceOf(CounterStoreUnavailable);
  });
});

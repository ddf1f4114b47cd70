import { describe, expect, it } from 'vitest';
import { applyAdjustment, decide, fits, weightedCount, windowAt, type WindowState } from './sliding-window.js';
import type { RateCheck } from './types.js';

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** A reachable state: random traffic admitted by the rule itself, with random refunds. */
function scenario(seed: number): { check: RateCheck; state: WindowState | undefined; now: number } {
  const rnd = random(seed);
  const windowMs = [1, 7, 1000, 60_000][rnd(4)]!;
  const limit = 1 + rnd(50);
  const check: RateCheck = { key: 'k', windowMs, limit, burst: rnd(limit + 1), cost: 0 };
  let now = 1_800_000_000_000 + rnd(windowMs);
  let state: WindowState | undefined;
  for (let i = rnd(30); i > 0; i--) {
    now += rnd(Math.ceil(windowMs / 2) + 1);
    const view = windowAt(state, windowMs, now);
    const cost = rnd(limit + check.burst + 1);
    if (fits({ ...check, cost }, view)) view.state.current += cost;
    if (rnd(5) === 0) applyAdjustment(view.state, view.state.index - rnd(3), -rnd(limit));
    state = view.state;
  }
  return { check: { ...check, cost: rnd(limit + check.burst + 3) }, state, now: now + rnd(windowMs) };
}

describe('sliding window', () => {
  it('weighs the previous window by its overlap with the rolling window', () => {
    const stored = { index: 10, current: 8, previous: 0 };
    expect(weightedCount(windowAt(stored, 1000, 10_999), 1000)).toBe(8);
    expect(weightedCount(windowAt(stored, 1000, 11_250), 1000)).toBe(6);
    expect(weightedCount(windowAt(stored, 1000, 11_999), 1000)).toBeCloseTo(0.008);
    expect(weightedCount(windowAt(stored, 1000, 12_000), 1000)).toBe(0);
  });

  it('keeps a state that is ahead of a clock that stepped back', () => {
    const view = windowAt({ index: 11, current: 3, previous: 4 }, 1000, 10_500);
    expect(view).toEqual({ state: { index: 11, current: 3, previous: 4 }, elapsedMs: 0 });
  });

  it('reports as remaining exactly the largest cost that fits', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const { check, state, now } = scenario(seed);
      const view = windowAt(state, check.windowMs, now);
      const { remaining } = decide(check, view, now, true);
      expect(fits({ ...check, cost: remaining }, view), `seed ${seed}`).toBe(true);
      expect(fits({ ...check, cost: remaining + 1 }, view), `seed ${seed}`).toBe(false);
    }
  });

  it('gives as retry time the first ms at which the cost fits, and nothing when it never can', () => {
    let denied = 0;
    for (let seed = 1; seed <= 3000; seed++) {
      const { check, state, now } = scenario(seed);
      const view = windowAt(state, check.windowMs, now);
      if (fits(check, view)) continue;
      denied += 1;
      const { retryAfterMs } = decide(check, view, now, false);
      const fitsAfter = (ms: number): boolean => fits(check, windowAt(state, check.windowMs, now + ms));
      if (retryAfterMs === undefined) {
        expect(check.cost > Math.min(check.limit + check.burst, 2 * check.limit), `seed ${seed}`).toBe(true);
        continue;
      }
      expect(fitsAfter(retryAfterMs), `seed ${seed}`).toBe(true);
      expect(fitsAfter(retryAfterMs - 1), `seed ${seed}`).toBe(false);
      // The estimate only decays, so it keeps fitting afterwards.
      for (const later of [1, check.windowMs, 3 * check.windowMs]) expect(fitsAfter(retryAfterMs + later), `seed ${seed}`).toBe(true);
    }
    expect(denied).toBeGreaterThan(300);
  });

  it('resets to zero after resetMs', () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const { check, state, now } = scenario(seed);
      const view = windowAt(state, check.windowMs, now);
      const { resetMs } = decide(check, view, now, true);
      const after = windowAt(state, check.windowMs, now + resetMs);
      expect(weightedCount(after, check.windowMs) + after.state.previous + after.state.current, `seed ${seed}`).toBe(0);
    }
  });

  it('refunds the charged window only while it is current or previous', () => {
    const state = (): WindowState => ({ index: 5, current: 10, previous: 10 });
    const cases: [number, number, Partial<WindowState>][] = [
      [5, -4, { current: 6, previous: 10 }],
      [4, -4, { current: 10, previous: 6 }],
      [3, -4, { current: 10, previous: 10 }],
      [4, -40, { current: 10, previous: 0 }],
      [3, 4, { current: 14, previous: 10 }],
    ];
    for (const [chargedIndex, delta, expected] of cases) {
      const s = state();
      applyAdjustment(s, chargedIndex, delta);
      expect(s).toMatchObject(expected);
    }
  });
});

/**
 * The two-bucket sliding-window counter, as pure functions over one counter's state. The
 * memory store runs all of it; the Redis store runs `windowAt`, `fits` and the adjustment
 * rule in Lua (redis-scripts.ts, same formulas in the same order, so both agree to the bit)
 * and derives the rest of the decision here from the state the script returns.
 */
import type { RateCheck, RateDecision } from './types.js';

/** Counts of the aligned window `index` (`floor(t / windowMs)`) and of the window before it. */
export interface WindowState {
  index: number;
  current: number;
  previous: number;
}

/** A counter's state rolled forward to a moment, with the ms elapsed in its current window. */
export interface WindowView {
  state: WindowState;
  elapsedMs: number;
}

/**
 * Rolls a stored state (or none) forward to `nowMs`. A state ahead of `nowMs` (a clock that
 * stepped back) is kept as it is, seen from the start of its window.
 */
export function windowAt(stored: WindowState | undefined, windowMs: number, nowMs: number): WindowView {
  const index = Math.floor(nowMs / windowMs);
  const elapsedMs = nowMs - index * windowMs;
  if (!stored || stored.index < index - 1) return { state: { index, current: 0, previous: 0 }, elapsedMs };
  if (stored.index === index - 1) return { state: { index, current: 0, previous: stored.current }, elapsedMs };
  if (stored.index > index) return { state: { ...stored }, elapsedMs: 0 };
  return { state: { ...stored }, elapsedMs };
}

/** The rolling-window estimate: the previous window weighted by how much of it still overlaps. */
export function weightedCount(view: WindowView, windowMs: number): number {
  return (view.state.previous * (windowMs - view.elapsedMs)) / windowMs + view.state.current;
}

/**
 * The admission rule: the rolling estimate stays within `limit + burst`, and the two aligned
 * windows together within `2 × limit`, so a burst in one window is repaid in the next.
 */
export function fits(check: RateCheck, view: WindowView): boolean {
  return (
    weightedCount(view, check.windowMs) + check.cost <= check.limit + check.burst &&
    view.state.previous + view.state.current + check.cost <= 2 * check.limit
  );
}

/**
 * Applies a settlement to a state already rolled to now: extra usage counts in the current
 * window; a refund goes to the window that was charged (`chargedIndex`), floored at zero, and is
 * dropped once that window is older than the previous one.
 */
export function applyAdjustment(state: WindowState, chargedIndex: number, delta: number): void {
  if (delta >= 0) state.current += delta;
  else if (chargedIndex >= state.index) state.current = Math.max(0, state.current + delta);
  else if (chargedIndex === state.index - 1) state.previous = Math.max(0, state.previous + delta);
}

/** Absorbs float noise in the weighted estimate before rounding to whole units. */
const EPSILON = 1e-9;

/**
 * Earliest ms from now at which `check.cost` fits with no further traffic, or undefined if it
 * never does. The estimate only decays, so the search walks the current window, the next one
 * (the current count becomes the previous) and the one after (empty).
 */
function retryAfterMs(check: RateCheck, view: WindowView, nowMs: number): number | undefined {
  const { windowMs } = check;
  const { index, current } = view.state;
  const phases: [WindowState, number][] = [
    [view.state, view.elapsedMs],
    [{ index: index + 1, previous: current, current: 0 }, 0],
    [{ index: index + 2, previous: 0, current: 0 }, 0],
  ];
  for (const [state, fromElapsed] of phases) {
    if (state.previous + state.current + check.cost > 2 * check.limit) continue;
    const room = check.limit + check.burst - state.current - check.cost;
    if (room < 0) continue;
    const exact = state.previous <= room ? fromElapsed : Math.ceil(windowMs * (1 - room / state.previous));
    // Float rounding can put the computed boundary one ms either side of the true one.
    const from = Math.max(fromElapsed, exact - 1);
    const elapsed = [from, from + 1, from + 2].find((e) => e < windowMs && fits(check, { state, elapsedMs: e }));
    if (elapsed !== undefined) return Math.max(0, state.index * windowMs + elapsed - nowMs);
  }
  return undefined;
}

/** Ms until both windows are empty: the current count weighs until the end of the next window. */
function resetMs(view: WindowView, windowMs: number, nowMs: number): number {
  const { index, previous, current } = view.state;
  if (current > 0) return (index + 2) * windowMs - nowMs;
  if (previous > 0) return (index + 1) * windowMs - nowMs;
  return 0;
}

/** The decision for one limit, given its state at `nowMs` (after the charge when it was charged). */
export function decide(check: RateCheck, view: WindowView, nowMs: number, limitFits: boolean): RateDecision {
  const weighted = weightedCount(view, check.windowMs);
  const room = Math.min(check.limit + check.burst - weighted, 2 * check.limit - view.state.previous - view.state.current);
  const decision: RateDecision = {
    fits: limitFits,
    used: Math.max(0, Math.ceil(weighted - EPSILON)),
    remaining: Math.max(0, Math.floor(room + EPSILON)),
    limit: check.limit,
    resetMs: resetMs(view, check.windowMs, nowMs),
  };
  if (!limitFits) {
    const retry = retryAfterMs(check, view, nowMs);
    if (retry !== undefined) decision.retryAfterMs = retry;
  }
  return decision;
}

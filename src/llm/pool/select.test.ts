import { describe, expect, it } from 'vitest';
import { MemberHealth } from './health.js';
import { PoolSelector } from './select.js';
import type { Pool, PoolMember, PoolStrategy } from './types.js';

/** mulberry32: a small seeded PRNG so weighted orders are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function member(key: string, extra: Partial<PoolMember> = {}): PoolMember {
  return { key, provider: key.split('/')[0] ?? key, model: 'm', weight: 1, ...extra };
}

function pool(strategy: PoolStrategy, members: PoolMember[], id = 'route#0'): Pool {
  return { id, strategy, members, fallbackOn: [], attemptTimeoutMs: 0 };
}

function setup(random: () => number = seeded(1)) {
  const clock = { t: 1_000_000 };
  const health = new MemberHealth({ now: () => clock.t, failureThreshold: 1, openMs: 1_000 });
  return { health, clock, selector: new PoolSelector(health, random) };
}

const keys = (members: PoolMember[]) => members.map((m) => m.key);
const abc = () => [member('a'), member('b'), member('c')];

describe('PoolSelector strategies', () => {
  it('priority keeps the listed order on every call', () => {
    const { selector } = setup();
    const p = pool('priority', abc());
    for (let i = 0; i < 3; i++) expect(keys(selector.order(p).members)).toEqual(['a', 'b', 'c']);
  });

  it('round_robin rotates the start on every call', () => {
    const { selector } = setup();
    const p = pool('round_robin', abc());
    const starts = Array.from({ length: 6 }, () => keys(selector.order(p).members));
    expect(starts).toEqual([
      ['a', 'b', 'c'],
      ['b', 'c', 'a'],
      ['c', 'a', 'b'],
      ['a', 'b', 'c'],
      ['b', 'c', 'a'],
      ['c', 'a', 'b'],
    ]);
  });

  it('round_robin keeps one cursor per pool id', () => {
    const { selector } = setup();
    const first = pool('round_robin', abc(), 'r#0');
    const second = pool('round_robin', abc(), 'r#1');
    expect(keys(selector.order(first).members)[0]).toBe('a');
    expect(keys(selector.order(first).members)[0]).toBe('b');
    expect(keys(selector.order(second).members)[0]).toBe('a');
    expect(keys(selector.order(first).members)[0]).toBe('c');
    expect(keys(selector.order(second).members)[0]).toBe('b');
  });

  it('round_robin spreads evenly over the available members when one is open', () => {
    const { selector, health } = setup();
    health.recordFailure('b');
    const p = pool('round_robin', abc());
    const firsts = Array.from({ length: 4 }, () => selector.order(p).members[0]?.key);
    expect(firsts).toEqual(['a', 'c', 'a', 'c']);
  });

  it('weighted picks first in proportion to weight over 10k orders', () => {
    const { selector } = setup(seeded(42));
    const p = pool('weighted', [member('a', { weight: 1 }), member('b', { weight: 3 }), member('c', { weight: 6 })]);
    const first = { a: 0, b: 0, c: 0 };
    const secondAfterC = { a: 0, b: 0 };
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const order = keys(selector.order(p).members) as ('a' | 'b' | 'c')[];
      expect([...order].sort()).toEqual(['a', 'b', 'c']);
      first[order[0]!] += 1;
      if (order[0] === 'c') secondAfterC[order[1] as 'a' | 'b'] += 1;
    }
    expect(Math.abs(first.a / n - 0.1)).toBeLessThan(0.02);
    expect(Math.abs(first.b / n - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(first.c / n - 0.6)).toBeLessThan(0.02);
    // Without replacement: after c, the rest are drawn 1:3.
    const afterC = secondAfterC.a + secondAfterC.b;
    expect(Math.abs(secondAfterC.b / afterC - 0.75)).toBeLessThan(0.03);
  });

  it('weighted is deterministic for a given random source', () => {
    const members = [member('a', { weight: 2 }), member('b', { weight: 5 }), member('c', { weight: 1 }), member('d', { weight: 4 })];
    const run = (seed: number) => {
      const { selector } = setup(seeded(seed));
      return Array.from({ length: 20 }, () => keys(selector.order(pool('weighted', members)).members).join(''));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('weighted maps random draws onto cumulative weights', () => {
    const draws = [0.0, 0.0, 0.99];
    const { selector } = setup(() => draws.shift() ?? 0);
    // total 10: 0.0 → a (weight 1); then total 9: 0.0 → b; then c.
    const p = pool('weighted', [member('a', { weight: 1 }), member('b', { weight: 3 }), member('c', { weight: 6 })]);
    expect(keys(selector.order(p).members)).toEqual(['a', 'b', 'c']);
    const late = [0.95, 0.99];
    const { selector: other } = setup(() => late.shift() ?? 0);
    // 0.95 × 10 = 9.5 → c; then 0.99 × 4 = 3.96 → b; then a.
    expect(keys(other.order(p).members)).toEqual(['c', 'b', 'a']);
  });

  it('weighted treats a weight below 1 as 1', () => {
    const { selector } = setup(() => 0.5);
    const p = pool('weighted', [member('a', { weight: 0 }), member('b', { weight: 1 })]);
    expect(keys(selector.order(p).members)).toEqual(['b', 'a']);
  });

  it('least_latency orders by EWMA, unmeasured first, ties as listed', () => {
    const { selector, health } = setup();
    health.recordSuccess('a', 300);
    health.recordSuccess('b', 100);
    health.recordSuccess('d', 100);
    const p = pool('least_latency', [member('a'), member('b'), member('c'), member('d'), member('e')]);
    expect(keys(selector.order(p).members)).toEqual(['c', 'e', 'b', 'd', 'a']);
  });

  it('least_latency follows the EWMA as latencies change', () => {
    const { selector, health } = setup();
    health.recordSuccess('a', 100);
    health.recordSuccess('b', 200);
    const p = pool('least_latency', [member('a'), member('b')]);
    expect(keys(selector.order(p).members)).toEqual(['a', 'b']);
    // a: 100 → 0.2·1000 + 0.8·100 = 280 > 200.
    health.recordSuccess('a', 1_000);
    expect(keys(selector.order(p).members)).toEqual(['b', 'a']);
  });

  it('lowest_cost orders by price, unknown cost last, ties as listed', () => {
    const { selector } = setup();
    const p = pool('lowest_cost', [
      member('a', { costPerMtokMicros: 5_000_000 }),
      member('b'),
      member('c', { costPerMtokMicros: 150_000 }),
      member('d', { costPerMtokMicros: 5_000_000 }),
      member('e'),
      member('f', { costPerMtokMicros: 0 }),
    ]);
    expect(keys(selector.order(p).members)).toEqual(['f', 'c', 'a', 'd', 'b', 'e']);
  });

  it('returns nothing for an empty pool', () => {
    const { selector } = setup();
    expect(selector.order(pool('round_robin', []))).toEqual({ members: [], skipped: [] });
  });
});

describe('PoolSelector health', () => {
  it('moves open members to skipped, in strategy order', () => {
    const { selector, health } = setup();
    health.recordFailure('c');
    health.recordFailure('a');
    const order = selector.order(pool('lowest_cost', [
      member('a', { costPerMtokMicros: 1 }),
      member('b', { costPerMtokMicros: 2 }),
      member('c', { costPerMtokMicros: 0 }),
    ]));
    expect(keys(order.members)).toEqual(['b']);
    expect(keys(order.skipped)).toEqual(['c', 'a']);
  });

  it('reports every member as skipped when all are open (fail-static is the caller’s call)', () => {
    const { selector, health } = setup();
    for (const key of ['a', 'b', 'c']) health.recordFailure(key);
    const order = selector.order(pool('priority', abc()));
    expect(order.members).toEqual([]);
    expect(keys(order.skipped)).toEqual(['a', 'b', 'c']);
  });

  it('puts the half-open probe first, for one request only', () => {
    const { selector, health, clock } = setup();
    health.recordFailure('c');
    clock.t += 1_000;
    const p = pool('priority', abc());
    const probing = selector.order(p);
    expect(keys(probing.members)).toEqual(['c', 'a', 'b']);
    const concurrent = selector.order(p);
    expect(keys(concurrent.members)).toEqual(['a', 'b']);
    expect(keys(concurrent.skipped)).toEqual(['c']);
    health.recordSuccess('c', 10);
    expect(keys(selector.order(p).members)).toEqual(['a', 'b', 'c']);
  });

  it('claims at most one probe per request', () => {
    const { selector, health, clock } = setup();
    health.recordFailure('a');
    health.recordFailure('b');
    clock.t += 1_000;
    const p = pool('priority', abc());
    const first = selector.order(p);
    expect(keys(first.members)).toEqual(['a', 'c']);
    expect(keys(first.skipped)).toEqual(['b']);
    const second = selector.order(p);
    expect(keys(second.members)).toEqual(['b', 'c']);
    expect(keys(second.skipped)).toEqual(['a']);
    expect(keys(selector.order(p).members)).toEqual(['c']);
  });

  it('shares a member’s circuit across pools', () => {
    const { selector, health } = setup();
    health.recordFailure('b');
    expect(keys(selector.order(pool('priority', abc(), 'x#0')).skipped)).toEqual(['b']);
    expect(keys(selector.order(pool('priority', [member('b'), member('d')], 'y#1')).skipped)).toEqual(['b']);
  });
});

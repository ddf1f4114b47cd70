/**
 * Orders a pool's members for one request. No I/O; the only state is the
 * round-robin cursor per pool id, and reading `MemberHealth` may hand this
 * request a half-open probe.
 */
import type { MemberHealth } from './health.js';
import type { Pool, PoolMember } from './types.js';

/** The attempt order for one request within one pool. */
export interface PoolOrder {
  /** Members to try, in order. A half-open member granted to this request as its probe comes first. */
  members: PoolMember[];
  /**
   * Members left out because their circuit is open (or their half-open probe
   * belongs to another request), in strategy order. Fail-static: the pipeline
   * tries these only when every pool of the route returned no `members`, so
   * a full outage still gets real attempts instead of an instant 503.
   */
  skipped: PoolMember[];
}

/** Round-robin cursors kept; beyond it the oldest pool id is forgotten (its rotation restarts). */
const MAX_POOLS = 10_000;

/**
 * Strategy ordering over `MemberHealth`.
 *
 * Lifetime: one per process, kept across config reloads (pool ids are
 * stable). `order` mutates the round-robin cursor of the pool it is given
 * and may claim a half-open probe in `health` (see `PoolOrder.members`),
 * so the pipeline calls it once per pool per request, when it reaches that
 * pool, and ends every attempt with a `MemberHealth` report.
 */
export class PoolSelector {
  readonly #health: MemberHealth;
  readonly #random: () => number;
  readonly #cursors = new Map<string, number>();

  /** `random` returns a number in [0, 1); inject a seeded one in tests. */
  constructor(health: MemberHealth, random: () => number = Math.random) {
    this.#health = health;
    this.#random = random;
  }

  /**
   * The attempt order for one request in `pool`:
   * - `priority`: as listed;
   * - `round_robin`: as listed, rotated one further on every call (per pool id);
   * - `weighted`: weighted random without replacement (first pick with
   *   probability weight/total, then the same over the rest);
   * - `least_latency`: ascending EWMA latency, unmeasured members first (so they
   *   get measured), ties as listed;
   * - `lowest_cost`: ascending `costPerMtokMicros`, unknown cost last, ties as listed.
   *
   * The strategy orders available and skipped members separately, so the
   * rotation and weights spread load over the members that can take it.
   * At most one half-open probe is claimed per call; further half-open
   * members are skipped for this request, so no claimed probe goes unsent.
   */
  order(pool: Pool): PoolOrder {
    const available: PoolMember[] = [];
    const skipped: PoolMember[] = [];
    let probe: PoolMember | undefined;
    for (const member of pool.members) {
      const halfOpen = this.#health.state(member.key) === 'half_open';
      if (halfOpen && probe !== undefined) skipped.push(member);
      else if (!this.#health.isAvailable(member.key)) skipped.push(member);
      else if (halfOpen) probe = member;
      else available.push(member);
    }
    const turn = pool.strategy === 'round_robin' ? this.#advance(pool.id) : 0;
    const members = this.#arrange(pool, available, turn);
    // The probe goes first so the request that claimed it always sends it.
    if (probe !== undefined) members.unshift(probe);
    return { members, skipped: this.#arrange(pool, skipped, turn) };
  }

  #arrange(pool: Pool, members: PoolMember[], turn: number): PoolMember[] {
    switch (pool.strategy) {
      case 'priority':
        return members;
      case 'round_robin':
        return rotate(members, turn);
      case 'weighted':
        return this.#weightedOrder(members);
      case 'least_latency':
        return sortBy(members, (m) => this.#health.latencyMs(m.key) ?? Number.NEGATIVE_INFINITY);
      case 'lowest_cost':
        return sortBy(members, (m) => m.costPerMtokMicros ?? Number.POSITIVE_INFINITY);
    }
  }

  /** Returns this call's turn for `poolId` and moves its cursor on. */
  #advance(poolId: string): number {
    const turn = this.#cursors.get(poolId) ?? 0;
    this.#cursors.delete(poolId);
    this.#cursors.set(poolId, turn + 1);
    if (this.#cursors.size > MAX_POOLS) {
      const oldest = this.#cursors.keys().next();
      if (!oldest.done) this.#cursors.delete(oldest.value);
    }
    return turn;
  }

  #weightedOrder(members: PoolMember[]): PoolMember[] {
    const rest = [...members];
    const out: PoolMember[] = [];
    let total = rest.reduce((sum, m) => sum + weightOf(m), 0);
    while (rest.length > 0) {
      let target = this.#random() * total;
      let index = rest.length - 1;
      for (let i = 0; i < rest.length; i++) {
        target -= weightOf(rest[i]!);
        if (target < 0) {
          index = i;
          break;
        }
      }
      const [picked] = rest.splice(index, 1);
      out.push(picked!);
      total -= weightOf(picked!);
    }
    return out;
  }
}

/** The compiler guarantees weight ≥ 1; anything else (the API's 0, a bad value) counts as 1 rather than starving or breaking the draw. */
function weightOf(member: PoolMember): number {
  return Number.isFinite(member.weight) && member.weight >= 1 ? member.weight : 1;
}

function rotate<T>(items: T[], turn: number): T[] {
  if (items.length === 0) return items;
  const start = turn % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/** Stable ascending sort by a numeric key (Array.prototype.sort is stable), so ties keep the listed order. */
function sortBy<T>(items: T[], key: (item: T) => number): T[] {
  const keyed = items.map((item) => ({ item, key: key(item) }));
  keyed.sort((a, b) => (a.key === b.key ? 0 : a.key < b.key ? -1 : 1));
  return keyed.map((k) => k.item);
}

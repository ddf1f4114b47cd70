/**
 * The compiled, runtime form of a pool: what the request path reads. The
 * config compiler builds these once per config snapshot from the saved
 * `Pool` messages (weights normalised, keys and ids assigned, prices looked
 * up); nothing here is mutated on the request path.
 */

/** How a pool orders its members for one request. */
export type PoolStrategy = 'priority' | 'round_robin' | 'weighted' | 'least_latency' | 'lowest_cost';

/** An attempt outcome that may move the request on to the next member or pool. */
export type FallbackTrigger = 'rate_limited' | 'server_error' | 'timeout' | 'connection_error';

/** One (provider, model) a pool may send to. */
export interface PoolMember {
  /**
   * Unique per (provider, model), e.g. `"<providerId>/<model>"`. Health and
   * latency are tracked by this key, so the same member shares one circuit
   * across every pool that lists it.
   */
  key: string;
  provider: string;
  model: string;
  /** Relative weight for the `weighted` strategy, ≥ 1 (the API's 0 is compiled to 1). */
  weight: number;
  /** Estimated input+output price per million tokens in micro-dollars; undefined = unknown. */
  costPerMtokMicros?: number;
}

/** A set of interchangeable members with one strategy and one fallback policy. */
export interface Pool {
  /** Stable id for per-pool state such as the round-robin cursor, e.g. `"<routeId>#0"`. */
  id: string;
  strategy: PoolStrategy;
  members: PoolMember[];
  /** Triggers that move on to the next member; empty = all triggers. */
  fallbackOn: FallbackTrigger[];
  /** Per-attempt timeout; 0 = the provider's default. */
  attemptTimeoutMs: number;
}

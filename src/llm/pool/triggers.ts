/**
 * Classifies one upstream attempt's outcome. Pure functions: the pipeline
 * calls `fallbackTrigger` once per attempt and uses the result three ways:
 * whether to fall back (`shouldFallBack`, per pool), whether to report a
 * failure to `MemberHealth` (`countsAgainstHealth`, per process), and the
 * reason in `x-sluice-fallback`.
 */
import type { FallbackTrigger, Pool } from './types.js';

/** What the pipeline observed about one attempt. */
export interface AttemptOutcome {
  /** Upstream HTTP status, when a response arrived. */
  status?: number;
  /** The per-attempt timeout fired before the response (or, streaming, the first byte). */
  timedOut?: boolean;
  /** No usable HTTP response: DNS, connect, TLS, reset before the status line. */
  connectionError?: boolean;
}

/**
 * The trigger an attempt outcome represents, or undefined when the outcome
 * must go back to the client as it is: a success, or a client error (4xx
 * other than 429), which would fail the same way on any member.
 *
 * A timeout or connection error wins over a status, since a status seen
 * before the deadline fired does not make the attempt usable.
 * 529 (Anthropic "overloaded") is a 5xx and so a `server_error`.
 */
export function fallbackTrigger(outcome: AttemptOutcome): FallbackTrigger | undefined {
  if (outcome.timedOut) return 'timeout';
  if (outcome.connectionError) return 'connection_error';
  const status = outcome.status;
  if (status === 429) return 'rate_limited';
  if (status !== undefined && status >= 500 && status <= 599) return 'server_error';
  return undefined;
}

/** Whether `pool` moves on to its next member (or the next pool) on `trigger`; empty `fallbackOn` = all triggers. */
export function shouldFallBack(pool: Pool, trigger: FallbackTrigger | undefined): boolean {
  if (trigger === undefined) return false;
  return pool.fallbackOn.length === 0 || pool.fallbackOn.includes(trigger);
}

/**
 * Whether the pipeline reports `trigger` to `MemberHealth.recordFailure`.
 * Every trigger counts, whatever the pool's `fallbackOn` says: health is a
 * property of the member, shared by every pool that lists it.
 *
 * A 429 is not treated as a dead member on its own (a known peer failure:
 * one rate limit benches a healthy deployment and soon every deployment,
 * and the gateway answers 503 while the upstreams are up). It cools the
 * credential down (`cooldownFor`), and `MemberHealth` opens the member's
 * circuit only after `rateLimitThreshold` 429s in a row with no success
 * between them, i.e. when every credential is exhausted.
 */
export function countsAgainstHealth(trigger: FallbackTrigger | undefined): trigger is FallbackTrigger {
  return trigger !== undefined;
}

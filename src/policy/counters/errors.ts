import { SluiceError } from '../../errors.js';

/**
 * The counter store could not answer: Redis unreachable, timed out, loading, read-only or out
 * of memory, or the store was closed. The cause carries the client's error for the caller's
 * log; the message is safe to show a client. A call that timed out may still have been applied
 * by Redis: a reservation made that way expires on its own, a rate charge with its window.
 */
export class CounterStoreUnavailable extends SluiceError {
  constructor(options: { cause?: unknown } = {}) {
    super('unavailable', 'rate and spend counters are unavailable', { cause: options.cause, details: { code: 'counter_store_unavailable' } });
    this.name = 'CounterStoreUnavailable';
  }
}

/** What a limit does when its counter store cannot answer (`on_store_failure` in the API). */
export type FailureMode = 'fail_open' | 'fail_closed';

/** The caller's next step after a store error: admit or reject, and log `error` either way. */
export interface StoreFailureDecision {
  admit: boolean;
  error: CounterStoreUnavailable;
}

/**
 * Applies a limit's failure mode to an error thrown by a counter store. `fail_open` admits the
 * request, `fail_closed` rejects it (throw `error`: it renders as 503 `counter_store_unavailable`).
 * Anything other than `CounterStoreUnavailable` is a bug, not an outage, and is rethrown.
 */
export function decideOnStoreError(mode: FailureMode, err: unknown): StoreFailureDecision {
  if (!(err instanceof CounterStoreUnavailable)) throw err;
  return { admit: mode === 'fail_open', error: err };
}

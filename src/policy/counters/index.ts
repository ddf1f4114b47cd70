/** Rate-limit and spend counters: the contract, both stores, failure modes and calendar periods. */
export type * from './types.js';
export { CounterStoreUnavailable, decideOnStoreError, type FailureMode, type StoreFailureDecision } from './errors.js';
export { createMemoryCounterStore, MemoryCounterStore, type MemoryCounterStats, type MemoryCounterStoreOptions } from './memory-store.js';
export { createRedisCounterStore, RedisCounterStore, type RedisCounterStoreOptions } from './redis-store.js';
export { periodFor, type Period, type SpendPeriod } from './periods.js';
export { DEFAULT_RESERVATION_TTL_MS } from './defaults.js';

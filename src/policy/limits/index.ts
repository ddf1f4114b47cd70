/**
 * Rate limits and spend limits in the pipeline: `createLimitHooks` fills the
 * `rateLimit`, `spendLimit` and `settle` hooks over one counter store.
 */
import type { ProxyContext } from '../context.js';
import type { PipelineHooks } from '../pipeline.js';
import type { LimitDeps } from './admission.js';
import { rateLimitStage } from './rate-limit-stage.js';
import { limitSettleHook } from './settle.js';
import { spendLimitStage } from './spend-limit-stage.js';

export { DEFAULT_MAX_OUTPUT_TOKENS, throttled, type LimitDeps, type LimitLogger } from './admission.js';
export { formatResetDuration } from './rate-limit-stage.js';
export { SPEND_WARNING_HEADER } from './spend-limit-stage.js';

/** Options of `createLimitHooks`: the store and logger, and the settle hook to run after settlement. */
export interface LimitHooksOptions extends LimitDeps {
  /** Runs after the limits are settled (e.g. the request log); must not throw. */
  next?: (ctx: ProxyContext) => void;
}

/** The three pipeline hooks enforcing the snapshot's rate limits and budgets. */
export function createLimitHooks(options: LimitHooksOptions): Required<PipelineHooks> {
  return {
    rateLimit: rateLimitStage(options),
    spendLimit: spendLimitStage(options),
    settle: limitSettleHook(options, options.next),
  };
}

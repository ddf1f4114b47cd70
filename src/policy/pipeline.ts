/**
 * The data-plane pipeline: one ordered list of stages every request runs
 * through, whatever surface (OpenAI or Anthropic) it arrived on. The order is
 * the contract:
 *
 * 1. parse        – a malformed request is refused before it costs a key lookup.
 * 2. authenticate – nothing about the config (gateways, models) is revealed to an unknown caller.
 * 3. authorise    – the gateway decides which policies apply, so it must be known before them.
 * 4. rate_limit   – the cheapest policy first: a counter check, no pricing needed.
 * 5. spend_limit  – reserves the request's worst-case cost; after rate limiting so that
 *                   throttled requests never hold budget.
 * 6. route        – model selector, then routes → the pools; a disabled or unknown model is a 404.
 * 7. pool, forward, normalise – attempts with fallback; translation per chunk (src/proxy/forward.ts).
 * 8. settle       – runs for every request, served or rejected: usage replaces the
 *                   reservation and the request is logged. It never delays the response.
 *
 * Every rejection happens in stages 1–6, before any provider is called.
 * Stages 4 and 5 admit every request until the policy engine installs its
 * limiters through `PipelineHooks`.
 */
import type { SluiceError } from '../errors.js';
import { toSluiceError } from '../errors.js';
import type { ProxyContext, StageName } from './context.js';
import { authenticateStage, authoriseStage, parseStage, routeStage } from './stages.js';

/** One request-side stage. */
export interface Stage {
  name: StageName;
  run(ctx: ProxyContext): void | Promise<void>;
}

/** Extension points the policy and observability planes fill in. */
export interface PipelineHooks {
  rateLimit?: (ctx: ProxyContext) => void | Promise<void>;
  spendLimit?: (ctx: ProxyContext) => void | Promise<void>;
  /** Called once per request after the answer is complete (or failed); must not throw or block. */
  settle?: (ctx: ProxyContext) => void;
}

/** The request-side stages in order (see the module comment for why). */
export function requestStages(hooks: PipelineHooks): Stage[] {
  return [
    { name: 'parse', run: parseStage },
    { name: 'authenticate', run: authenticateStage },
    { name: 'authorise', run: authoriseStage },
    { name: 'rate_limit', run: (ctx) => hooks.rateLimit?.(ctx) },
    { name: 'spend_limit', run: (ctx) => hooks.spendLimit?.(ctx) },
    { name: 'route', run: routeStage },
  ];
}

/**
 * Runs the request-side stages; on a rejection records the stage and error
 * in the context and returns the error (nothing has been sent yet).
 */
export async function runRequestStages(ctx: ProxyContext, stages: readonly Stage[]): Promise<SluiceError | undefined> {
  for (const stage of stages) {
    try {
      const out = stage.run(ctx);
      if (out) await out;
    } catch (err) {
      const e = toSluiceError(err);
      ctx.rejectedStage = stage.name;
      ctx.error = e;
      return e;
    }
  }
  return undefined;
}

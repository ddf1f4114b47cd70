/**
 * The default settle hook: one structured log line per data-plane request,
 * served or rejected, with tokens, latency and the attempt chain. The
 * observability plane replaces it with the request-log pipeline.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ProxyContext } from '../policy/context.js';

/** A settle hook writing to `log` (never throws). */
export function settleLog(log: FastifyBaseLogger): (ctx: ProxyContext) => void {
  // pino's loggers answer isLevelEnabled; skip building the record when info is off.
  const enabled = () => (log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('info') ?? true;
  return (ctx) => {
    if (!enabled()) return;
    try {
      log.info(
        {
          requestId: ctx.requestId,
          workspace: ctx.key?.workspace.name,
          gateway: ctx.gateway?.name,
          key: ctx.key?.prefix,
          endpoint: ctx.endpoint,
          model: ctx.requestedModel,
          served: ctx.served ? `${ctx.served.provider}/${ctx.served.model}` : undefined,
          route: ctx.route?.name,
          status: ctx.status,
          error: ctx.error?.details.code ?? ctx.error?.kind,
          rejectedStage: ctx.rejectedStage,
          attempts: ctx.attempts,
          usage: ctx.usage,
          latencyMs: (ctx.finishedAt ?? Date.now()) - ctx.startedAt,
          ttftMs: ctx.firstByteAt ? ctx.firstByteAt - ctx.startedAt : undefined,
          clientAborted: ctx.clientAborted || undefined,
        },
        'request',
      );
    } catch {
      // Logging must never break a response.
    }
  };
}

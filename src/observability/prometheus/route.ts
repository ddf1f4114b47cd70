/**
 * `GET /metrics`: the Prometheus text exposition. Open by default (scrapers
 * usually reach it on a private network); with `SLUICE_METRICS_TOKEN` set it
 * needs `Authorization: Bearer <token>` (Prometheus `authorization` /
 * `bearer_token` in the scrape config), compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { PrometheusMetrics } from './metrics.js';

export interface MetricsRouteOptions {
  metrics: PrometheusMetrics;
  /** Bearer token required to scrape; undefined leaves `/metrics` open. */
  token?: string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Registers `GET /metrics` on `app`. */
export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  const expected = options.token ? digest(options.token) : undefined;
  app.get('/metrics', async (req, reply) => {
    if (expected) {
      const header = req.headers.authorization ?? '';
      const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? '';
      if (!given || !timingSafeEqual(digest(given), expected)) {
        return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ error: 'unauthenticated', message: '/metrics needs the SLUICE_METRICS_TOKEN bearer token' });
      }
    }
    const body = await options.metrics.render();
    return reply.header('content-type', options.metrics.contentType).send(body);
  });
}

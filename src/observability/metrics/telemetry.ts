/**
 * The metrics side of the observability plane for one process, started by
 * `startSluice`: the rollup recorder and its retention, the Prometheus
 * exposition, and (with an OTLP endpoint) the trace exporter. `observe` is
 * the settle observer feeding all three; `close` flushes them.
 */
import type { Orm } from '../../db/orm.js';
import type { ProxyContext } from '../../policy/context.js';
import { DEFAULT_LOG_RETENTION_DAYS } from '../logs/retention.js';
import { OtlpTraceExporter } from '../otel/exporter.js';
import { PrometheusMetrics } from '../prometheus/metrics.js';
import { MetricsRecorder } from './recorder.js';
import { RollupRetention } from './retention.js';
import { RollupStore } from './store.js';


export interface TelemetryOptions {
  orm: Orm;
  flushIntervalMs?: number;
  labelValueCap?: number;
  /** Server default retention (`SLUICE_LOG_RETENTION_DAYS`), the same as the request logs'. */
  retentionDays?: number;
  otel?: { tracesUrl: string; headers: Record<string, string>; serviceName: string };
  /** Where background failures are reported (already throttled to one line per 30 s per kind). */
  warn: (err: unknown, what: string) => void;
}

export interface Telemetry {
  recorder: MetricsRecorder;
  prometheus: PrometheusMetrics;
  retention: RollupRetention;
  traces?: OtlpTraceExporter;
  observe(ctx: ProxyContext): void;
  close(): Promise<void>;
}

function throttle(warn: TelemetryOptions['warn'], what: string): (err: unknown) => void {
  let last = -Infinity;
  return (err) => {
    const now = Date.now();
    if (now - last < 30_000) return;
    last = now;
    warn(err, what);
  };
}

/** Starts the recorder, retention and (optionally) the trace exporter. */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const store = new RollupStore(options.orm);
  const recorder = new MetricsRecorder({ store, flushIntervalMs: options.flushIntervalMs, onFlushError: throttle(options.warn, 'metrics: rollup flush failed; cells kept for the next flush') });
  const retention = new RollupRetention({ orm: options.orm, store, defaultDays: options.retentionDays ?? DEFAULT_LOG_RETENTION_DAYS, onError: throttle(options.warn, 'metrics: rollup retention failed') });
  const prometheus = new PrometheusMetrics({ labelValueCap: options.labelValueCap });
  const traces = options.otel
    ? new OtlpTraceExporter({ url: options.otel.tracesUrl, headers: options.otel.headers, serviceName: options.otel.serviceName, onError: throttle(options.warn, 'otel: trace export failed') })
    : undefined;
  prometheus.addGauge('sluice_metrics_rollup_pending_cells', 'Rollup cells aggregated in memory and not yet written', () => recorder.stats.pendingCells);
  prometheus.addCounter('sluice_metrics_rollup_dropped_requests_total', 'Requests left out of the rollups because the pending-cell cap was reached', () => recorder.stats.droppedRequests);
  prometheus.addCounter('sluice_metrics_rollup_flush_failures_total', 'Rollup flushes that failed (their cells are retried)', () => recorder.stats.flushFailures);
  if (traces) {
    prometheus.addCounter('sluice_otel_exported_spans_total', 'Spans sent to the OTLP endpoint', () => traces.stats.exportedSpans);
    prometheus.addCounter('sluice_otel_dropped_spans_total', 'Spans dropped (queue full or export failed)', () => traces.stats.droppedSpans);
  }
  recorder.start();
  retention.start();
  traces?.start();
  return {
    recorder,
    prometheus,
    retention,
    traces,
    observe(ctx) {
      recorder.observe(ctx);
      prometheus.observe(ctx);
      traces?.observe(ctx);
    },
    async close() {
      retention.stop();
      await Promise.all([recorder.close(), traces?.close()]);
    },
  };
}

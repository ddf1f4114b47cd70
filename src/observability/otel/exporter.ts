/**
 * A small OTLP/HTTP JSON trace exporter (no OpenTelemetry SDK on the request
 * path): `observe(ctx)` turns a settled request into spans and queues them
 * (synchronous; a full queue drops the request's spans and counts them); a
 * timer sends the queue every `intervalMs`, or sooner once `batchSize`
 * spans wait, as one `POST <traces endpoint>` with
 * `content-type: application/json` (`ExportTraceServiceRequest`). A failed or
 * timed-out export drops that batch (counted) — traces are best effort; the
 * request log is the record that loses nothing. `close()` sends what is left.
 */
import type { ProxyContext } from '../../policy/context.js';
import { spansOf, type OtlpSpan } from './spans.js';

export interface OtlpExporterOptions {
  /** Full URL of the traces endpoint, e.g. `http://collector:4318/v1/traces`. */
  url: string;
  headers?: Record<string, string>;
  serviceName?: string;
  serviceVersion?: string;
  /** Default 1000 ms. */
  intervalMs?: number;
  /** Spans per export; default 512. */
  batchSize?: number;
  /** Most queued spans; default 8192. */
  maxQueue?: number;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Reports a failed export (throttle it yourself). */
  onError?: (err: unknown) => void;
}

export interface ExporterStats {
  exportedSpans: number;
  droppedSpans: number;
  failedExports: number;
}

export class OtlpTraceExporter {
  private queue: OtlpSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  readonly stats: ExporterStats = { exportedSpans: 0, droppedSpans: 0, failedExports: 0 };

  constructor(private readonly options: OtlpExporterOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Queues the spans of a settled request. Never throws. */
  observe(ctx: ProxyContext): void {
    try {
      const spans = spansOf(ctx);
      if (this.queue.length + spans.length > (this.options.maxQueue ?? 8192)) {
        this.stats.droppedSpans += spans.length;
        return;
      }
      this.queue.push(...spans);
      if (this.queue.length >= (this.options.batchSize ?? 512)) void this.flush();
    } catch {
      // Tracing must never break a response.
    }
  }

  /** Sends everything queued, batch by batch; resolves when done (never rejects). */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
    if (this.queue.length === 0) return;
    this.sending = (async () => {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.options.batchSize ?? 512);
        try {
          await this.send(batch);
          this.stats.exportedSpans += batch.length;
        } catch (err) {
          this.stats.failedExports += 1;
          this.stats.droppedSpans += batch.length;
          this.options.onError?.(err);
        }
      }
    })();
    try {
      await this.sending;
    } finally {
      this.sending = undefined;
    }
  }

  private async send(spans: OtlpSpan[]): Promise<void> {
    const resourceAttributes = [{ key: 'service.name', value: { stringValue: this.options.serviceName ?? 'sluice' } }];
    if (this.options.serviceVersion) resourceAttributes.push({ key: 'service.version', value: { stringValue: this.options.serviceVersion } });
    const body = JSON.stringify({
      resourceSpans: [{ resource: { attributes: resourceAttributes }, scopeSpans: [{ scope: { name: 'sluice', version: this.options.serviceVersion ?? '' }, spans }] }],
    });
    const res = await fetch(this.options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.options.headers },
      body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`OTLP export to ${this.options.url} answered HTTP ${res.status}`);
  }

  /** Stops the timer and sends what is queued. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/**
 * The `/metrics` exposition of one Sluice process: OpenTelemetry GenAI
 * metrics under their Prometheus names (OTel's Prometheus naming: dots to
 * underscores, the unit `s` as a `_seconds` suffix, `{token}` dropped), the
 * Sluice counters, the recorder's and the registered gauges, and the Node
 * process metrics. Fed by `observe(ctx)` for every settled request
 * (synchronous, never throws).
 *
 * Cardinality is bounded: each label keeps at most `labelValueCap` distinct
 * values per process; later values are reported as `other`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Endpoint, ProxyContext } from '../../policy/context.js';
import type { ProviderKind } from '../../config/snapshot.js';
import { requestCostNanos } from '../metrics/rollup.js';
import { sharedRegistry } from './gauges.js';

/** Default number of distinct values one label may take before folding into `other`. */
export const DEFAULT_LABEL_VALUE_CAP = 100;
export const OTHER = 'other';

/** Buckets the GenAI conventions give for `gen_ai.server.request.duration` (s). */
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/** … for `gen_ai.server.time_to_first_token` (s). */
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
/** … for `gen_ai.client.token.usage`. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** `gen_ai.operation.name` of each endpoint. */
const OPERATION: Record<Endpoint, string> = { chat_completions: 'chat', messages: 'chat', embeddings: 'embeddings' };

/** `gen_ai.provider.name` well-known values by provider type; other types report the provider's own name. */
const GENAI_PROVIDER: Partial<Record<ProviderKind, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  google: 'gcp.gemini',
  azure_openai: 'azure.ai.openai',
};

/** The `gen_ai.provider.name` of a Sluice provider (by name) as the snapshot knows it. */
export function genAiProviderName(ctx: ProxyContext, provider: string): string {
  if (!provider) return '';
  const kind = (ctx.gateway?.workspace ?? ctx.key?.workspace)?.providers.get(provider)?.kind;
  return (kind && GENAI_PROVIDER[kind]) || provider;
}

/**
 * Children of a labelled metric by label values: prom-client validates and hashes the labels on
 * every `inc`/`observe`; a child found here skips that. Bounded by the label caps.
 */
class Children<C> {
  private readonly map = new Map<string, C>();
  constructor(private readonly make: (labels: Record<string, string>) => C) {}

  get(labels: Record<string, string>): C {
    let key = '';
    for (const k in labels) key += `${labels[k]}\u0001`;
    let child = this.map.get(key);
    if (!child) this.map.set(key, (child = this.make(labels)));
    return child;
  }
}

/** Keeps at most `cap` distinct values per label. */
class LabelBudget {
  private readonly seen = new Map<string, Set<string>>();
  folded = 0;
  constructor(private readonly cap: number) {}

  value(label: string, raw: string | undefined): string {
    const v = raw ?? '';
    let set = this.seen.get(label);
    if (!set) this.seen.set(label, (set = new Set()));
    if (set.has(v)) return v;
    if (set.size >= this.cap) {
      this.folded += 1;
      return OTHER;
    }
    set.add(v);
    return v;
  }
}

export interface PrometheusOptions {
  labelValueCap?: number;
  /** Collect Node process metrics (`process_*`, `nodejs_*`); default true. */
  processMetrics?: boolean;
}

export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly labels: LabelBudget;
  private readonly duration: Histogram;
  private readonly ttft: Histogram;
  private readonly tokens: Histogram;
  private readonly requests: Counter;
  private readonly rejections: Counter;
  private readonly fallbacks: Counter;
  private readonly cost: Counter;
  private readonly limits: Counter;
  private readonly c: {
    duration: Children<Histogram.Internal<string>>;
    ttft: Children<Histogram.Internal<string>>;
    tokens: Children<Histogram.Internal<string>>;
    requests: Children<Counter.Internal>;
    rejections: Children<Counter.Internal>;
    fallbacks: Children<Counter.Internal>;
    cost: Children<Counter.Internal>;
    limits: Children<Counter.Internal>;
  };

  constructor(options: PrometheusOptions = {}) {
    this.labels = new LabelBudget(options.labelValueCap ?? DEFAULT_LABEL_VALUE_CAP);
    const registers = [this.registry];
    const genAi = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_response_model', 'sluice_gateway'];
    this.duration = new Histogram({
      name: 'gen_ai_server_request_duration_seconds',
      help: 'GenAI server request duration (request start to last byte), OpenTelemetry gen_ai.server.request.duration',
      labelNames: [...genAi, 'error_type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.ttft = new Histogram({
      name: 'gen_ai_server_time_to_first_token_seconds',
      help: 'Time to the first byte of a successful response, OpenTelemetry gen_ai.server.time_to_first_token',
      labelNames: genAi,
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.tokens = new Histogram({
      name: 'gen_ai_client_token_usage',
      help: 'Input and output tokens per request as the provider reported them, OpenTelemetry gen_ai.client.token.usage',
      labelNames: [...genAi, 'gen_ai_token_type'],
      buckets: TOKEN_BUCKETS,
      registers,
    });
    this.requests = new Counter({
      name: 'sluice_requests_total',
      help: 'Data-plane requests by gateway, model, provider and HTTP status',
      labelNames: ['gateway', 'model', 'provider', 'status'],
      registers,
    });
    this.rejections = new Counter({
      name: 'sluice_rejections_total',
      help: 'Requests rejected, by the pipeline stage that rejected them and the error code',
      labelNames: ['gateway', 'stage', 'code'],
      registers,
    });
    this.fallbacks = new Counter({
      name: 'sluice_fallbacks_total',
      help: 'Provider attempts that were followed by a fallback, by provider, model and reason',
      labelNames: ['gateway', 'provider', 'model', 'reason'],
      registers,
    });
    this.cost = new Counter({
      name: 'sluice_cost_usd_total',
      help: 'Cost of served requests in USD, from the served model price',
      labelNames: ['gateway', 'model', 'provider'],
      registers,
    });
    this.limits = new Counter({
      name: 'sluice_limit_checks_total',
      help: 'Rate-limit and budget checks by limit and outcome (allowed, rejected, warned, store_unavailable)',
      labelNames: ['gateway', 'kind', 'limit', 'outcome'],
      registers,
    });
    const labels = this.labels;
    new Counter({
      name: 'sluice_metrics_label_values_folded_total',
      help: `Label values reported as "${OTHER}" because a label reached its cap of distinct values`,
      registers,
      collect() {
        this.reset();
        this.inc(labels.folded);
      },
    });
    this.c = {
      duration: new Children((l) => this.duration.labels(l)),
      ttft: new Children((l) => this.ttft.labels(l)),
      tokens: new Children((l) => this.tokens.labels(l)),
      requests: new Children((l) => this.requests.labels(l)),
      rejections: new Children((l) => this.rejections.labels(l)),
      fallbacks: new Children((l) => this.fallbacks.labels(l)),
      cost: new Children((l) => this.cost.labels(l)),
      limits: new Children((l) => this.limits.labels(l)),
    };
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one settled request. Never throws. */
  observe(ctx: ProxyContext): void {
    try {
      this.record(ctx);
    } catch {
      // Metrics must never break a response.
    }
  }

  private record(ctx: ProxyContext): void {
    const L = this.labels;
    const gateway = L.value('gateway', ctx.gateway?.name ?? ctx.gatewayName);
    const status = ctx.status ?? (ctx.clientAborted ? 499 : 500);
    const served = ctx.served;
    const last = ctx.attempts.at(-1);
    const provider = served?.provider ?? last?.provider ?? '';
    const modelName = served ? `${served.provider}/${served.model}` : last ? `${last.provider}/${last.model}` : '';
    const model = L.value('model', modelName);
    const providerLabel = L.value('provider', provider);
    this.c.requests.get({ gateway, model, provider: providerLabel, status: L.value('status', String(status)) }).inc();

    if (ctx.rejectedStage || status >= 400) {
      const code = ctx.error?.details.code ?? ctx.error?.kind ?? String(status);
      this.c.rejections.get({ gateway, stage: L.value('stage', ctx.rejectedStage ?? 'forward'), code: L.value('code', code) }).inc();
    }
    for (const o of ctx.limitOutcomes ?? []) {
      this.c.limits.get({ gateway, kind: o.kind, limit: L.value('limit', o.name), outcome: o.outcome }).inc();
    }
    for (const a of ctx.attempts) {
      if (a.fallbackReason) {
        this.c.fallbacks.get({ gateway, provider: L.value('provider', a.provider), model: L.value('model', `${a.provider}/${a.model}`), reason: L.value('reason', a.fallbackReason) }).inc();
      }
    }

    // The GenAI metrics describe requests that reached a model.
    if (!served && !last) return;
    const genAi = {
      gen_ai_operation_name: OPERATION[ctx.endpoint],
      gen_ai_provider_name: L.value('gen_ai_provider_name', genAiProviderName(ctx, provider)),
      gen_ai_request_model: L.value('gen_ai_request_model', ctx.requestedModel),
      gen_ai_response_model: served ? L.value('gen_ai_response_model', served.model) : '',
      sluice_gateway: gateway,
    };
    const finishedAt = ctx.finishedAt ?? Date.now();
    const errorType = status >= 400 ? L.value('error_type', ctx.error?.details.code ?? String(status)) : '';
    this.c.duration.get({ ...genAi, error_type: errorType }).observe(Math.max(0, finishedAt - ctx.startedAt) / 1000);
    if (served && ctx.firstByteAt !== undefined && status < 400) this.c.ttft.get(genAi).observe(Math.max(0, ctx.firstByteAt - ctx.startedAt) / 1000);
    if (served && ctx.usage) {
      this.c.tokens.get({ ...genAi, gen_ai_token_type: 'input' }).observe(ctx.usage.promptTokens);
      this.c.tokens.get({ ...genAi, gen_ai_token_type: 'output' }).observe(ctx.usage.completionTokens);
      const nanos = requestCostNanos(ctx);
      if (nanos > 0n) this.c.cost.get({ gateway, model, provider: providerLabel }).inc(Number(nanos) / 1e9);
    }
  }

  /** Adds a gauge of this app read at every scrape (e.g. the recorder's pending cells). */
  addGauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Adds a counter of this app read at every scrape from a monotonic source. */
  addCounter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** The text exposition (Prometheus 0.0.4) of this app's metrics and the registered gauges. */
  async render(): Promise<string> {
    const [own, shared] = await Promise.all([this.registry.metrics(), sharedRegistry.metrics()]);
    return shared ? `${own}\n${shared}` : own;
  }

  readonly contentType = this.registry.contentType;
}

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
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './families.js';
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

/** The series one kind of settled request updates, found once per distinct combination of its raw labels. */
interface RequestSeriesSet {
  requests: CounterSeries;
  /** Present when the request reached a model (the GenAI metrics describe only those). */
  duration?: HistogramSeries;
  ttft?: HistogramSeries;
  tokensIn?: HistogramSeries;
  tokensOut?: HistogramSeries;
  cost?: CounterSeries;
  rejection?: CounterSeries;
}

/** Distinct raw label combinations whose series are cached; past it a request takes the uncached path. */
const SERIES_CACHE_CAP = 10_000;

export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly labels: LabelBudget;
  private readonly duration: HistogramFamily;
  private readonly ttft: HistogramFamily;
  private readonly tokens: HistogramFamily;
  private readonly requests: CounterFamily;
  private readonly rejections: CounterFamily;
  private readonly fallbacks: CounterFamily;
  private readonly cost: CounterFamily;
  private readonly limits: CounterFamily;
  private readonly families: (CounterFamily | HistogramFamily)[];
  private readonly seriesCache = new Map<string, RequestSeriesSet>();

  constructor(options: PrometheusOptions = {}) {
    this.labels = new LabelBudget(options.labelValueCap ?? DEFAULT_LABEL_VALUE_CAP);
    const genAi = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_response_model', 'sluice_gateway'];
    this.duration = new HistogramFamily(
      'gen_ai_server_request_duration_seconds',
      'GenAI server request duration (request start to last byte), OpenTelemetry gen_ai.server.request.duration',
      [...genAi, 'error_type'],
      DURATION_BUCKETS,
    );
    this.ttft = new HistogramFamily('gen_ai_server_time_to_first_token_seconds', 'Time to the first byte of a successful response, OpenTelemetry gen_ai.server.time_to_first_token', genAi, TTFT_BUCKETS);
    this.tokens = new HistogramFamily(
      'gen_ai_client_token_usage',
      'Input and output tokens per request as the provider reported them, OpenTelemetry gen_ai.client.token.usage',
      [...genAi, 'gen_ai_token_type'],
      TOKEN_BUCKETS,
    );
    this.requests = new CounterFamily('sluice_requests_total', 'Data-plane requests by gateway, model, provider and HTTP status', ['gateway', 'model', 'provider', 'status']);
    this.rejections = new CounterFamily('sluice_rejections_total', 'Requests rejected, by the pipeline stage that rejected them and the error code', ['gateway', 'stage', 'code']);
    this.fallbacks = new CounterFamily('sluice_fallbacks_total', 'Provider attempts that were followed by a fallback, by provider, model and reason', ['gateway', 'provider', 'model', 'reason']);
    this.cost = new CounterFamily('sluice_cost_usd_total', 'Cost of served requests in USD, from the served model price', ['gateway', 'model', 'provider']);
    this.limits = new CounterFamily('sluice_limit_checks_total', 'Rate-limit and budget checks by limit and outcome (allowed, rejected, warned, store_unavailable)', ['gateway', 'kind', 'limit', 'outcome']);
    this.families = [this.duration, this.ttft, this.tokens, this.requests, this.rejections, this.fallbacks, this.cost, this.limits];
    const labels = this.labels;
    new Counter({
      name: 'sluice_metrics_label_values_folded_total',
      help: `Label values reported as "${OTHER}" because a label reached its cap of distinct values`,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(labels.folded);
      },
    });
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
    const status = ctx.status ?? (ctx.clientAborted ? 499 : 500);
    const served = ctx.served;
    const last = ctx.attempts.at(-1);
    const gatewayName = ctx.gateway?.name ?? ctx.gatewayName ?? '';
    const provider = served?.provider ?? last?.provider ?? '';
    const modelName = served ? `${served.provider}/${served.model}` : last ? `${last.provider}/${last.model}` : '';
    const rejected = Boolean(ctx.rejectedStage) || status >= 400;
    const errorCode = ctx.error?.details.code ?? '';
    const key = `${gatewayName}\u0001${modelName}\u0001${provider}\u0001${status}\u0001${ctx.endpoint}\u0001${ctx.requestedModel ?? ''}\u0001${served?.model ?? ''}\u0001${rejected ? `${ctx.rejectedStage ?? ''}\u0001${errorCode}\u0001${ctx.error?.kind ?? ''}` : ''}`;
    let set = this.seriesCache.get(key);
    if (!set) {
      set = this.seriesFor(ctx, { status, gatewayName, provider, modelName, rejected, errorCode });
      if (this.seriesCache.size < SERIES_CACHE_CAP) this.seriesCache.set(key, set);
    }

    set.requests.value += 1;
    if (set.rejection) set.rejection.value += 1;
    const L = this.labels;
    if (ctx.limitOutcomes?.length || ctx.attempts.some((a) => a.fallbackReason)) {
      const gateway = L.value('gateway', gatewayName);
      for (const o of ctx.limitOutcomes ?? []) this.limits.get([gateway, o.kind, L.value('limit', o.name), o.outcome]).value += 1;
      for (const a of ctx.attempts) {
        if (a.fallbackReason) this.fallbacks.get([gateway, L.value('provider', a.provider), L.value('model', `${a.provider}/${a.model}`), L.value('reason', a.fallbackReason)]).value += 1;
      }
    }

    if (!set.duration) return;
    const finishedAt = ctx.finishedAt ?? Date.now();
    this.duration.observe(set.duration, Math.max(0, finishedAt - ctx.startedAt) / 1000);
    if (set.ttft && ctx.firstByteAt !== undefined) this.ttft.observe(set.ttft, Math.max(0, ctx.firstByteAt - ctx.startedAt) / 1000);
    if (served && ctx.usage && set.tokensIn && set.tokensOut) {
      this.tokens.observe(set.tokensIn, ctx.usage.promptTokens);
      this.tokens.observe(set.tokensOut, ctx.usage.completionTokens);
      const nanos = requestCostNanos(ctx);
      if (nanos > 0n && set.cost) set.cost.value += Number(nanos) / 1e9;
    }
  }

  /** The series a request of this kind updates, its label values passed through the label caps. */
  private seriesFor(ctx: ProxyContext, r: { status: number; gatewayName: string; provider: string; modelName: string; rejected: boolean; errorCode: string }): RequestSeriesSet {
    const L = this.labels;
    const gateway = L.value('gateway', r.gatewayName);
    const model = L.value('model', r.modelName);
    const provider = L.value('provider', r.provider);
    const set: RequestSeriesSet = { requests: this.requests.get([gateway, model, provider, L.value('status', String(r.status))]) };
    if (r.rejected) {
      const code = r.errorCode || ctx.error?.kind || String(r.status);
      set.rejection = this.rejections.get([gateway, L.value('stage', ctx.rejectedStage ?? 'forward'), L.value('code', code)]);
    }
    const served = ctx.served;
    if (!served && ctx.attempts.length === 0) return set;
    const genAi = [
      OPERATION[ctx.endpoint],
      L.value('gen_ai_provider_name', genAiProviderName(ctx, r.provider)),
      L.value('gen_ai_request_model', ctx.requestedModel),
      served ? L.value('gen_ai_response_model', served.model) : '',
      gateway,
    ];
    const errorType = r.status >= 400 ? L.value('error_type', r.errorCode || String(r.status)) : '';
    set.duration = this.duration.get([...genAi, errorType]);
    if (served && r.status < 400) set.ttft = this.ttft.get(genAi);
    if (served) {
      set.tokensIn = this.tokens.get([...genAi, 'input']);
      set.tokensOut = this.tokens.get([...genAi, 'output']);
      set.cost = this.cost.get([gateway, model, provider]);
    }
    return set;
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
    const requestMetrics = this.families.map((f) => f.render()).join('\n');
    return [requestMetrics, own, shared].filter(Boolean).join('\n');
  }

  readonly contentType = this.registry.contentType;
}

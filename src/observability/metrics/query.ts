/**
 * Answers metrics queries from the rollups: picks the bucket size (or takes
 * the caller's), the coarsest stored resolution that divides it, aligns the
 * range to the bucket grid (UTC, epoch-aligned), reads the rows once and
 * folds them into per-group series. Counts are summed; latency and TTFT
 * percentiles come from merging the rows' sketches, so a p99 over a month is
 * as accurate (1% relative) as over a minute. The total's merged latency
 * sketch can also be answered bucket by bucket: a histogram of every request
 * the query covers, each latency within 1% of its bucket's value.
 */
import { emptyRollupValues, mergeCell, RESOLUTIONS, type Resolution, type RollupValues } from './rollup.js';
import type { SketchBucket } from './sketch.js';

export type { SketchBucket };
import { projectionFor, segmentsOf, type DimensionName, type RollupFilter, type RollupStore, type StoredRow, type TimeSegment } from './store.js';

/** Group-by dimensions: the stored ones plus the status class derived from `status`. */
export type GroupDimension = DimensionName | 'statusClass';

/** Bucket sizes the automatic choice picks from, seconds. */
export const AUTO_BUCKETS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400] as const;
/** Most points the automatic bucket gives. */
export const AUTO_MAX_POINTS = 120;

export interface MetricsQuery {
  workspaceId: string;
  /** Epoch seconds. */
  from: number;
  /** Epoch seconds, after `from`. */
  to: number;
  /** Seconds; a whole number of minutes dividing a day, or whole days. Undefined: automatic. */
  bucketSeconds?: number;
  groupBy: readonly GroupDimension[];
  filter: RollupFilter;
  /** Top N groups by cost then requests; 0 = all. */
  limit: number;
  totalsOnly: boolean;
  /** Also answer `latencyDistribution`. */
  latencyDistribution?: boolean;
}

/** Aggregates of a bucket or group, percentiles computed. */
export interface MetricsTotals {
  requests: number;
  errors: number;
  fallbacks: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  costNanos: bigint;
  latencyAvgMs: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  ttftP50Ms: number;
  ttftP95Ms: number;
  ttftP99Ms: number;
  errorRate: number;
  fallbackRate: number;
}

export interface MetricsSeriesResult {
  group: Record<string, string>;
  total: MetricsTotals;
  /** One per bucket, `time` in epoch seconds. */
  points: { time: number; values: MetricsTotals }[];
}

export interface MetricsResult {
  bucketSeconds: number;
  resolution: Resolution;
  from: number;
  to: number;
  total: MetricsTotals;
  series: MetricsSeriesResult[];
  omittedGroups: number;
  /** With `latencyDistribution`: the buckets of `total`'s latency sketch (`LatencySketch.buckets`). */
  latencyDistribution?: SketchBucket[];
}


/** The bucket the automatic choice gives for a range of `seconds`. */
export function autoBucket(seconds: number): number {
  for (const b of AUTO_BUCKETS) if (Math.ceil(seconds / b) <= AUTO_MAX_POINTS) return b;
  return AUTO_BUCKETS[AUTO_BUCKETS.length - 1]!;
}

/** Whether `seconds` is a bucket the rollups can answer: whole minutes dividing a day, or whole days. */
export function isValidBucket(seconds: number): boolean {
  if (!Number.isInteger(seconds) || seconds < 60 || seconds % 60 !== 0) return false;
  return seconds <= 86400 ? 86400 % seconds === 0 : seconds % 86400 === 0;
}

/** The coarsest stored resolution dividing `bucketSeconds`. */
export function resolutionFor(bucketSeconds: number): Resolution {
  for (const r of [...RESOLUTIONS].reverse()) if (bucketSeconds % r === 0) return r;
  return 60;
}

const num = (v: number | string | bigint | null | undefined): number => (v === null || v === undefined ? 0 : Number(v));

function addRow(acc: RollupValues, row: StoredRow): void {
  acc.requests += num(row.requests);
  acc.errors += num(row.errors);
  acc.fallbacks += num(row.fallbacks);
  acc.promptTokens += num(row.prompt_tokens);
  acc.completionTokens += num(row.completion_tokens);
  acc.cachedTokens += num(row.cached_tokens);
  acc.reasoningTokens += num(row.reasoning_tokens);
  const cost = row.cost_nanos;
  if (cost !== 0 && cost !== '0') acc.costNanos += typeof cost === 'bigint' ? cost : BigInt(cost);
  acc.latencySumMs += num(row.latency_sum_ms);
  if (row.latency_sketch) acc.latency.mergeEncoded(row.latency_sketch);
  if (row.ttft_sketch) acc.ttft.mergeEncoded(row.ttft_sketch);
}

/** Rounds to 3 decimals (microseconds): sketch values carry no more precision than 1%. */
const ms = (v: number): number => Math.round(v * 1000) / 1000;

/** The answer form of accumulated values. */
export function totalsOf(v: RollupValues): MetricsTotals {
  const r = v.requests;
  return {
    requests: r,
    errors: v.errors,
    fallbacks: v.fallbacks,
    promptTokens: v.promptTokens,
    completionTokens: v.completionTokens,
    cachedTokens: v.cachedTokens,
    reasoningTokens: v.reasoningTokens,
    costNanos: v.costNanos,
    latencyAvgMs: r ? ms(v.latencySumMs / r) : 0,
    latencyP50Ms: ms(v.latency.quantile(0.5)),
    latencyP95Ms: ms(v.latency.quantile(0.95)),
    latencyP99Ms: ms(v.latency.quantile(0.99)),
    ttftP50Ms: ms(v.ttft.quantile(0.5)),
    ttftP95Ms: ms(v.ttft.quantile(0.95)),
    ttftP99Ms: ms(v.ttft.quantile(0.99)),
    errorRate: r ? v.errors / r : 0,
    fallbackRate: r ? v.fallbacks / r : 0,
  };
}

const GROUP_LABELS: Record<GroupDimension, string> = {
  gateway: 'gateway',
  model: 'model',
  provider: 'provider',
  apiKeyId: 'api_key',
  route: 'route',
  status: 'status',
  statusClass: 'status_class',
};

interface GroupAcc {
  group: Record<string, string>;
  total: RollupValues;
  points: (RollupValues | undefined)[];
}

/** Runs a query (validated by the caller) against the rollups. */
export async function queryMetrics(store: RollupStore, q: MetricsQuery): Promise<MetricsResult> {
  const bucket = q.bucketSeconds ?? autoBucket(q.to - q.from);
  const resolution = resolutionFor(bucket);
  const from = Math.floor(q.from / bucket) * bucket;
  const to = Math.max(from + bucket, Math.ceil(q.to / bucket) * bucket);
  const nPoints = (to - from) / bucket;
  const dims = [...new Set(q.groupBy)];
  const columns = [...new Set(dims.map((d) => (d === 'statusClass' ? 'status' : d)))] as DimensionName[];
  const filtered = (Object.keys(q.filter) as (keyof RollupFilter)[]).filter((k) => q.filter[k] !== undefined && q.filter[k] !== '').map((k) => (k === 'statusClass' ? 'status' : k));
  const used = [...new Set([...columns, ...filtered])] as DimensionName[];
  // Totals need no bucket grid: read whole days, hours and minutes exactly covering the range.
  const segments: TimeSegment[] = q.totalsOnly ? segmentsOf(from, to) : [{ resolution, from, to }];
  const rows: StoredRow[] = [];
  for (const seg of segments) {
    const part = await store.read({ workspaceId: q.workspaceId, resolution: seg.resolution, projection: projectionFor(seg.resolution, used), from: seg.from, to: seg.to, filter: q.filter, dimensions: columns });
    for (const row of part) rows.push(row);
  }

  const groups = new Map<string, GroupAcc>();
  // Without a group-by there is always one series, zero-filled when nothing matched.
  if (dims.length === 0) groups.set('', { group: {}, total: emptyRollupValues(), points: q.totalsOnly ? [] : new Array<RollupValues | undefined>(nPoints) });
  for (const row of rows) {
    let key = '';
    for (const d of dims) key += `${groupValue(row, d)}\u0001`;
    let g = groups.get(key);
    if (!g) {
      const group: Record<string, string> = {};
      for (const d of dims) group[GROUP_LABELS[d]] = groupValue(row, d);
      g = { group, total: emptyRollupValues(), points: q.totalsOnly ? [] : new Array<RollupValues | undefined>(nPoints) };
      groups.set(key, g);
    }
    if (q.totalsOnly) {
      addRow(g.total, row);
      continue;
    }
    const idx = Math.floor((num(row.bucket_start) - from) / bucket);
    let acc = g.points[idx];
    if (!acc) g.points[idx] = acc = emptyRollupValues();
    addRow(acc, row);
  }

  const total = emptyRollupValues();
  const all = [...groups.values()];
  for (const g of all) {
    if (!q.totalsOnly) for (const p of g.points) if (p) mergeCell(g.total, p);
    mergeCell(total, g.total);
  }
  all.sort((a, b) => (a.total.costNanos === b.total.costNanos ? b.total.requests - a.total.requests : a.total.costNanos < b.total.costNanos ? 1 : -1));
  const kept = q.limit > 0 ? all.slice(0, q.limit) : all;
  const zero = totalsOf(emptyRollupValues());
  return {
    bucketSeconds: bucket,
    resolution,
    from,
    to,
    total: totalsOf(total),
    omittedGroups: all.length - kept.length,
    ...(q.latencyDistribution ? { latencyDistribution: total.latency.buckets() } : {}),
    series: kept.map((g) => ({
      group: g.group,
      total: totalsOf(g.total),
      points: q.totalsOnly ? [] : Array.from({ length: nPoints }, (_, i) => ({ time: from + i * bucket, values: g.points[i] ? totalsOf(g.points[i]!) : zero })),
    })),
  };
}

function groupValue(row: StoredRow, d: GroupDimension): string {
  if (d === 'statusClass') return `${Math.floor(num(row.status) / 100)}xx`;
  if (d === 'status') return String(num(row.status));
  return String(row[dimColumn(d)] ?? '');
}

function dimColumn(d: Exclude<DimensionName, 'status'>): 'gateway' | 'model' | 'provider' | 'api_key_id' | 'route' {
  return d === 'apiKeyId' ? 'api_key_id' : d;
}

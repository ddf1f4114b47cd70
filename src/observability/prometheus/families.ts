/**
 * Counter and histogram families for the per-request metrics, kept as plain
 * numbers and rendered in the Prometheus text format (0.0.4) at scrape time.
 *
 * prom-client hashes and validates the labels of every `inc`/`observe`, even
 * on a child from `labels()`: about 20 µs of the request path per settled
 * request for the eight families here. A series here is found once per
 * distinct label combination (the caller keeps it) and updated with a few
 * array writes; the exposition is the same as prom-client's (HELP, TYPE,
 * cumulative `_bucket` series with `le`, `_sum`, `_count`).
 */

/** Escapes a label value as the text format requires (backslash, double quote, line feed). */
function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** Escapes HELP text (backslash and line feed). */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** One labelled series of a counter. */
export interface CounterSeries {
  value: number;
}

/** One labelled series of a histogram: per-bucket (not cumulative) counts, the last one for `+Inf`. */
export interface HistogramSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

abstract class Family<S> {
  protected readonly series = new Map<string, { labels: string; s: S }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /**
   * The series of these label values (in `labelNames` order), created at first use. `key`
   * identifies the combination (the caller's cache key; defaults to the values joined).
   */
  get(values: readonly string[], key = values.join('\u0001')): S {
    let hit = this.series.get(key);
    if (!hit) {
      if (values.length !== this.labelNames.length) throw new Error(`${this.name}: ${this.labelNames.length} label values expected`);
      const labels = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`).join(',');
      hit = { labels, s: this.create() };
      this.series.set(key, hit);
    }
    return hit.s;
  }

  /** Number of series (bounded by the callers' label caps). */
  get size(): number {
    return this.series.size;
  }

  protected abstract create(): S;
  protected abstract lines(labels: string, s: S, out: string[]): void;
  protected abstract get type(): string;

  /** The family in the text format, ending with a line feed. */
  render(): string {
    const out = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, s } of this.series.values()) this.lines(labels, s, out);
    return `${out.join('\n')}\n`;
  }
}

/** A monotonic counter family. */
export class CounterFamily extends Family<CounterSeries> {
  protected get type(): string {
    return 'counter';
  }
  protected create(): CounterSeries {
    return { value: 0 };
  }
  protected lines(labels: string, s: CounterSeries, out: string[]): void {
    out.push(`${this.name}{${labels}} ${formatNumber(s.value)}`);
  }
}

/** A histogram family with fixed upper bounds (ascending; `+Inf` is implied). */
export class HistogramFamily extends Family<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
  }

  protected get type(): string {
    return 'histogram';
  }
  protected create(): HistogramSeries {
    return { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
  }

  /** Adds one observation to a series of this family. */
  observe(s: HistogramSeries, v: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    s.counts[i]! += 1;
    s.sum += v;
    s.count += 1;
  }

  protected lines(labels: string, s: HistogramSeries, out: string[]): void {
    let cumulative = 0;
    const sep = labels ? ',' : '';
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += s.counts[i]!;
      out.push(`${this.name}_bucket{le="${formatNumber(this.buckets[i]!)}"${sep}${labels}} ${cumulative}`);
    }
    cumulative += s.counts[this.buckets.length]!;
    out.push(`${this.name}_bucket{le="+Inf"${sep}${labels}} ${cumulative}`);
    out.push(`${this.name}_sum{${labels}} ${formatNumber(s.sum)}`);
    out.push(`${this.name}_count{${labels}} ${s.count}`);
  }
}

import { describe, expect, it } from 'vitest';
import { LatencySketch } from '../observability/metrics/sketch.js';
import { latencyBins } from './latency-histogram';

/** Linear bins of a list of latencies up to its 99th percentile, the last bin holding the rest. */
function binsOfList(latencies: number[], bins = 24, widthMs?: number) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const top = Math.max(1, sorted[Math.floor(sorted.length * 0.99)] ?? 1);
  const width = widthMs ?? Math.max(1, Math.ceil(top / bins));
  const counts = new Array<number>(bins).fill(0);
  for (const v of sorted) counts[Math.min(bins - 1, Math.floor(v / width))]! += 1;
  return { width, counts, total: sorted.length };
}

const latencies = Array.from({ length: 20_000 }, (_, i) => 200 + ((i * 7919) % 1800) + (i % 97 === 0 ? 9000 : 0));

describe('latencyBins', () => {
  it('is empty for no requests', () => {
    expect(latencyBins([])).toEqual({ width: 1, counts: new Array(24).fill(0), total: 0 });
  });

  it('bins exact values as binning the list of latencies does', () => {
    const counts = new Map<number, number>();
    for (const v of latencies) counts.set(v, (counts.get(v) ?? 0) + 1);
    const buckets = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([valueMs, count]) => ({ valueMs, count }));
    expect(latencyBins(buckets)).toEqual(binsOfList(latencies));
  });

  it('bins a merged sketch like the exact latencies, up to the values within 1% of a bin edge', () => {
    const sketch = new LatencySketch();
    for (const v of latencies) sketch.add(v);
    const got = latencyBins(sketch.buckets());
    const want = binsOfList(latencies);
    expect(got.total).toBe(latencies.length);
    // The 99th percentile, hence the bin width, within 1%.
    expect(Math.abs(got.width - want.width)).toBeLessThanOrEqual(Math.ceil(want.width * 0.01));
    // At the same width, only latencies within 1% of a bin edge can land in the neighbouring bin.
    const same = binsOfList(latencies, 24, got.width);
    const nearEdge = latencies.filter((v) => Math.abs(v - Math.round(v / got.width) * got.width) <= 0.0101 * v).length;
    const moved = got.counts.reduce((n, c, i) => n + Math.abs(c - same.counts[i]!), 0) / 2;
    expect(nearEdge).toBeLessThan(latencies.length / 4);
    expect(moved).toBeLessThanOrEqual(nearEdge);
    expect(got.counts.reduce((a, b) => a + b, 0)).toBe(latencies.length);
  });
});

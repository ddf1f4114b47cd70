import { describe, expect, it } from 'vitest';
import { LatencySketch, RELATIVE_ACCURACY } from './sketch.js';

describe('LatencySketch.buckets', () => {
  it('is empty for an empty sketch', () => {
    expect(new LatencySketch().buckets()).toEqual([]);
  });

  it('lists every value once, ascending, each within the accuracy of its bucket, zeros first', () => {
    const sketch = new LatencySketch();
    const values: number[] = [0, 0, 0.0005];
    for (let i = 0; i < 5000; i++) values.push(0.5 + ((i * 7919) % 100_000) / 7);
    for (const v of values) sketch.add(v);
    const buckets = sketch.buckets();
    expect(buckets[0]).toEqual({ valueMs: 0, count: 3 });
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(values.length);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.valueMs).toBeGreaterThan(buckets[i - 1]!.valueMs);
    // Bucket i holds (γ^(i-1), γ^i] and stands for 2γ^i/(γ+1) (sketch.ts): counting the values that way gives the buckets.
    const gamma = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
    const expected = new Map<number, number>();
    for (const v of values.filter((x) => x > 0.001)) {
      const value = (2 * gamma ** Math.ceil(Math.log(v) / Math.log(gamma))) / (gamma + 1);
      expect(Math.abs(value - v) / v).toBeLessThanOrEqual(RELATIVE_ACCURACY + 1e-9);
      const key = buckets.find((b) => Math.abs(b.valueMs - value) < 1e-9 * value)?.valueMs;
      expect(key, `the bucket of ${v}`).toBeDefined();
      expected.set(key!, (expected.get(key!) ?? 0) + 1);
    }
    expect(buckets.length - 1).toBe(expected.size);
    expect(buckets.slice(1).every((b) => b.count === expected.get(b.valueMs))).toBe(true);
  });

  it('agrees with the sketch quantiles after merging encoded sketches', () => {
    const merged = new LatencySketch();
    for (let part = 0; part < 4; part++) {
      const s = new LatencySketch();
      for (let i = 0; i < 250; i++) s.add(20 + part * 300 + i * 3.1);
      merged.mergeEncoded(s.encode());
    }
    const buckets = merged.buckets();
    const at = (q: number) => {
      const rank = q * (merged.count - 1);
      let seen = 0;
      for (const b of buckets) if (rank < (seen += b.count)) return b.valueMs;
      return buckets.at(-1)!.valueMs;
    };
    for (const q of [0, 0.1, 0.5, 0.9, 0.95, 0.99, 1]) expect(at(q)).toBeCloseTo(merged.quantile(q), 9);
  });
});

import { describe, expect, it } from 'vitest';
import { LatencySketch, RELATIVE_ACCURACY } from './sketch.js';

function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

describe('LatencySketch', () => {
  const values = Array.from({ length: 20_000 }, (_, i) => Math.exp(Math.sin(i * 12.9898) * 4 + 5));

  it('answers every quantile within the relative accuracy', () => {
    const sketch = new LatencySketch();
    for (const v of values) sketch.add(v);
    for (const q of [0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
      const want = exact(values, q);
      expect(Math.abs(sketch.quantile(q) - want) / want).toBeLessThanOrEqual(RELATIVE_ACCURACY + 1e-9);
    }
    expect(sketch.count).toBe(values.length);
  });

  it('merges exactly: any split, merged in any order or from bytes, equals one sketch of everything', () => {
    const whole = new LatencySketch();
    for (const v of values) whole.add(v);
    const parts = [new LatencySketch(), new LatencySketch(), new LatencySketch()];
    values.forEach((v, i) => parts[(i * 7) % 3]!.add(v));
    const merged = new LatencySketch();
    merged.merge(parts[2]!);
    merged.mergeEncoded(parts[0]!.encode());
    merged.merge(LatencySketch.decode(parts[1]!.encode()));
    expect(merged.encode()).toEqual(whole.encode());
    for (const q of [0.5, 0.95, 0.99]) expect(merged.quantile(q)).toBe(whole.quantile(q));
  });

  it('counts zero and tiny values in the zero bucket and ignores invalid ones', () => {
    const s = new LatencySketch();
    s.add(0);
    s.add(0.0001);
    s.add(-1);
    s.add(Number.NaN);
    s.add(10);
    expect(s.count).toBe(3);
    expect(s.quantile(0.5)).toBe(0);
    expect(s.quantile(1)).toBeCloseTo(10, 0);
    expect(LatencySketch.decode(s.encode()).quantile(1)).toBe(s.quantile(1));
    expect(new LatencySketch().quantile(0.5)).toBe(0);
    expect(() => LatencySketch.decode(Uint8Array.from([1, 0, 2, 5]))).toThrow(RangeError);
  });

  it('encodes a minute of latencies compactly', () => {
    const s = new LatencySketch();
    for (let i = 0; i < 100; i++) s.add(200 + i * 7);
    expect(s.encode().length).toBeLessThan(200);
  });
});

import { describe, expect, it } from 'vitest';
import { CounterFamily, HistogramFamily } from './families.js';

describe('metric families', () => {
  it('renders a histogram with cumulative buckets, +Inf, sum and count', () => {
    const h = new HistogramFamily('t_seconds', 'Time', ['route'], [0.1, 1]);
    const s = h.get(['a']);
    for (const v of [0.05, 0.1, 0.5, 3]) h.observe(s, v);
    expect(h.render()).toBe(
      ['# HELP t_seconds Time', '# TYPE t_seconds histogram', 't_seconds_bucket{le="0.1",route="a"} 2', 't_seconds_bucket{le="1",route="a"} 3', 't_seconds_bucket{le="+Inf",route="a"} 4', 't_seconds_sum{route="a"} 3.65', 't_seconds_count{route="a"} 4', ''].join('\n'),
    );
  });

  it('keeps one series per label combination and escapes label values', () => {
    const c = new CounterFamily('n_total', 'Count\nof things', ['k']);
    c.get(['x']).value += 1;
    c.get(['x']).value += 2;
    c.get(['a"b\\c\nd']).value += 1;
    expect(c.size).toBe(2);
    expect(c.render()).toBe(['# HELP n_total Count\\nof things', '# TYPE n_total counter', 'n_total{k="x"} 3', 'n_total{k="a\\"b\\\\c\\nd"} 1', ''].join('\n'));
    expect(() => c.get([])).toThrow(/1 label values expected/);
  });
});

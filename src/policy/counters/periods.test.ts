import { describe, expect, it } from 'vitest';
import { periodFor, type SpendPeriod } from './periods.js';

const cases: [SpendPeriod, string, string, string, string][] = [
  // period, now, key, start, end
  ['daily', '2026-12-01T00:00:00.000Z', '2026-12-01', '2026-12-01', '2026-12-02'],
  ['daily', '2026-12-31T23:59:59.999Z', '2026-12-31', '2026-12-31', '2027-01-01'],
  ['daily', '2024-02-29T12:00:00.000Z', '2024-02-29', '2024-02-29', '2024-03-01'],
  ['daily', '2025-02-28T23:00:00.000Z', '2025-02-28', '2025-02-28', '2025-03-01'],
  ['weekly', '2026-12-01T08:00:00.000Z', '2026-W49', '2026-11-30', '2026-12-07'],
  ['weekly', '2026-11-30T00:00:00.000Z', '2026-W49', '2026-11-30', '2026-12-07'],
  ['weekly', '2026-12-06T23:59:59.999Z', '2026-W49', '2026-11-30', '2026-12-07'],
  // ISO week-years: a week belongs to the year its Thursday is in.
  ['weekly', '2024-12-30T10:00:00.000Z', '2025-W01', '2024-12-30', '2025-01-06'],
  ['weekly', '2019-12-30T00:00:00.000Z', '2020-W01', '2019-12-30', '2020-01-06'],
  ['weekly', '2021-01-03T23:00:00.000Z', '2020-W53', '2020-12-28', '2021-01-04'],
  ['weekly', '2026-12-31T12:00:00.000Z', '2026-W53', '2026-12-28', '2027-01-04'],
  ['weekly', '2027-01-01T00:00:00.000Z', '2026-W53', '2026-12-28', '2027-01-04'],
  ['weekly', '2027-01-04T00:00:00.000Z', '2027-W01', '2027-01-04', '2027-01-11'],
  ['weekly', '2024-02-29T00:00:00.000Z', '2024-W09', '2024-02-26', '2024-03-04'],
  ['monthly', '2026-12-15T00:00:00.000Z', '2026-12', '2026-12-01', '2027-01-01'],
  ['monthly', '2024-02-10T00:00:00.000Z', '2024-02', '2024-02-01', '2024-03-01'],
  ['monthly', '2024-02-29T23:59:59.999Z', '2024-02', '2024-02-01', '2024-03-01'],
  ['monthly', '2025-02-28T23:59:59.999Z', '2025-02', '2025-02-01', '2025-03-01'],
  ['monthly', '2100-02-15T00:00:00.000Z', '2100-02', '2100-02-01', '2100-03-01'],
  ['monthly', '2026-01-31T23:59:59.999Z', '2026-01', '2026-01-01', '2026-02-01'],
];

describe('periodFor', () => {
  it.each(cases)('%s at %s is %s', (period, now, key, start, end) => {
    const p = periodFor(period, new Date(now));
    expect(p.key).toBe(key);
    expect(p.start.toISOString()).toBe(`${start}T00:00:00.000Z`);
    expect(p.end.toISOString()).toBe(`${end}T00:00:00.000Z`);
  });

  it('tiles time: the end of one period is the start of the next', () => {
    for (const period of ['daily', 'weekly', 'monthly'] as const) {
      let p = periodFor(period, new Date('2023-12-20T00:00:00Z'));
      for (let i = 0; i < 60; i++) {
        const next = periodFor(period, p.end);
        expect(next.start).toEqual(p.end);
        expect(periodFor(period, new Date(p.end.getTime() - 1)).key).toBe(p.key);
        expect(next.key).not.toBe(p.key);
        p = next;
      }
    }
  });

  it('rejects an invalid date', () => {
    expect(() => periodFor('daily', new Date('nope'))).toThrow(RangeError);
  });
});

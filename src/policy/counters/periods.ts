/** Calendar-aligned spend periods in UTC, and the keys their budget counters are filed under. */

/** A spend limit's period (`SpendPeriod` in the API). Weeks start on Monday. */
export type SpendPeriod = 'daily' | 'weekly' | 'monthly';

/** One period: `[start, end)` in UTC, and its key (`2026-12-01`, `2026-W49`, `2026-12`). */
export interface Period {
  key: string;
  start: Date;
  end: Date;
}

const DAY_MS = 86_400_000;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * The period containing `now`. Daily and monthly keys are the UTC date and month; weekly keys
 * are ISO 8601 weeks (`YYYY-Www`, Monday to Sunday, the week-year being the one its Thursday is
 * in, so 2024-12-30 falls in `2025-W01`). Months end where the calendar says (Feb 29 in leap years).
 */
export function periodFor(period: SpendPeriod, now: Date): Period {
  const ms = now.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('periodFor needs a valid date');
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  const day = now.getUTCDate();
  switch (period) {
    case 'daily':
      return {
        key: `${pad(year, 4)}-${pad(month + 1, 2)}-${pad(day, 2)}`,
        start: new Date(Date.UTC(year, month, day)),
        end: new Date(Date.UTC(year, month, day + 1)),
      };
    case 'weekly': {
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      const start = Date.UTC(year, month, day - sinceMonday);
      const thursday = new Date(start + 3 * DAY_MS);
      const weekYear = thursday.getUTCFullYear();
      const week = Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / (7 * DAY_MS)) + 1;
      return { key: `${pad(weekYear, 4)}-W${pad(week, 2)}`, start: new Date(start), end: new Date(start + 7 * DAY_MS) };
    }
    case 'monthly':
      return {
        key: `${pad(year, 4)}-${pad(month + 1, 2)}`,
        start: new Date(Date.UTC(year, month, 1)),
        end: new Date(Date.UTC(year, month + 1, 1)),
      };
  }
}

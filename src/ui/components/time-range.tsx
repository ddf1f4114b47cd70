/**
 * The time range of a page, kept in the URL (`?range=24h`, or
 * `?range=custom&from=…&to=…`): last hour by default; 24 h, 7 d, 30 d or a
 * custom range.
 */
import { setQuery, useLocation } from '../router';
import { toLocalInput } from '../format';

export const PRESETS = [
  ['1h', 'Last hour', 3_600_000],
  ['24h', 'Last 24 hours', 86_400_000],
  ['7d', 'Last 7 days', 7 * 86_400_000],
  ['30d', 'Last 30 days', 30 * 86_400_000],
] as const;

export interface Range {
  key: string;
  start: Date;
  end: Date;
  /** Whether the range ends now (live refresh makes sense). */
  relative: boolean;
}

export function useRange(): Range {
  const { query } = useLocation();
  const key = query.get('range') ?? '1h';
  if (key === 'custom') {
    const from = new Date(query.get('from') ?? '');
    const to = new Date(query.get('to') ?? '');
    if (!Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime()) && from < to) return { key, start: from, end: to, relative: false };
  }
  const preset = PRESETS.find((p) => p[0] === key) ?? PRESETS[0];
  const end = new Date();
  return { key: preset[0], start: new Date(end.getTime() - preset[2]), end, relative: true };
}

/** Other query parameters of the page are kept when the range changes. */
export function RangePicker(props: { range: Range; extra?: Record<string, string | undefined> }) {
  const { query } = useLocation();
  const keep = Object.fromEntries(query.entries());
  return (
    <div class="range-picker" role="group" aria-label="Time range">
      {PRESETS.map(([key, label]) => (
        <button key={key} type="button" aria-pressed={props.range.key === key} onClick={() => setQuery({ ...keep, range: key, from: undefined, to: undefined })}>
          {label}
        </button>
      ))}
      <button
        type="button"
        aria-pressed={props.range.key === 'custom'}
        onClick={() => setQuery({ ...keep, range: 'custom', from: toLocalInput(props.range.start), to: toLocalInput(props.range.end) })}
      >
        Custom
      </button>
      {props.range.key === 'custom' ? (
        <>
          <label>
            From{' '}
            <input type="datetime-local" value={query.get('from') ?? ''} onChange={(e) => setQuery({ ...keep, from: (e.target as HTMLInputElement).value })} />
          </label>
          <label>
            To <input type="datetime-local" value={query.get('to') ?? ''} onChange={(e) => setQuery({ ...keep, to: (e.target as HTMLInputElement).value })} />
          </label>
        </>
      ) : null}
    </div>
  );
}

/**
 * Number, money and time formatting. Money arrives as integer strings:
 * nano-dollars for costs, micro-dollars for budgets (Protobuf JSON int64).
 */

const int = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

export function num(value: number | string | undefined): string {
  return int.format(Number(value ?? 0));
}

export function compactNum(value: number | string | undefined): string {
  const n = Number(value ?? 0);
  return n < 10_000 ? int.format(n) : compact.format(n);
}

/** Dollars with enough precision for small costs: $0.000123, $1.23, $1,234. */
export function usd(dollars: number): string {
  if (dollars === 0) return '$0';
  const abs = Math.abs(dollars);
  const digits = abs >= 100 ? 0 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return `$${dollars.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

export function nanosToUsd(nanos: string | number | undefined): number {
  return Number(nanos ?? 0) / 1e9;
}

export function microsToUsd(micros: string | number | undefined): number {
  return Number(micros ?? 0) / 1e6;
}

export function ms(value: number | string | undefined): string {
  const n = Number(value ?? 0);
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  return `${n >= 100 ? Math.round(n) : n.toFixed(n >= 10 ? 0 : 1)} ms`;
}

export function pct(part: number, whole: number): string {
  if (!whole) return '–';
  const p = (100 * part) / whole;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

/** A fraction as a percentage; doubles may arrive as `"NaN"` in Protobuf JSON. */
export function rate(value: number | string | undefined): string {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n)) return '–';
  const p = n * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function time(iso: string | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : '–';
}

/** `2026-12-01T12:30` in local time, for `<input type="datetime-local">`. */
export function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Strips a Protobuf enum prefix: `PROVIDER_TYPE_OPENAI_COMPATIBLE` → `openai_compatible`. */
export function enumLabel(value: string | undefined, prefix: string): string {
  if (!value) return '–';
  return value.startsWith(prefix) ? value.slice(prefix.length).toLowerCase() : value.toLowerCase();
}

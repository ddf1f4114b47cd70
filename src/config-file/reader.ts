/**
 * Typed, path-tracking readers over the plain value parsed from `sluice.yaml`.
 * Every reader records what is wrong as `path: message` and returns a
 * fallback instead of throwing, so one pass over the file reports every
 * problem. The result of a read is only meaningful when no problem was added.
 */
import type { DescEnum } from '@bufbuild/protobuf';
import { enumFromSlug, enumSlugs } from '../services/enums.js';
import { SLUG_PATTERN } from '../services/validation.js';

/** Where the scalars of the parsed file came from, by path (see `childPath`). */
export interface ScalarSources {
  /** Source text of numeric scalars (`2.50` stays `2.50`), for exact decimals. */
  numbers: ReadonlyMap<string, string>;
  /** Paths of strings produced by `${ENV}` interpolation; they may stand for numbers and booleans. */
  interpolated: ReadonlySet<string>;
}

/** The path of a map key or list index below `parent`, e.g. `workspaces[0].name`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  const segment = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (!parent) return segment;
  return segment.startsWith('[') ? `${parent}${segment}` : `${parent}.${segment}`;
}

/** Shows a value in a message: strings quoted, others as YAML would print them. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'a mapping';
  return String(value);
}

/** Outcome of converting a decimal USD amount to integer micro-dollars. */
export type MicrosResult = { ok: true; micros: bigint } | { ok: false; reason: 'syntax' | 'precision' | 'range' };

const INT64_MAX = 2n ** 63n - 1n;

/**
 * Converts a non-negative decimal string (`2.5`, `0.075`, `1e-3`) to integer
 * micro-units without floating point: the digits are shifted as text, so
 * 0.075 is exactly 75000. More than six decimal places is a `precision` error.
 */
export function decimalToMicros(text: string): MicrosResult {
  const m = /^\+?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d{1,3}))?$/.exec(text.trim());
  const whole = m?.[1] ?? '';
  const fraction = m?.[2] ?? '';
  if (!m || (whole === '' && fraction === '')) return { ok: false, reason: 'syntax' };
  const digits = BigInt(whole + fraction || '0');
  const shift = 6 - fraction.length + Number(m[3] ?? 0);
  let micros: bigint;
  if (shift >= 0) {
    if (shift > 30) return { ok: false, reason: 'range' };
    micros = digits * 10n ** BigInt(shift);
  } else {
    const divisor = 10n ** BigInt(-shift);
    if (digits % divisor !== 0n) return { ok: false, reason: 'precision' };
    micros = digits / divisor;
  }
  return micros > INT64_MAX ? { ok: false, reason: 'range' } : { ok: true, micros };
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

function suggestion(key: string, known: readonly string[]): string {
  const best = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k) }))
    .filter((x) => x.d <= 2)
    .sort((x, y) => x.d - y.d)[0];
  return best ? ` (did you mean "${best.k}"?)` : '';
}

const isMissing = (v: unknown): v is null | undefined => v === undefined || v === null;

/** Options shared by the scalar readers. */
interface ScalarOptions<T> {
  /** Missing (absent or null) is a problem. */
  required?: boolean;
  /** Value of a missing optional key. */
  default?: T;
}

/** Collects problems and reads values below paths. One instance per file. */
export class ConfigReader {
  /** Every problem, as `path: message`, in the order found. */
  readonly problems: string[] = [];

  constructor(private readonly sources: ScalarSources = { numbers: new Map(), interpolated: new Set() }) {}

  /** Records a problem at `path` (`(root)` for the document itself). */
  add(path: string, message: string): void {
    this.problems.push(`${path || '(root)'}: ${message}`);
  }

  /** A mapping whose keys must be among `keys`; unknown keys are problems. */
  map(path: string, value: unknown, keys: readonly string[]): MapReader | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.add(path, `must be a mapping, got ${show(value)}`);
      return undefined;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!keys.includes(key)) this.add(childPath(path, key), `unknown key${suggestion(key, keys)}`);
    }
    return new MapReader(this, path, record);
  }

  /** A list, each item read by `item`; items returning undefined are dropped (their problems are recorded). */
  list<T>(path: string, value: unknown, item: (path: string, value: unknown, index: number) => T | undefined): T[] {
    if (isMissing(value)) return [];
    if (!Array.isArray(value)) {
      this.add(path, `must be a list, got ${show(value)}`);
      return [];
    }
    const out: T[] = [];
    value.forEach((v: unknown, i) => {
      const r = item(childPath(path, i), v, i);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  /** A string; `slug` also checks the slug pattern. */
  string(path: string, value: unknown, options: ScalarOptions<string> & { slug?: boolean; maxLength?: number } = {}): string {
    if (isMissing(value)) return this.missing(path, options, '');
    if (typeof value !== 'string') {
      this.add(path, `must be a string, got ${show(value)}`);
      return '';
    }
    if (options.slug && !SLUG_PATTERN.test(value)) {
      this.add(path, `must be a slug (lowercase letters, digits and "-", at most 63 characters), got ${show(value)}`);
    } else if (options.required && value === '') {
      this.add(path, 'must not be empty');
    } else if (options.maxLength !== undefined && value.length > options.maxLength) {
      this.add(path, `must be at most ${options.maxLength} characters`);
    }
    return value;
  }

  /** An integer in [min, max]. A string from `${ENV}` interpolation is read as its digits. */
  int(path: string, value: unknown, options: ScalarOptions<number> & { min?: number; max?: number } = {}): number {
    if (isMissing(value)) return this.missing(path, options, 0);
    const n = this.interpolatedNumber(path, value, /^[-+]?\d+$/);
    const min = options.min ?? 0;
    const max = options.max ?? 2_147_483_647;
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
      this.add(path, `must be an integer, got ${show(value)}`);
      return 0;
    }
    if (n < min || n > max) this.add(path, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  /** A number (for fractions such as `warn_at`), checked to lie in [min, max). */
  fraction(path: string, value: unknown, options: ScalarOptions<number> & { min: number; below: number }): number {
    if (isMissing(value)) return this.missing(path, options, 0);
    const n = this.interpolatedNumber(path, value, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/);
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.add(path, `must be a number, got ${show(value)}`);
      return 0;
    }
    if (n < options.min || n >= options.below) this.add(path, `must be at least ${options.min} and below ${options.below}, got ${n}`);
    return n;
  }

  /** `true` or `false`. */
  bool(path: string, value: unknown, options: ScalarOptions<boolean> = {}): boolean {
    if (isMissing(value)) return this.missing(path, options, false);
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string' && this.sources.interpolated.has(path) && /^(true|false)$/.test(value)) return value === 'true';
    this.add(path, `must be true or false, got ${show(value)}`);
    return false;
  }

  /**
   * A USD amount as integer micro-dollars, from the number's source text
   * (or a quoted decimal string), never through floating point.
   */
  micros(path: string, value: unknown, options: { required?: boolean; positive?: boolean } = {}): bigint | undefined {
    if (isMissing(value)) {
      if (options.required) this.add(path, 'required');
      return undefined;
    }
    const text = typeof value === 'number' ? (this.sources.numbers.get(path) ?? String(value)) : value;
    if (typeof text !== 'string') {
      this.add(path, `must be a decimal amount in USD, got ${show(value)}`);
      return undefined;
    }
    const r = decimalToMicros(text);
    if (!r.ok) {
      const why = {
        syntax: `must be a non-negative decimal amount in USD, got ${show(value)}`,
        precision: `has more than 6 decimal places (amounts are kept in micro-dollars), got ${text}`,
        range: `is too large, got ${text}`,
      };
      this.add(path, why[r.reason]);
      return undefined;
    }
    if (options.positive && r.micros === 0n) this.add(path, 'must be greater than 0');
    return r.micros;
  }

  /**
   * A Protobuf enum written as its lowercase slug (`round_robin`); `aliases`
   * maps extra spellings onto slugs (`1m` → `minute`). Returns 0 when invalid.
   */
  enumValue(path: string, value: unknown, desc: DescEnum, options: ScalarOptions<number> & { aliases?: Readonly<Record<string, string>> } = {}): number {
    if (isMissing(value)) return this.missing(path, options, 0);
    const slug = typeof value === 'string' ? (options.aliases?.[value] ?? value) : undefined;
    const n = slug === undefined || slug !== slug.toLowerCase() ? undefined : enumFromSlug(desc, slug);
    if (n === undefined) {
      const choices = [...enumSlugs(desc), ...Object.keys(options.aliases ?? {})].join(', ');
      this.add(path, `must be one of ${choices}, got ${show(value)}`);
      return 0;
    }
    return n;
  }

  /** A list of strings. */
  stringList(path: string, value: unknown, options: { slug?: boolean } = {}): string[] {
    return this.list(path, value, (p, v) => this.string(p, v, { required: true, ...options }));
  }

  /** A mapping of strings to strings (numbers and booleans are refused, to keep the file explicit). */
  stringMap(path: string, value: unknown): Record<string, string> {
    if (isMissing(value)) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.add(path, `must be a mapping of strings, got ${show(value)}`);
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = v;
      else this.add(childPath(path, k), `must be a string, got ${show(v)}`);
    }
    return out;
  }

  private missing<T>(path: string, options: ScalarOptions<T>, fallback: T): T {
    if (options.required) this.add(path, 'required');
    return options.default ?? fallback;
  }

  private interpolatedNumber(path: string, value: unknown, pattern: RegExp): unknown {
    if (typeof value === 'string' && this.sources.interpolated.has(path) && pattern.test(value.trim())) return Number(value);
    return value;
  }
}

/** A mapping at a path; each method reads one key with the reader of the same name. */
export class MapReader {
  constructor(
    private readonly reader: ConfigReader,
    /** Path of the mapping itself. */
    readonly path: string,
    private readonly record: Record<string, unknown>,
  ) {}

  /** Whether the key is present with a non-null value. */
  has(key: string): boolean {
    return !isMissing(this.record[key]);
  }

  /** The raw value of a key. */
  raw(key: string): unknown {
    return this.record[key];
  }

  /** The path of a key. */
  at(key: string): string {
    return childPath(this.path, key);
  }

  string(key: string, options?: Parameters<ConfigReader['string']>[2]): string {
    return this.reader.string(this.at(key), this.record[key], options);
  }

  int(key: string, options?: Parameters<ConfigReader['int']>[2]): number {
    return this.reader.int(this.at(key), this.record[key], options);
  }

  bool(key: string, fallback: boolean): boolean {
    return this.reader.bool(this.at(key), this.record[key], { default: fallback });
  }

  micros(key: string, options?: Parameters<ConfigReader['micros']>[2]): bigint | undefined {
    return this.reader.micros(this.at(key), this.record[key], options);
  }

  enumValue(key: string, desc: DescEnum, options?: Parameters<ConfigReader['enumValue']>[3]): number {
    return this.reader.enumValue(this.at(key), this.record[key], desc, options);
  }

  stringList(key: string, options?: { slug?: boolean }): string[] {
    return this.reader.stringList(this.at(key), this.record[key], options);
  }

  stringMap(key: string): Record<string, string> {
    return this.reader.stringMap(this.at(key), this.record[key]);
  }

  list<T>(key: string, item: (path: string, value: unknown, index: number) => T | undefined): T[] {
    return this.reader.list(this.at(key), this.record[key], item);
  }
}

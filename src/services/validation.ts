/**
 * Field-level validation shared by every service. A service collects all
 * violations of a request, then throws them together as one
 * `invalid_argument` error, before anything is written.
 */
import type { FieldMask } from '@bufbuild/protobuf/wkt';
import { SluiceError, type FieldViolation } from '../errors.js';

/** Slugs: lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters. */
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Collects violations for one request. */
export class Violations {
  readonly list: FieldViolation[] = [];

  add(field: string, description: string, reason = 'INVALID'): this {
    this.list.push({ field, description, reason });
    return this;
  }

  /** Adds a `REQUIRED` violation when `value` is empty; returns whether it was present. */
  required(field: string, value: unknown): boolean {
    const empty = value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
    if (empty) this.add(field, 'required', 'REQUIRED');
    return !empty;
  }

  slug(field: string, value: string): void {
    if (this.required(field, value) && !SLUG_PATTERN.test(value)) {
      this.add(field, 'must be a slug: lowercase letters, digits and "-", at most 63 characters, e.g. "prod-eu"', 'INVALID_FORMAT');
    }
  }

  maxLength(field: string, value: string, max: number): void {
    if (value.length > max) this.add(field, `must be at most ${max} characters`, 'TOO_LONG');
  }

  /** An http(s) URL; empty passes unless `required`. */
  url(field: string, value: string, required = false): void {
    if (!value) {
      if (required) this.add(field, 'required', 'REQUIRED');
      return;
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      this.add(field, 'must be an http:// or https:// URL', 'INVALID_FORMAT');
    } else if (parsed.username || parsed.password) {
      this.add(field, 'must not carry credentials; use the credential fields', 'INVALID_FORMAT');
    } else if (isLinkLocal(parsed.hostname)) {
      this.add(field, 'must not point at a link-local (cloud metadata) address', 'FORBIDDEN_ADDRESS');
    }
  }

  range(field: string, value: number | bigint, min: number | bigint, max: number | bigint): void {
    if (value < min || value > max) this.add(field, `must be between ${min} and ${max}`, 'OUT_OF_RANGE');
  }

  /** Proto3 enums arrive as numbers; 0 (UNSPECIFIED) and unknown numbers are rejected. */
  enumValue(field: string, value: number, names: Record<number, string>): void {
    if (value === 0) this.add(field, 'required', 'REQUIRED');
    else if (!(value in names)) this.add(field, `unknown value ${value}`, 'INVALID_ENUM');
  }

  /** Copies another collector's violations under a path prefix. */
  nest(prefix: string, other: Violations): void {
    for (const v of other.list) this.list.push({ ...v, field: `${prefix}.${v.field}` });
  }

  get ok(): boolean {
    return this.list.length === 0;
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw SluiceError.invalid(this.list);
  }
}

function isLinkLocal(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return /^169\.254\./.test(host) || /^fe[89ab][0-9a-f]:/.test(host) || host === 'metadata.google.internal';
}

/**
 * The paths of an update mask, checked against the fields a method may change.
 * `*` selects every mutable field. Paths are proto (snake_case) names.
 */
export function maskPaths(mask: FieldMask | undefined, mutable: readonly string[], field = 'update_mask'): Set<string> {
  const paths = mask?.paths ?? [];
  if (paths.length === 0) {
    throw SluiceError.invalid([{ field, description: `required; name the fields to change among ${mutable.join(', ')}, or "*"`, reason: 'REQUIRED' }]);
  }
  if (paths.length === 1 && paths[0] === '*') return new Set(mutable);
  const v = new Violations();
  for (const path of paths) {
    if (!mutable.includes(path)) {
      v.add(field, `cannot update "${path}"; updatable fields are ${mutable.join(', ')}`, 'INVALID_PATH');
    }
  }
  v.throwIfAny();
  return new Set(paths);
}

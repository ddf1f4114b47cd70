/**
 * The one error taxonomy of Sluice. Every layer throws `SluiceError` with a
 * kind; each surface renders it in its own shape (Connect codes, tRPC codes,
 * the OpenAI/Anthropic envelopes, JSON-RPC errors). Match on `kind`, never on
 * message text.
 */

/** Error kinds, named after the Connect/gRPC codes they render as. */
export type ErrorKind =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'unimplemented'
  | 'internal';

/** One invalid field, by its snake_case path in the request (`gateway.routes[0].condition`). */
export interface FieldViolation {
  field: string;
  description: string;
  /** Machine-readable reason: `REQUIRED`, `INVALID_FORMAT`, `IMMUTABLE`, `UNKNOWN_REFERENCE`, … */
  reason: string;
}

/** Extra facts a data-plane surface renders (OpenAI `code`/`param`, HTTP status overrides, `Retry-After`). */
export interface ErrorDetails {
  /** Machine code, e.g. `model_not_found`, `invalid_api_key`, `spend_limit_exceeded`. */
  code?: string;
  /** The request parameter at fault, e.g. `model`. */
  param?: string;
  /** HTTP status when it is not the kind's default (e.g. an upstream's 529). */
  status?: number;
  /** OpenAI-style error type when it is not the kind's default (kept from upstream errors). */
  type?: string;
  /** Seconds the client should wait before retrying. */
  retryAfterSeconds?: number;
}

export class SluiceError extends Error {
  readonly kind: ErrorKind;
  readonly violations: readonly FieldViolation[];
  readonly details: ErrorDetails;

  constructor(kind: ErrorKind, message: string, options: { violations?: FieldViolation[]; cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SluiceError';
    this.kind = kind;
    this.violations = options.violations ?? [];
    this.details = options.details ?? {};
  }

  /** An `invalid_argument` error listing every violation; its message names each field. */
  static invalid(violations: FieldViolation[]): SluiceError {
    const message = violations.map((v) => `${v.field}: ${v.description}`).join('; ');
    return new SluiceError('invalid_argument', message, { violations });
  }

  static notFound(what: string, id: string): SluiceError {
    return new SluiceError('not_found', `${what} "${id}" not found`);
  }
}

/** Wraps anything thrown into a SluiceError; unknown errors become `internal` without leaking their text. */
export function toSluiceError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  return new SluiceError('internal', 'internal error', { cause: err });
}

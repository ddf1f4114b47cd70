/**
 * Renders the error taxonomy on the data-plane surfaces: the OpenAI envelope
 * `{"error":{"message","type","code","param"}}` on OpenAI routes and
 * Anthropic's `{"type":"error","error":{"type","message"}}` on `/v1/messages`.
 * https://platform.openai.com/docs/guides/error-codes
 * https://docs.anthropic.com/en/api/errors
 */
import type { ErrorKind, SluiceError } from '../errors.js';
import type { ClientSchema } from '../llm/translator.js';

const STATUS: Record<ErrorKind, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 400,
  resource_exhausted: 429,
  unavailable: 503,
  deadline_exceeded: 504,
  unimplemented: 501,
  internal: 500,
};

const OPENAI_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** Anthropic error types by status. */
const ANTHROPIC_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

/** HTTP status of an error on the data plane. */
export function httpStatusOf(err: SluiceError): number {
  return err.details.status ?? STATUS[err.kind];
}

/** The error body for a surface. */
export function errorBody(surface: ClientSchema, err: SluiceError): Record<string, unknown> {
  const status = httpStatusOf(err);
  if (surface === 'anthropic-messages') {
    return { type: 'error', error: { type: ANTHROPIC_TYPE[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message: err.message } };
  }
  return {
    error: {
      message: err.message,
      type: err.details.type ?? OPENAI_TYPE[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
      code: err.details.code ?? null,
      param: err.details.param ?? null,
    },
  };
}

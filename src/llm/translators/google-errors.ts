/**
 * Google's error envelope (`{"error":{code,message,status,details}}`), shared
 * by the Gemini translators: the HTTP error responses of generateContent and
 * batchEmbedContents, and the error objects a Gemini stream can send as a
 * `data:` event. https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
 */
import type { UpstreamError } from '../translator.js';
import { errorBody, errorTypeForStatus, isObject } from './openai-chat__openai-chat.js';

/** The fields of a Google error object that Sluice reads. https://cloud.google.com/apis/design/errors#http_mapping */
export interface GoogleErrorObject {
  /** The HTTP status. */
  code?: number;
  message?: string;
  /** The canonical code, e.g. `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`. */
  status?: string;
  details?: { '@type'?: string; reason?: string }[];
}

/**
 * A Google error response in neutral form: the type follows the HTTP status,
 * the code is the canonical `status` lowercased (`resource_exhausted`).
 *
 * Quirk: an invalid API key is answered 400 INVALID_ARGUMENT with the ErrorInfo
 * reason `API_KEY_INVALID`; it becomes 401 `authentication_error` /
 * `invalid_api_key`, so clients and credential cool-down see it as the auth
 * failure it is. https://cloud.google.com/apis/design/errors#error_info
 */
export function googleUpstreamError(status: number, body: unknown): UpstreamError {
  const parsed = errorBody(body);
  const error = typeof parsed === 'string' ? undefined : parsed.error;
  if (!isObject(error)) {
    const message = typeof parsed === 'string' ? parsed : JSON.stringify(parsed);
    return { status, message: message || `upstream answered HTTP ${status}`, type: errorTypeForStatus(status) };
  }
  const e = error as GoogleErrorObject;
  const message = typeof e.message === 'string' ? e.message : '';
  if (Array.isArray(e.details) && e.details.some((d) => isObject(d) && d.reason === 'API_KEY_INVALID')) {
    return { status: 401, message, type: errorTypeForStatus(401), code: 'invalid_api_key' };
  }
  return {
    status,
    message,
    type: errorTypeForStatus(status),
    ...(typeof e.status === 'string' && e.status !== '' ? { code: e.status.toLowerCase() } : {}),
  };
}

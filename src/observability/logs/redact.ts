/**
 * Header recording with secrets redacted. A header is redacted when its name
 * is a known credential header or looks like one (contains `key`, `token`,
 * `secret`, `password`, `auth`, `cookie`, `signature` or `credential`); its
 * value becomes `[REDACTED]`, so the log still shows that it was sent.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export const REDACTED = '[REDACTED]';

const SECRET_NAMES = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'set-cookie', 'x-goog-api-key']);
const SECRET_LIKE = /key|token|secret|passw|auth|cookie|signature|credential/i;

/** Whether a header (lowercase name) carries a secret. */
export function isSecretHeader(name: string): boolean {
  return SECRET_NAMES.has(name) || SECRET_LIKE.test(name);
}

/** Headers as a flat lowercase map, repeated values joined with `, `, secrets redacted. */
export function redactHeaders(headers: IncomingHttpHeaders | OutgoingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    out[name] = isSecretHeader(name) ? REDACTED : Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

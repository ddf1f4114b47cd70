/**
 * Round-robin over a provider's credentials, skipping the ones cooled down
 * after a 401/403/429. No I/O.
 */

/** Cooldown after 401/403: the key is revoked or lacks access; it will not fix itself in seconds. */
export const AUTH_COOLDOWN_MS = 5 * 60_000;
/** Cooldown after a 429 without a usable retry hint. */
export const RATE_LIMIT_COOLDOWN_MS = 30_000;
/**
 * Bounds for a 429's retry hint. The cap keeps a bogus or skewed header (a
 * date far ahead, "86400") from benching a key for a day; the floor makes
 * "retry-after: 0" still rotate the next attempt to another key.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;
export const MIN_RETRY_AFTER_MS = 1_000;

/** Provider cursors kept; beyond it the oldest is forgotten (its rotation restarts). */
const MAX_PROVIDERS = 10_000;

/**
 * How long to cool a credential down after an upstream answered `status`,
 * or undefined when the status says nothing about the credential.
 * 401/403 → `AUTH_COOLDOWN_MS`. 429 → the upstream's hint: `retry-after-ms`
 * (OpenAI, Anthropic) when valid, else `retry-after` as seconds or an HTTP
 * date (IMF-fixdate), clamped to [`MIN_RETRY_AFTER_MS`, `MAX_RETRY_AFTER_MS`]; no valid
 * hint → `RATE_LIMIT_COOLDOWN_MS`. `now` is only used for an HTTP date.
 */
export function cooldownFor(
  status: number,
  retryAfter: string | null,
  retryAfterMs: string | null = null,
  now: number = Date.now(),
): number | undefined {
  if (status === 401 || status === 403) return AUTH_COOLDOWN_MS;
  if (status !== 429) return undefined;
  const hint = parseDelay(retryAfterMs, 1) ?? parseDelay(retryAfter, 1_000) ?? parseDate(retryAfter, now);
  if (hint === undefined) return RATE_LIMIT_COOLDOWN_MS;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, hint));
}

function parseDelay(value: string | null, unitMs: number): number | undefined {
  const text = value?.trim();
  if (!text || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text) * unitMs;
}

/** IMF-fixdate, the one HTTP-date form senders may generate (RFC 9110 §5.6.7); `Date.parse` alone accepts "-3" as a year. */
const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

function parseDate(value: string | null, now: number): number | undefined {
  const text = value?.trim();
  if (!text || !HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at - now;
}

/**
 * Which credential to use for a provider's next attempt.
 *
 * Lifetime: one per process, kept across config reloads (keyed by provider
 * and credential ids). `next` moves the provider's cursor; `cooldown`
 * records a deadline. Expired cooldowns are dropped on the next `cooldown`
 * or `snapshot` call, and at most `MAX_PROVIDERS` cursors are kept, so memory stays
 * bounded by the credentials actually cooling.
 */
export class CredentialRotation {
  readonly #now: () => number;
  readonly #cursors = new Map<string, number>();
  /** The provider whose cursor was written last (the Map's newest entry while it is present). */
  #newest: string | undefined;
  /** Credential id → end of its cooldown. */
  readonly #cooling = new Map<string, number>();

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /**
   * The credential for the next attempt to `providerId`: round-robin over
   * `credentials` (in the given order) skipping cooled-down ones. When all
   * are cooled down it returns the one whose cooldown ends first (ties: the
   * rotation order), never refusing to send: the upstream is the judge.
   * Undefined only for an empty list.
   */
  next<C extends { id: string }>(providerId: string, credentials: readonly C[]): C | undefined {
    const count = credentials.length;
    if (count === 0) return undefined;
    const now = this.#now();
    const start = (this.#cursors.get(providerId) ?? 0) % count;
    let pick = start;
    let earliest = Number.POSITIVE_INFINITY;
    for (let step = 0; step < count; step++) {
      const index = (start + step) % count;
      const until = this.#cooling.get(credentials[index]!.id) ?? 0;
      if (until <= now) {
        pick = index;
        break;
      }
      if (until < earliest) {
        earliest = until;
        pick = index;
      }
    }
    if (this.#newest === providerId && this.#cursors.has(providerId)) this.#cursors.set(providerId, (pick + 1) % count);
    else {
      // Re-inserted to keep the Map in least-recently-used order; the newest stays in place (see MemberHealth).
      this.#cursors.delete(providerId);
      this.#cursors.set(providerId, (pick + 1) % count);
      this.#newest = providerId;
    }
    if (this.#cursors.size > MAX_PROVIDERS) {
      const oldest = this.#cursors.keys().next();
      if (!oldest.done) this.#cursors.delete(oldest.value);
    }
    return credentials[pick];
  }

  /**
   * Cools `credentialId` down for `ms` from now (see `cooldownFor`). A
   * cooldown only ever extends: a shorter one arriving later does not cut
   * short a longer one already running. `ms` ≤ 0 changes nothing.
   */
  cooldown(credentialId: string, ms: number): void {
    const now = this.#now();
    this.#sweep(now);
    if (!(ms > 0)) return;
    const until = now + ms;
    if (until > (this.#cooling.get(credentialId) ?? 0)) this.#cooling.set(credentialId, until);
  }

  /** Credentials cooling down now and the ms each has left, for metrics. Drops expired entries. */
  snapshot(): { credentialId: string; remainingMs: number }[] {
    const now = this.#now();
    this.#sweep(now);
    return [...this.#cooling].map(([credentialId, until]) => ({ credentialId, remainingMs: until - now }));
  }

  #sweep(now: number): void {
    for (const [id, until] of this.#cooling) if (until <= now) this.#cooling.delete(id);
  }
}

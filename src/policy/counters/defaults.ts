/** Defaults both stores share. */

/**
 * How long an unsettled reservation keeps counting against its budgets. It must outlast the
 * longest request (streams included): a request still running past it stops holding its worst
 * case, though its settlement is still recorded.
 */
export const DEFAULT_RESERVATION_TTL_MS = 15 * 60_000;

/** How long a reservation's record outlives its TTL, so late or repeated settlements still find it. */
export const RESERVATION_RECORD_GRACE_MS = 60 * 60_000;

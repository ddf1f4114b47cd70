/**
 * Namespaced names of aggregated tools and prompts: `<server>__<name>`.
 *
 * Server names are slugs (`[a-z0-9-]`, no `_`), so the first `__` always ends
 * the server part. LLM APIs accept function names matching
 * `^[A-Za-z0-9_-]{1,64}$`, so the exposed name keeps to that:
 * - `.`, `/`, `:` and spaces in the upstream name become `_`;
 * - a name that still has other characters is skipped (reported, never exposed);
 * - a name that had to change, or is longer than 64 characters, is cut to 55
 *   characters and gets `_` + 8 hex digits of SHA-256 over `server \0 name`,
 *   so it is stable and distinct from the unchanged names.
 * The mapping depends only on (server, upstream name): the same tool keeps the
 * same name across sessions, replicas and restarts.
 */
import { createHash } from 'node:crypto';

/** Between the server and the upstream name. */
export const NAME_SEPARATOR = '__';
/** Longest exposed name (the limit of OpenAI and Anthropic function names). */
export const MAX_NAME_LENGTH = 64;

const HASH_DIGITS = 8;
/** Length of the readable head of a hashed name. */
const HEAD_LENGTH = MAX_NAME_LENGTH - HASH_DIGITS - 1;
const VALID = /^[A-Za-z0-9_-]+$/;
const REPLACED = /[./: ]/g;

/** The exposed name, or why the upstream name cannot be exposed. */
export type ExposedName = { ok: true; name: string } | { ok: false; reason: 'invalid_name' };

/** The exposed name of `upstreamName` on `server`. */
export function exposedName(server: string, upstreamName: string): ExposedName {
  const sanitised = upstreamName.replace(REPLACED, '_');
  if (!VALID.test(sanitised)) return { ok: false, reason: 'invalid_name' };
  const plain = `${server}${NAME_SEPARATOR}${sanitised}`;
  if (sanitised === upstreamName && plain.length <= MAX_NAME_LENGTH) return { ok: true, name: plain };
  const hash = createHash('sha256').update(`${server}\0${upstreamName}`).digest('hex').slice(0, HASH_DIGITS);
  return { ok: true, name: `${plain.slice(0, HEAD_LENGTH)}_${hash}` };
}

/** Whether an exposed name can belong to `server` (a cheap filter before looking the name up). */
export function mayBelongTo(exposed: string, server: string): boolean {
  return exposed.startsWith(`${server}${NAME_SEPARATOR}`.slice(0, HEAD_LENGTH));
}

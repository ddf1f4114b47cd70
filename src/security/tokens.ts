/**
 * High-entropy bearer secrets (admin tokens, workspace tokens, API keys).
 * Only the SHA-256 of a secret is stored: the secrets are random 192-bit
 * values, so a fast hash is enough (no password stretching needed), and the
 * lookup by hash is an indexed equality. The final comparison is constant-time.
 */
import { hash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

/** The secret families, by their public prefix. */
export const SECRET_PREFIX = {
  rootToken: 'sluice-root-',
  workspaceToken: 'sluice-wt-',
  apiKey: 'sk-sluice-',
} as const;

export type SecretKind = keyof typeof SECRET_PREFIX;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** 32 base62 characters ≈ 190 bits of entropy. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // Rejection sampling keeps every character equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** A new secret of the given kind, e.g. `sk-sluice-3fZ…`. */
export function generateSecret(kind: SecretKind): string {
  return SECRET_PREFIX[kind] + randomBase62(32);
}

/** Hex SHA-256 of a secret, as stored. */
export function hashSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/** Constant-time check that `secret` hashes to `storedHash`. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The public part of a secret kept for display: its family prefix plus six characters. */
export function publicPrefix(secret: string): string {
  const family = Object.values(SECRET_PREFIX).find((p) => secret.startsWith(p)) ?? '';
  return secret.slice(0, family.length + 6);
}

/** Rough entropy check for imported secrets: at least 22 base62-ish characters after the prefix. */
export function hasEnoughEntropy(secret: string, kind: SecretKind): boolean {
  const body = secret.slice(SECRET_PREFIX[kind].length);
  return secret.startsWith(SECRET_PREFIX[kind]) && /^[A-Za-z0-9_-]{22,128}$/.test(body) && new Set(body).size >= 10;
}

/**
 * A new resource id: a type prefix, the creation time in milliseconds, a
 * sequence number within the millisecond and 64 random bits, so ordering by
 * id is creation order within a process (keyset pagination relies on it).
 */
export function newId(prefix: string): string {
  const ms = Date.now();
  // A counter within the millisecond keeps ids made in one burst in order.
  sequence = ms === lastMs ? sequence + 1 : 0;
  lastMs = ms;
  const time = ms.toString(16).padStart(12, '0');
  const seq = (sequence & 0xffff).toString(16).padStart(4, '0');
  return `${prefix}_${time}${seq}${randomHex8()}`;
}

/** Random bytes drawn in blocks: one `randomFillSync` per 512 ids instead of a UUID (and its reformatting) per id. */
const entropy = Buffer.alloc(4096);
let entropyOffset = entropy.length;

/** 64 random bits as 16 hex digits. */
function randomHex8(): string {
  if (entropyOffset + 8 > entropy.length) {
    randomFillSync(entropy);
    entropyOffset = 0;
  }
  const hex = entropy.toString('hex', entropyOffset, entropyOffset + 8);
  entropyOffset += 8;
  return hex;
}

let lastMs = 0;
let sequence = 0;

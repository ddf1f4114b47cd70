/**
 * Encryption at rest for provider credentials and MCP secrets: AES-256-GCM
 * with a random 96-bit IV per value. The stored form is
 * `v1.<iv>.<tag>.<ciphertext>` in base64url, so the key can be rotated later
 * by adding a `v2`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SluiceError } from '../errors.js';

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

/** Parses a 32-byte key given as 64 hex characters or base64. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new SluiceError('invalid_argument', 'SLUICE_MASTER_KEY must be 32 bytes, as 64 hex characters or base64');
  }
  return key;
}

/** Creates a box over a 32-byte key. */
export function createSecretBox(key: Buffer): SecretBox {
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
    },
    open(sealed) {
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || body === undefined) {
        throw new SluiceError('internal', 'stored secret has an unknown format');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch (cause) {
        // Wrong master key or tampered data; never echo the ciphertext.
        throw new SluiceError('internal', 'stored secret cannot be decrypted with this master key', { cause });
      }
    },
  };
}

/**
 * Loads the master key from `SLUICE_MASTER_KEY`, else from `file`, else
 * generates one into `file` (mode 0600). Returns where it came from.
 */
export function loadOrCreateMasterKey(envValue: string | undefined, file: string | undefined): { key: Buffer; source: 'env' | 'file' | 'generated' } {
  if (envValue) return { key: parseMasterKey(envValue), source: 'env' };
  if (!file) {
    throw new SluiceError('failed_precondition', 'SLUICE_MASTER_KEY is required when the data directory is not used (PostgreSQL): every replica must share it');
  }
  if (existsSync(file)) return { key: parseMasterKey(readFileSync(file, 'utf8')), source: 'file' };
  const key = randomBytes(32);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, source: 'generated' };
}

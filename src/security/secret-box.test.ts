import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../errors.js';
import { createSecretBox, loadOrCreateMasterKey, parseMasterKey } from './secret-box.js';

describe('secret box (AES-256-GCM)', () => {
  it('round-trips, uses a fresh IV each time, and never contains the plaintext', () => {
    const box = createSecretBox(randomBytes(32));
    const a = box.seal('sk-live-1234567890');
    const b = box.seal('sk-live-1234567890');
    expect(a).not.toBe(b);
    expect(a).not.toContain('1234567890');
    expect(a.startsWith('v1.')).toBe(true);
    expect(box.open(a)).toBe('sk-live-1234567890');
  });

  it('refuses a tampered value or a different key without echoing it', () => {
    const box = createSecretBox(randomBytes(32));
    const sealed = box.seal('top-secret');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    const tampered = [parts[0], parts[1], parts[2], body.toString('base64url')].join('.');
    expect(() => box.open(tampered)).toThrow(SluiceError);
    expect(() => createSecretBox(randomBytes(32)).open(sealed)).toThrow(/cannot be decrypted/);
  });

  it('parses hex and base64 master keys and rejects other lengths', () => {
    const key = randomBytes(32);
    expect(parseMasterKey(key.toString('hex')).equals(key)).toBe(true);
    expect(parseMasterKey(key.toString('base64')).equals(key)).toBe(true);
    expect(() => parseMasterKey('abcd')).toThrow(/32 bytes/);
  });

  it('generates a 0600 key file once and reuses it; requires the env key without a data directory', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-key-')), 'master.key');
    const first = loadOrCreateMasterKey(undefined, file);
    expect(first.source).toBe('generated');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = loadOrCreateMasterKey(undefined, file);
    expect(second.source).toBe('file');
    expect(second.key.equals(first.key)).toBe(true);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.key.toString('hex'));
    expect(() => loadOrCreateMasterKey(undefined, undefined)).toThrow(/SLUICE_MASTER_KEY is required/);
  });
});

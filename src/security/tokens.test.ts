import { describe, expect, it } from 'vitest';
import { generateSecret, hasEnoughEntropy, hashSecret, newId, publicPrefix, secretMatches } from './tokens.js';

describe('secrets and ids', () => {
  it('generates prefixed, unique, high-entropy secrets', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateSecret('apiKey')));
    expect(keys.size).toBe(1000);
    for (const k of keys) expect(k).toMatch(/^sk-sluice-[0-9A-Za-z]{32}$/);
    expect(generateSecret('workspaceToken')).toMatch(/^sluice-wt-/);
  });

  it('stores only a hash and a short prefix, and compares by hash', () => {
    const secret = generateSecret('apiKey');
    const hash = hashSecret(secret);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretMatches(secret, hash)).toBe(true);
    expect(secretMatches(secret + 'x', hash)).toBe(false);
    expect(publicPrefix(secret)).toBe(secret.slice(0, 'sk-sluice-'.length + 6));
  });

  it('judges imported secrets', () => {
    expect(hasEnoughEntropy(generateSecret('apiKey'), 'apiKey')).toBe(true);
    expect(hasEnoughEntropy('sk-sluice-aaaaaaaaaaaaaaaaaaaaaaaaaa', 'apiKey')).toBe(false);
    expect(hasEnoughEntropy('sk-other-3fZk9QpL2mX7vB1nR8tY4wE6', 'apiKey')).toBe(false);
  });

  it('makes time-ordered ids, also within one millisecond', async () => {
    const a = newId('ws');
    await new Promise((r) => setTimeout(r, 2));
    const b = newId('ws');
    expect(a < b).toBe(true);
    expect(a).toMatch(/^ws_[0-9a-f]{32}$/);
    const burst = Array.from({ length: 500 }, () => newId('x'));
    expect([...burst].sort()).toEqual(burst);
  });
});

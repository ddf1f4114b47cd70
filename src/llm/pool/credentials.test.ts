import { describe, expect, it } from 'vitest';
import {
  AUTH_COOLDOWN_MS,
  CredentialRotation,
  MAX_RETRY_AFTER_MS,
  MIN_RETRY_AFTER_MS,
  RATE_LIMIT_COOLDOWN_MS,
  cooldownFor,
} from './credentials.js';

const creds = [{ id: 'k1' }, { id: 'k2' }, { id: 'k3' }];

function setup() {
  const clock = { t: Date.parse('2026-01-01T00:00:00Z') };
  return { clock, rotation: new CredentialRotation({ now: () => clock.t }) };
}

function picks(rotation: CredentialRotation, n: number, provider = 'p'): (string | undefined)[] {
  return Array.from({ length: n }, () => rotation.next(provider, creds)?.id);
}

describe('CredentialRotation', () => {
  it('rotates round-robin per provider', () => {
    const { rotation } = setup();
    expect(picks(rotation, 4)).toEqual(['k1', 'k2', 'k3', 'k1']);
    expect(picks(rotation, 1, 'q')).toEqual(['k1']);
    expect(picks(rotation, 1)).toEqual(['k2']);
  });

  it('returns the only credential every time, and undefined for none', () => {
    const { rotation } = setup();
    expect(rotation.next('p', [{ id: 'only' }])?.id).toBe('only');
    expect(rotation.next('p', [{ id: 'only' }])?.id).toBe('only');
    expect(rotation.next('p', [])).toBeUndefined();
  });

  it('returns the caller’s own objects', () => {
    const { rotation } = setup();
    const list = [{ id: 'k1', secret: 's1' }];
    expect(rotation.next('p', list)).toBe(list[0]);
  });

  it('skips a cooled-down credential and keeps the rotation even over the rest', () => {
    const { rotation } = setup();
    rotation.cooldown('k2', AUTH_COOLDOWN_MS);
    expect(picks(rotation, 4)).toEqual(['k1', 'k3', 'k1', 'k3']);
  });

  it('uses a credential again once its cooldown ends', () => {
    const { rotation, clock } = setup();
    rotation.cooldown('k1', 30_000);
    rotation.cooldown('k3', 30_000);
    expect(picks(rotation, 2)).toEqual(['k2', 'k2']);
    clock.t += 30_000;
    expect(picks(rotation, 3)).toEqual(['k3', 'k1', 'k2']);
  });

  it('never refuses: all cooled down → the one whose cooldown ends first', () => {
    const { rotation, clock } = setup();
    rotation.cooldown('k1', 60_000);
    rotation.cooldown('k2', 10_000);
    rotation.cooldown('k3', 30_000);
    expect(picks(rotation, 2)).toEqual(['k2', 'k2']);
    clock.t += 10_000;
    expect(picks(rotation, 1)).toEqual(['k2']);
  });

  it('breaks ties between equally cooled credentials in rotation order', () => {
    const { rotation } = setup();
    for (const c of creds) rotation.cooldown(c.id, 1_000);
    expect(picks(rotation, 3)).toEqual(['k1', 'k2', 'k3']);
  });

  it('only ever extends a cooldown', () => {
    const { rotation } = setup();
    rotation.cooldown('k1', AUTH_COOLDOWN_MS);
    rotation.cooldown('k1', 1_000);
    expect(rotation.snapshot()).toEqual([{ credentialId: 'k1', remainingMs: AUTH_COOLDOWN_MS }]);
    rotation.cooldown('k1', AUTH_COOLDOWN_MS * 2);
    expect(rotation.snapshot()).toEqual([{ credentialId: 'k1', remainingMs: AUTH_COOLDOWN_MS * 2 }]);
  });

  it('ignores a non-positive cooldown', () => {
    const { rotation } = setup();
    rotation.cooldown('k1', 0);
    rotation.cooldown('k2', -5);
    rotation.cooldown('k3', Number.NaN);
    expect(rotation.snapshot()).toEqual([]);
  });

  it('forgets expired cooldowns', () => {
    const { rotation, clock } = setup();
    for (let i = 0; i < 1_000; i++) rotation.cooldown(`old${i}`, 1_000);
    clock.t += 1_000;
    rotation.cooldown('k1', 5_000);
    expect(rotation.snapshot()).toEqual([{ credentialId: 'k1', remainingMs: 5_000 }]);
    clock.t += 5_000;
    expect(rotation.snapshot()).toEqual([]);
  });

  it('cools a credential down after 401 and after 429 with retry-after, end to end', () => {
    const { rotation, clock } = setup();
    rotation.cooldown('k1', cooldownFor(401, null) ?? 0);
    rotation.cooldown('k2', cooldownFor(429, '2') ?? 0);
    expect(picks(rotation, 2)).toEqual(['k3', 'k3']);
    clock.t += 2_000;
    expect(picks(rotation, 2)).toEqual(['k2', 'k3']);
  });
});

describe('cooldownFor', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('cools down long on 401 and 403, whatever the headers say', () => {
    expect(cooldownFor(401, null)).toBe(AUTH_COOLDOWN_MS);
    expect(cooldownFor(403, '1', '5')).toBe(AUTH_COOLDOWN_MS);
    expect(AUTH_COOLDOWN_MS).toBe(300_000);
  });

  it('does not cool down on other statuses', () => {
    for (const status of [200, 400, 402, 404, 408, 500, 503, 529]) expect(cooldownFor(status, '10')).toBeUndefined();
  });

  it('uses 30 s for a 429 without a usable hint', () => {
    expect(cooldownFor(429, null)).toBe(RATE_LIMIT_COOLDOWN_MS);
    expect(RATE_LIMIT_COOLDOWN_MS).toBe(30_000);
    for (const junk of ['', '  ', 'soon', '-3', '1e3', '0x10', '2026-01-01T00:01:00Z']) expect(cooldownFor(429, junk, null, now)).toBe(30_000);
  });

  it('reads retry-after as seconds', () => {
    expect(cooldownFor(429, '20')).toBe(20_000);
    expect(cooldownFor(429, ' 7 ')).toBe(7_000);
    expect(cooldownFor(429, '1.5')).toBe(1_500);
  });

  it('reads retry-after as an HTTP date', () => {
    expect(cooldownFor(429, 'Thu, 01 Jan 2026 00:00:45 GMT', null, now)).toBe(45_000);
    expect(cooldownFor(429, 'Wed, 31 Dec 2025 23:59:00 GMT', null, now)).toBe(MIN_RETRY_AFTER_MS);
  });

  it('prefers retry-after-ms', () => {
    expect(cooldownFor(429, '20', '2500')).toBe(2_500);
    expect(cooldownFor(429, null, '12000')).toBe(12_000);
    expect(cooldownFor(429, '20', 'bogus')).toBe(20_000);
  });

  it('clamps the hint to [1 s, 5 min]', () => {
    expect(MIN_RETRY_AFTER_MS).toBe(1_000);
    expect(MAX_RETRY_AFTER_MS).toBe(300_000);
    expect(cooldownFor(429, '0')).toBe(1_000);
    expect(cooldownFor(429, null, '200')).toBe(1_000);
    expect(cooldownFor(429, '86400')).toBe(300_000);
    expect(cooldownFor(429, 'Fri, 02 Jan 2026 00:00:00 GMT', null, now)).toBe(300_000);
  });
});

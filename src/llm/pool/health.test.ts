import { describe, expect, it } from 'vitest';
import { MemberHealth, type MemberHealthOptions } from './health.js';

function setup(options: MemberHealthOptions = {}) {
  const clock = { t: 1_000_000 };
  const health = new MemberHealth({ now: () => clock.t, ...options });
  return { health, clock };
}

function fail(health: MemberHealth, key: string, times: number): void {
  for (let i = 0; i < times; i++) health.recordFailure(key, 'server_error');
}

describe('MemberHealth circuit', () => {
  it('treats an unknown member as closed and available', () => {
    const { health } = setup();
    expect(health.state('a')).toBe('closed');
    expect(health.isAvailable('a')).toBe(true);
    expect(health.snapshot()).toEqual([]);
  });

  it('opens after failureThreshold consecutive failures, not before', () => {
    const { health } = setup({ failureThreshold: 3 });
    fail(health, 'a', 2);
    expect(health.state('a')).toBe('closed');
    expect(health.isAvailable('a')).toBe(true);
    fail(health, 'a', 1);
    expect(health.state('a')).toBe('open');
    expect(health.isAvailable('a')).toBe(false);
  });

  it('counts failures only in a row: a success resets the streak', () => {
    const { health } = setup({ failureThreshold: 3 });
    fail(health, 'a', 2);
    health.recordSuccess('a', 100);
    fail(health, 'a', 2);
    expect(health.state('a')).toBe('closed');
  });

  it('defaults to 5 failures and 30 s open', () => {
    const { health, clock } = setup();
    fail(health, 'a', 4);
    expect(health.state('a')).toBe('closed');
    fail(health, 'a', 1);
    expect(health.state('a')).toBe('open');
    clock.t += 29_999;
    expect(health.state('a')).toBe('open');
    clock.t += 1;
    expect(health.state('a')).toBe('half_open');
  });

  it('gives exactly one half-open probe until it reports back', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    fail(health, 'a', 1);
    clock.t += 1_000;
    expect(health.state('a')).toBe('half_open');
    const answers = Array.from({ length: 5 }, () => health.isAvailable('a'));
    expect(answers).toEqual([true, false, false, false, false]);
    expect(health.state('a')).toBe('half_open');
  });

  it('closes when the probe succeeds', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    fail(health, 'a', 1);
    clock.t += 1_000;
    expect(health.isAvailable('a')).toBe(true);
    health.recordSuccess('a', 50);
    expect(health.state('a')).toBe('closed');
    expect(health.isAvailable('a')).toBe(true);
    expect(health.isAvailable('a')).toBe(true);
  });

  it('re-opens on a failed probe, doubling the open time up to maxOpenMs, and resets the backoff on recovery', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000, maxOpenMs: 5_000 });
    fail(health, 'a', 1);
    const periods: number[] = [];
    for (let round = 0; round < 5; round++) {
      const openedAt = clock.t;
      while (health.state('a') === 'open') clock.t += 100;
      periods.push(clock.t - openedAt);
      expect(health.isAvailable('a')).toBe(true);
      fail(health, 'a', 1);
      expect(health.state('a')).toBe('open');
    }
    expect(periods).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(health.snapshot()[0]?.reopens).toBe(5);

    clock.t += 5_000;
    expect(health.isAvailable('a')).toBe(true);
    health.recordSuccess('a', 10);
    fail(health, 'a', 1);
    expect(health.snapshot()[0]).toMatchObject({ state: 'open', reopens: 0, openUntil: clock.t + 1_000 });
  });

  it('caps the backoff at 5 minutes by default', () => {
    const { health, clock } = setup({ failureThreshold: 1 });
    fail(health, 'a', 1);
    for (let round = 0; round < 6; round++) {
      clock.t += 300_000;
      expect(health.isAvailable('a')).toBe(true);
      fail(health, 'a', 1);
    }
    expect(health.snapshot()[0]?.openUntil).toBe(clock.t + 300_000);
  });

  it('ignores failures reported while open (late or fail-static attempts)', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    fail(health, 'a', 1);
    const until = health.snapshot()[0]?.openUntil;
    clock.t += 500;
    fail(health, 'a', 3);
    expect(health.snapshot()[0]).toMatchObject({ openUntil: until, reopens: 0 });
  });

  it('closes on any success, even while open (a fail-static attempt that worked)', () => {
    const { health } = setup({ failureThreshold: 1 });
    fail(health, 'a', 1);
    health.recordSuccess('a', 10);
    expect(health.state('a')).toBe('closed');
  });

  it('release frees the probe without a verdict', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    fail(health, 'a', 1);
    clock.t += 1_000;
    expect(health.isAvailable('a')).toBe(true);
    health.release('a');
    expect(health.state('a')).toBe('half_open');
    expect(health.isAvailable('a')).toBe(true);
    expect(health.isAvailable('a')).toBe(false);
  });

  it('hands out another probe when the first is lost past its lease', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000, probeLeaseMs: 10_000 });
    fail(health, 'a', 1);
    clock.t += 1_000;
    expect(health.isAvailable('a')).toBe(true);
    clock.t += 9_999;
    expect(health.isAvailable('a')).toBe(false);
    clock.t += 1;
    expect(health.isAvailable('a')).toBe(true);
  });

  it('does not stay open when the wall clock steps backwards', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 30_000 });
    fail(health, 'a', 1);
    clock.t -= 60_000;
    expect(health.state('a')).toBe('half_open');
  });

  it('keeps members apart', () => {
    const { health } = setup({ failureThreshold: 1 });
    fail(health, 'a', 1);
    expect(health.state('a')).toBe('open');
    expect(health.state('b')).toBe('closed');
  });
});

describe('MemberHealth rate limits', () => {
  it('does not open on a few 429s, only after rateLimitThreshold in a row', () => {
    const { health } = setup({ failureThreshold: 2, rateLimitThreshold: 4 });
    for (let i = 0; i < 3; i++) health.recordFailure('a', 'rate_limited');
    expect(health.state('a')).toBe('closed');
    health.recordFailure('a', 'rate_limited');
    expect(health.state('a')).toBe('open');
  });

  it('defaults to 10 429s in a row', () => {
    const { health } = setup();
    for (let i = 0; i < 9; i++) health.recordFailure('a', 'rate_limited');
    expect(health.state('a')).toBe('closed');
    health.recordFailure('a', 'rate_limited');
    expect(health.state('a')).toBe('open');
  });

  it('resets the 429 streak on a success', () => {
    const { health } = setup({ rateLimitThreshold: 3 });
    health.recordFailure('a', 'rate_limited');
    health.recordFailure('a', 'rate_limited');
    health.recordSuccess('a', 10);
    health.recordFailure('a', 'rate_limited');
    health.recordFailure('a', 'rate_limited');
    expect(health.state('a')).toBe('closed');
  });

  it('counts a failure without a trigger as a plain failure', () => {
    const { health } = setup({ failureThreshold: 1 });
    health.recordFailure('a');
    expect(health.state('a')).toBe('open');
  });

  it('re-opens when a half-open probe is rate limited', () => {
    const { health, clock } = setup({ failureThreshold: 1, openMs: 1_000 });
    fail(health, 'a', 1);
    clock.t += 1_000;
    expect(health.isAvailable('a')).toBe(true);
    health.recordFailure('a', 'rate_limited');
    expect(health.snapshot()[0]).toMatchObject({ state: 'open', reopens: 1, openUntil: clock.t + 2_000 });
  });
});

describe('MemberHealth latency', () => {
  it('is unknown until the first success, then an EWMA', () => {
    const { health } = setup({ latencyAlpha: 0.5 });
    expect(health.latencyMs('a')).toBeUndefined();
    health.recordFailure('a', 'timeout');
    expect(health.latencyMs('a')).toBeUndefined();
    health.recordSuccess('a', 100);
    expect(health.latencyMs('a')).toBe(100);
    health.recordSuccess('a', 200);
    expect(health.latencyMs('a')).toBe(150);
    health.recordSuccess('a', 50);
    expect(health.latencyMs('a')).toBe(100);
  });

  it('uses alpha 0.2 by default', () => {
    const { health } = setup();
    health.recordSuccess('a', 100);
    health.recordSuccess('a', 200);
    expect(health.latencyMs('a')).toBeCloseTo(120, 10);
  });

  it('ignores unusable samples but still closes', () => {
    const { health } = setup({ failureThreshold: 1 });
    health.recordSuccess('a', 100);
    health.recordFailure('a');
    health.recordSuccess('a', Number.NaN);
    health.recordSuccess('a', -5);
    expect(health.latencyMs('a')).toBe(100);
    expect(health.state('a')).toBe('closed');
  });
});

describe('MemberHealth memory', () => {
  it('forgets keys not written for idleMs, and reads do not keep them alive', () => {
    const { health, clock } = setup({ failureThreshold: 1, idleMs: 60_000 });
    health.recordSuccess('a', 100);
    fail(health, 'b', 1);
    clock.t += 30_000;
    health.recordSuccess('c', 10);
    clock.t += 29_999;
    expect(health.latencyMs('a')).toBe(100);
    clock.t += 1;
    expect(health.latencyMs('a')).toBeUndefined();
    expect(health.state('b')).toBe('closed');
    expect(health.snapshot().map((s) => s.key)).toEqual(['c']);
  });

  it('keeps a key alive while it is written', () => {
    const { health, clock } = setup({ idleMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      health.recordSuccess('a', 100);
      clock.t += 59_000;
    }
    expect(health.latencyMs('a')).toBe(100);
  });

  it('caps the number of keys, forgetting the least recently written', () => {
    const { health } = setup({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) health.recordSuccess(key, 1);
    health.recordSuccess('a', 1);
    health.recordSuccess('d', 1);
    expect(health.snapshot().map((s) => s.key)).toEqual(['c', 'a', 'd']);
    for (let i = 0; i < 1_000; i++) health.recordFailure(`k${i}`);
    expect(health.snapshot()).toHaveLength(3);
  });

  it('snapshot reports every field and is a copy', () => {
    const { health, clock } = setup({ failureThreshold: 2, openMs: 1_000 });
    health.recordSuccess('a', 80);
    health.recordFailure('a', 'server_error');
    health.recordFailure('a', 'rate_limited');
    const snap = health.snapshot();
    expect(snap).toEqual([
      { key: 'a', state: 'closed', consecutiveFailures: 1, consecutiveRateLimits: 1, latencyMs: 80, openUntil: undefined, reopens: 0 },
    ]);
    health.recordFailure('a', 'server_error');
    expect(snap[0]?.state).toBe('closed');
    expect(health.snapshot()[0]).toMatchObject({ state: 'open', openUntil: clock.t + 1_000 });
  });
});

import { describe, expect, it } from 'vitest';
import { countsAgainstHealth, fallbackTrigger, shouldFallBack, type AttemptOutcome } from './triggers.js';
import type { FallbackTrigger, Pool } from './types.js';

function pool(fallbackOn: FallbackTrigger[]): Pool {
  return { id: 'r#0', strategy: 'priority', members: [], fallbackOn, attemptTimeoutMs: 0 };
}

describe('fallbackTrigger', () => {
  const table: [AttemptOutcome, FallbackTrigger | undefined][] = [
    [{ status: 200 }, undefined],
    [{ status: 201 }, undefined],
    [{ status: 400 }, undefined],
    [{ status: 401 }, undefined],
    [{ status: 403 }, undefined],
    [{ status: 404 }, undefined],
    [{ status: 408 }, undefined],
    [{ status: 413 }, undefined],
    [{ status: 422 }, undefined],
    [{ status: 429 }, 'rate_limited'],
    [{ status: 500 }, 'server_error'],
    [{ status: 502 }, 'server_error'],
    [{ status: 503 }, 'server_error'],
    [{ status: 504 }, 'server_error'],
    [{ status: 529 }, 'server_error'],
    [{ status: 600 }, undefined],
    [{ timedOut: true }, 'timeout'],
    [{ connectionError: true }, 'connection_error'],
    [{ status: 200, timedOut: true }, 'timeout'],
    [{ status: 500, connectionError: true }, 'connection_error'],
    [{ timedOut: true, connectionError: true }, 'timeout'],
    [{}, undefined],
  ];
  it.each(table)('%o → %s', (outcome, expected) => {
    expect(fallbackTrigger(outcome)).toBe(expected);
  });
});

describe('shouldFallBack', () => {
  const all: FallbackTrigger[] = ['rate_limited', 'server_error', 'timeout', 'connection_error'];

  it('falls back on every trigger when fallbackOn is empty', () => {
    for (const trigger of all) expect(shouldFallBack(pool([]), trigger)).toBe(true);
  });

  it('falls back only on the listed triggers', () => {
    const p = pool(['server_error', 'timeout']);
    expect(all.filter((t) => shouldFallBack(p, t))).toEqual(['server_error', 'timeout']);
  });

  it('never falls back without a trigger (success or client error)', () => {
    expect(shouldFallBack(pool([]), undefined)).toBe(false);
    expect(shouldFallBack(pool(all), fallbackTrigger({ status: 400 }))).toBe(false);
  });
});

describe('countsAgainstHealth', () => {
  it('counts every trigger, whatever the pool falls back on, and nothing else', () => {
    for (const trigger of ['rate_limited', 'server_error', 'timeout', 'connection_error'] as const) {
      expect(countsAgainstHealth(trigger)).toBe(true);
    }
    expect(countsAgainstHealth(undefined)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../errors.js';
import { CounterStoreUnavailable, decideOnStoreError } from './errors.js';

describe('decideOnStoreError', () => {
  const outage = new CounterStoreUnavailable({ cause: new Error('connect ECONNREFUSED 127.0.0.1:6379') });

  it('admits on fail_open and rejects on fail_closed, handing back the error to log', () => {
    expect(decideOnStoreError('fail_open', outage)).toEqual({ admit: true, error: outage });
    expect(decideOnStoreError('fail_closed', outage)).toEqual({ admit: false, error: outage });
  });

  it('rethrows anything that is not an outage', () => {
    const bug = new RangeError('burst must be an integer');
    expect(() => decideOnStoreError('fail_open', bug)).toThrow(bug);
  });

  it('is an `unavailable` SluiceError whose message hides the cause', () => {
    expect(outage).toBeInstanceOf(SluiceError);
    expect(outage).toMatchObject({ kind: 'unavailable', details: { code: 'counter_store_unavailable' } });
    expect(outage.message).not.toContain('ECONNREFUSED');
    expect(outage.cause).toBeInstanceOf(Error);
  });
});

/**
 * Pools over real HTTP: fallback on 429, 5xx, per-attempt timeout and
 * connection errors to the next member and then the fallback pools; no
 * fallback on client errors or on triggers the pool excludes; streams fall
 * back only before their first byte; a failing member's circuit opens;
 * several credentials rotate and a refused one is cooled down.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { FallbackTrigger, PoolStrategy } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { freePort } from '../helpers/cli.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

describe('pools and fallback', () => {
  let s: RunningSluice;
  let a: FakeUpstream;
  let b: FakeUpstream;
  let w: BuiltWorkspace;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
    a = await startFakeUpstream('openai');
    b = await startFakeUpstream('openai');
    const dead = `http://127.0.0.1:${await freePort()}/v1`;
    w = await buildWorkspace(s, {
      workspace: 'pools',
      providers: [
        { name: 'a', type: ProviderType.OPENAI, baseUrl: a.url, models: ['gpt-4o'], keys: ['key-a-one-000000', 'key-a-two-000000'] },
        { name: 'b', type: ProviderType.OPENAI, baseUrl: b.url, models: ['gpt-4o', 'gpt-4o-mini'] },
        { name: 'dead', type: ProviderType.OPENAI, baseUrl: dead, models: ['gpt-4o'] },
      ],
      gateway: {
        routes: [
          { name: 'only-429', condition: 'request.model == "only-429"', pool: { members: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o' }], fallbackOn: [FallbackTrigger.RATE_LIMITED] } },
          { name: 'timeout', condition: 'request.model == "timeout"', pool: { members: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o' }], attemptTimeoutMs: 300 } },
          { name: 'dead-first', condition: 'request.model == "dead-first"', pool: { members: [{ provider: 'dead', model: 'gpt-4o' }] }, fallbacks: [{ members: [{ provider: 'b', model: 'gpt-4o' }] }] },
          { name: 'rr', condition: 'request.model == "rr"', pool: { strategy: PoolStrategy.ROUND_ROBIN, members: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o' }] } },
          { name: 'cheap', condition: 'request.model == "cheap"', pool: { strategy: PoolStrategy.LOWEST_COST, members: [{ provider: 'a', model: 'gpt-4o' }, { provider: 'b', model: 'gpt-4o-mini' }] } },
          { name: 'default', pool: { members: [{ provider: 'a', model: 'gpt-4o' }] }, fallbacks: [{ members: [{ provider: 'b', model: 'gpt-4o' }] }] },
        ],
      },
    });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s?.close();
  });
  beforeEach(() => {
    a.reset();
    b.reset();
  });

  const client = () => new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0 });
  const ask = (model: string) => client().chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }] }).withResponse();

  it.each([
    [429, 'rate_limited'],
    [500, 'server_error'],
    [503, 'server_error'],
  ])('falls back to the fallback pool on %i', async (status, reason) => {
    a.enqueue({ status, retryAfter: 1 });
    const { response } = await ask('openai/gpt-4o');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sluice-provider')).toBe('b');
    expect(response.headers.get('x-sluice-fallback')).toBe(`${reason} (a/gpt-4o)`);
    expect(response.headers.get('x-sluice-route')).toBe('default');
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
  });

  it('does not fall back on a client error: the upstream message reaches the client', async () => {
    a.enqueue({ status: 400, errorBody: { error: { message: 'bad thing', type: 'invalid_request_error', param: 'messages', code: 'bad_thing' } } });
    const err = await ask('openai/gpt-4o').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'bad_thing', param: 'messages' });
    expect((err as Error).message).toContain('bad thing');
    expect(b.requests).toHaveLength(0);
  });

  it('honours the pool fallback triggers: only 429 here, so a 500 is returned', async () => {
    a.enqueue({ status: 500 });
    const err = await ask('only-429').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 500 });
    expect(b.requests).toHaveLength(0);
    a.enqueue({ status: 429, retryAfter: 1 });
    const { response } = await ask('only-429');
    expect(response.headers.get('x-sluice-provider')).toBe('b');
  });

  it('falls back after the per-attempt timeout', async () => {
    a.enqueue({ delayMs: 2000 });
    const started = Date.now();
    const { response } = await ask('timeout');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(response.headers.get('x-sluice-provider')).toBe('b');
    expect(response.headers.get('x-sluice-fallback')).toBe('timeout (a/gpt-4o)');
  });

  it('falls back on a connection error to the fallback pool', async () => {
    const { response } = await ask('dead-first');
    expect(response.headers.get('x-sluice-provider')).toBe('b');
    expect(response.headers.get('x-sluice-fallback')).toBe('connection_error (dead/gpt-4o)');
  });

  it('rotates round-robin between members', async () => {
    for (let i = 0; i < 4; i++) await ask('rr');
    expect(a.requests).toHaveLength(2);
    expect(b.requests).toHaveLength(2);
  });

  it('picks the cheapest member by catalogue price with lowest_cost', async () => {
    const { response } = await ask('cheap');
    expect(response.headers.get('x-sluice-model')).toBe('b/gpt-4o-mini');
    expect(a.requests).toHaveLength(0);
  });

  it('falls back a stream before its first byte, never after', async () => {
    a.enqueue({ status: 503 });
    const stream = await client().chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hello' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    expect(b.requests).toHaveLength(1);

    b.reset();
    a.enqueue({ cutAfter: 2 });
    const cut = await client().chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hello there friend' }], stream: true });
    const failure = await (async () => {
      for await (const _chunk of cut) {
        // consume
      }
    })().catch((e: unknown) => e);
    expect(failure).toBeDefined();
    expect(b.requests).toHaveLength(0);
  });

  it('rotates credentials and cools down one the upstream refuses', async () => {
    // Earlier 429s cooled a key down for their one-second retry-after.
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 4; i++) await ask('openai/gpt-4o');
    const keys = a.requests.map((r) => r.headers.authorization);
    expect(new Set(keys)).toEqual(new Set(['Bearer key-a-one-000000', 'Bearer key-a-two-000000']));
    a.reset();
    // The next request uses one key; refuse it, and every later request must use the other.
    a.enqueue({ status: 401 });
    await ask('openai/gpt-4o').catch(() => undefined);
    const refused = a.requests[0]!.headers.authorization;
    a.reset();
    for (let i = 0; i < 4; i++) await ask('openai/gpt-4o');
    expect(a.requests.map((r) => r.headers.authorization).filter((k) => k === refused)).toEqual([]);
  });

  it('opens the circuit of a member that keeps failing and skips it', async () => {
    for (let i = 0; i < 6; i++) a.enqueue({ status: 500 });
    for (let i = 0; i < 6; i++) await ask('openai/gpt-4o');
    const tried = a.requests.length;
    expect(tried).toBeLessThan(6);
    for (let i = 0; i < 3; i++) {
      const { response } = await ask('openai/gpt-4o');
      expect(response.headers.get('x-sluice-provider')).toBe('b');
    }
    expect(a.requests.length).toBe(tried);
  });
});

/**
 * Rate limits and spend limits over HTTP, against fake upstreams that count
 * their calls, on the in-memory counter store and on the local Redis (which
 * must be reachable: the Redis suite fails otherwise). A rejected request
 * never reaches the provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderType } from '@sluice/client/gen/provider';
import { RateLimitUnit, RateLimitWindow, SpendEnforcement, SpendPeriod, StoreFailureMode } from '@sluice/client/gen/gateway';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { RedisCounterStore } from '../../src/policy/counters/redis-store.js';
import { periodFor } from '../../src/policy/counters/periods.js';

const REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

type Scope = { kind: { case: 'gateway' | 'key' | 'workspace'; value: true } | { case: 'expr'; value: string } };
const gatewayScope: Scope = { kind: { case: 'gateway', value: true } };
const keyScope: Scope = { kind: { case: 'key', value: true } };
const exprScope = (expr: string): Scope => ({ kind: { case: 'expr', value: expr } });

/** A user message long enough that `max_tokens` always cuts the fake's echo: completion tokens = max_tokens. */
const LONG = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each([
  { store: 'memory', overrides: {} },
  { store: 'redis', overrides: { redisUrl: REDIS_URL } },
])('limits on the $store counter store', ({ store, overrides }) => {
  let s: RunningSluice;
  let fake: FakeUpstream;
  let n = 0;
  beforeAll(async () => {
    s = await startTestServer('sqlite', overrides);
    if (store === 'redis') {
      expect(s.sluice.counters).toBeInstanceOf(RedisCounterStore);
      await (s.sluice.counters as RedisCounterStore).whenReady(2000);
    }
    fake = await startFakeUpstream('openai');
  });
  afterAll(async () => {
    await fake?.close();
    await s?.close();
  });

  /** A fresh workspace (so counters never mix between tests), with a priced gpt-4o: output $1/Mtok, nothing else. */
  async function workspace(): Promise<BuiltWorkspace> {
    n += 1;
    const w = await buildWorkspace(s, { workspace: `lim-${store}-${n}`, providers: [{ name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url, models: [] }] });
    const provider = (await w.client.providers.listProviders({ workspaceId: w.workspaceId })).providers[0]!;
    await w.client.providers.createModel({
      providerId: provider.id,
      model: { name: 'gpt-4o', price: { inputPerMtokMicros: 0n, outputPerMtokMicros: 1_000_000n, cachedInputPerMtokMicros: 0n, cacheWritePerMtokMicros: 0n } },
    });
    await s.sluice.snapshots.refresh();
    fake.reset();
    return w;
  }

  const rateLimit = async (w: BuiltWorkspace, name: string, unit: RateLimitUnit, limit: bigint, scope: Scope, onStoreFailure = StoreFailureMode.FAIL_OPEN) => {
    await w.client.gateways.createRateLimit({ gatewayId: w.gatewayId, rateLimit: { name, unit, limit, window: RateLimitWindow.MINUTE, scope, onStoreFailure } });
    await s.sluice.snapshots.refresh();
  };
  const budget = async (w: BuiltWorkspace, name: string, amountMicros: bigint, warnAt = 0) => {
    const created = await w.client.gateways.createSpendLimit({
      workspaceId: w.workspaceId,
      spendLimit: { gatewayId: w.gatewayId, name, amountMicros, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, warnAt, scope: gatewayScope },
    });
    await s.sluice.snapshots.refresh();
    return created.spendLimit!;
  };

  const chat = (w: BuiltWorkspace, body: Record<string, unknown> = {}, headers: Record<string, string> = {}, apiKey = w.apiKey) =>
    fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...headers },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...body }),
    });
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it('rejects the 4th request of a 3/minute limit with 429, Retry-After and x-ratelimit headers; the provider is called 3 times', async () => {
    const w = await workspace();
    await rateLimit(w, 'rpm', RateLimitUnit.REQUESTS, 3n, gatewayScope);
    for (const remaining of ['2', '1', '0']) {
      const res = await chat(w);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(res.headers.get('x-ratelimit-remaining-requests')).toBe(remaining);
      expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+m)?\d+(\.\d+)?s$/);
      await res.text();
    }
    const rejected = await chat(w);
    expect(rejected.status).toBe(429);
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(rejected.headers.get('retry-after'))).toBeLessThanOrEqual(120);
    expect(rejected.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(rejected.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(rejected.headers.get('x-ratelimit-reset-requests')).toBeTruthy();
    expect(await errorCode(rejected)).toBe('rate_limit_exceeded');
    expect(fake.requests).toHaveLength(3);
  });

  it('keeps one counter per API key with a key scope', async () => {
    const w = await workspace();
    await rateLimit(w, 'per-key', RateLimitUnit.REQUESTS, 1n, keyScope);
    const other = (await w.client.apiKeys.createApiKey({ workspaceId: w.workspaceId, apiKey: { name: 'other', gateways: [w.gateway], defaultGateway: w.gateway } })).secret;
    await s.sluice.snapshots.refresh();
    expect((await chat(w)).status).toBe(200);
    expect((await chat(w)).status).toBe(429);
    expect((await chat(w, {}, {}, other)).status).toBe(200);
    expect((await chat(w, {}, {}, other)).status).toBe(429);
    expect(fake.requests).toHaveLength(2);
  });

  it('keeps one counter per value of a CEL key expression; a request it cannot evaluate is not limited', async () => {
    const w = await workspace();
    await rateLimit(w, 'per-user', RateLimitUnit.REQUESTS, 1n, exprScope('request.headers["x-user-id"]'));
    expect((await chat(w, {}, { 'x-user-id': 'alice' })).status).toBe(200);
    expect((await chat(w, {}, { 'x-user-id': 'alice' })).status).toBe(429);
    expect((await chat(w, {}, { 'x-user-id': 'bob' })).status).toBe(200);
    // No header: the expression fails at run time, so the limit does not apply.
    expect((await chat(w)).status).toBe(200);
    const unlimited = await chat(w);
    expect(unlimited.status).toBe(200);
    expect(unlimited.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect(fake.requests).toHaveLength(4);
  });

  it('reserves max_tokens on a token limit, rejects what does not fit, and refunds unused tokens at settlement', async () => {
    const w = await workspace();
    await rateLimit(w, 'tpm', RateLimitUnit.TOKENS, 1000n, gatewayScope);
    const tooLarge = await chat(w, { max_tokens: 5000 });
    expect(tooLarge.status).toBe(429);
    expect(tooLarge.headers.get('retry-after')).toBeNull();
    expect(await errorCode(tooLarge)).toBe('rate_limit_exceeded');

    fake.enqueue({ delayMs: 800 });
    const slow = chat(w, { max_tokens: 700 });
    await until(async () => fake.requests.length === 1);
    const over = await chat(w, { max_tokens: 700 });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(700);
    expect(over.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(fake.requests).toHaveLength(1);
    const first = await slow;
    expect(first.status).toBe(200);
    await first.text();
    // Settlement replaces the 700-token reservation with the few tokens really used.
    await until(async () => {
      const res = await chat(w, { max_tokens: 700 });
      await res.text();
      return res.status === 200;
    });
    expect(fake.requests).toHaveLength(2);
  });

  it('admits at most what a budget allows among 200 concurrent requests, and the settled spend never exceeds it', async () => {
    const w = await workspace();
    // Worst case per request: 10 output tokens at $1/Mtok = 10 µ$ = 10,000 nanos; the budget is 10 of them.
    const b = await budget(w, 'daily-cap', 100n);
    const body = { max_tokens: 10, messages: [{ role: 'user', content: LONG }] };
    const answers = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const res = await chat(w, body);
        return { status: res.status, code: res.status === 200 ? (await res.text(), undefined) : await errorCode(res) };
      }),
    );
    const served = answers.filter((a) => a.status === 200);
    expect(served.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThanOrEqual(10);
    expect(answers.filter((a) => a.status !== 200).every((a) => a.status === 429 && a.code === 'spend_limit_exceeded')).toBe(true);
    expect(fake.requests).toHaveLength(served.length);
    const counter = `${b.id}:g:${w.gatewayId}`;
    const period = periodFor('daily', new Date()).key;
    await until(async () => (await s.sluice.counters.spend(counter, period)).reservedNanos === 0n);
    const spend = await s.sluice.counters.spend(counter, period);
    expect(spend.settledNanos).toBe(BigInt(served.length) * 10_000n);
    expect(spend.settledNanos).toBeLessThanOrEqual(100_000n);
  });

  it('adds x-sluice-spend-warning once a budget is past its warning threshold', async () => {
    const w = await workspace();
    await budget(w, 'warned', 30n, 0.5);
    const body = { max_tokens: 10, messages: [{ role: 'user', content: LONG }] };
    const first = await chat(w, body);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-sluice-spend-warning')).toBeNull();
    await first.text();
    const second = await chat(w, body);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-sluice-spend-warning')).toBe(`warned;used=66%;period=${periodFor('daily', new Date()).key}`);
  });
});

describe('limits when the Redis counter store is unreachable', () => {
  let s: RunningSluice;
  let fake: FakeUpstream;
  beforeAll(async () => {
    // Port 1 on loopback: connection refused.
    s = await startTestServer('sqlite', { redisUrl: 'redis://127.0.0.1:1' });
    fake = await startFakeUpstream('openai');
  });
  afterAll(async () => {
    await fake?.close();
    await s?.close();
  });

  it('admits under fail_open and rejects with 503 counter_store_unavailable under fail_closed', async () => {
    expect(s.announced.some((line) => line.includes('not reachable'))).toBe(true);
    const w = await buildWorkspace(s, { workspace: 'down', providers: [{ name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url, models: ['gpt-4o'] }] });
    const closed = (await w.client.gateways.createGateway({ workspaceId: w.workspaceId, gateway: { name: 'strict' } })).gateway!;
    await w.client.gateways.createRateLimit({
      gatewayId: w.gatewayId,
      rateLimit: { name: 'open', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.MINUTE, scope: gatewayScope, onStoreFailure: StoreFailureMode.FAIL_OPEN },
    });
    await w.client.gateways.createRateLimit({
      gatewayId: closed.id,
      rateLimit: { name: 'closed', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.MINUTE, scope: gatewayScope, onStoreFailure: StoreFailureMode.FAIL_CLOSED },
    });
    const strictKey = (await w.client.apiKeys.createApiKey({ workspaceId: w.workspaceId, apiKey: { name: 'strict', gateways: ['strict'], defaultGateway: 'strict' } })).secret;
    await s.sluice.snapshots.refresh();
    const call = (key: string) =>
      fetch(`${s.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      });
    // Fail open: the limit of 1 is not enforced while the store is down.
    for (let i = 0; i < 3; i++) expect((await call(w.apiKey)).status).toBe(200);
    const rejected = await call(strictKey);
    expect(rejected.status).toBe(503);
    expect(((await rejected.json()) as { error: { code: string } }).error.code).toBe('counter_store_unavailable');
    expect(fake.requests).toHaveLength(3);
  });
});

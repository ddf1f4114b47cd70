/**
 * Rate limits and budgets hold across replicas: two `sluice serve` processes
 * on one PostgreSQL database and one Redis, requests alternated between them
 * (sequentially and concurrently) against a fake upstream that counts its
 * calls. Then Redis is taken away from both replicas through a TCP proxy:
 * `fail_open` limits admit, `fail_closed` limits answer 503
 * `counter_store_unavailable`, both replicas log it (one line per 10 s per
 * stage, with the count of the lines suppressed), and once Redis is back
 * both enforce again on the counters Redis kept, without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, ConnectError } from '@connectrpc/connect';
import type { SluiceClient } from '@sluice/client';
import { ProviderType } from '@sluice/client/gen/provider';
import { RateLimitUnit, RateLimitWindow, SpendEnforcement, SpendPeriod, StoreFailureMode } from '@sluice/client/gen/gateway';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { RedisCounterStore } from '../../src/policy/counters/redis-store.js';
import { periodFor } from '../../src/policy/counters/periods.js';
import { REDIS_URL, startCluster, startRedisProxy, until, type Cluster, type CuttableProxy } from './cluster.js';

const gatewayScope = { kind: { case: 'gateway' as const, value: true } };
/** Long enough that `max_tokens` always cuts the fake's echo: completion tokens = max_tokens. */
const LONG = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

interface Tenant {
  workspaceId: string;
  apiKey: string;
  gateway(name: string): Promise<string>;
}

/** A workspace with a priced gpt-4o (output $1/Mtok, nothing else) on the fake upstream and a key for every gateway. */
async function tenant(client: SluiceClient, name: string, fake: FakeUpstream): Promise<Tenant> {
  const ws = (await client.workspaces.createWorkspace({ workspace: { name } })).workspace!;
  const provider = (
    await client.providers.createProvider({
      workspaceId: ws.id,
      provider: { name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url },
      credentials: [{ source: { case: 'value', value: 'fake-key-0000' } }],
    })
  ).provider!;
  await client.providers.createModel({
    providerId: provider.id,
    model: { name: 'gpt-4o', price: { inputPerMtokMicros: 0n, outputPerMtokMicros: 1_000_000n, cachedInputPerMtokMicros: 0n, cacheWritePerMtokMicros: 0n } },
  });
  await client.gateways.createGateway({ workspaceId: ws.id, gateway: { name: 'main' } });
  const key = await client.apiKeys.createApiKey({ workspaceId: ws.id, apiKey: { name: 'app', gateways: [], defaultGateway: 'main' } });
  return {
    workspaceId: ws.id,
    apiKey: key.secret,
    gateway: async (gw) => (await client.gateways.createGateway({ workspaceId: ws.id, gateway: { name: gw } })).gateway!.id,
  };
}

function chat(baseUrl: string, apiKey: string, gateway: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${baseUrl}/gateways/${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
}

async function status(res: Response): Promise<{ status: number; code?: string }> {
  if (res.status === 200) {
    await res.text();
    return { status: 200 };
  }
  return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
}

/** Waits until every replica serves `gateway` for the key (its snapshot has everything created before the probe). */
async function propagated(cluster: Cluster, apiKey: string, gateway: string): Promise<void> {
  for (const r of cluster.replicas) await until(async () => (await chat(r.baseUrl, apiKey, gateway)).status === 200, 5000, 25);
}

describe('limits across two replicas on one Redis and one PostgreSQL', () => {
  let cluster: Cluster;
  let fake: FakeUpstream;
  let counters: RedisCounterStore;
  beforeAll(async () => {
    fake = await startFakeUpstream('openai');
    cluster = await startCluster({ redisUrl: REDIS_URL });
    counters = new RedisCounterStore({ url: REDIS_URL });
    await counters.whenReady(2000);
  });
  afterAll(async () => {
    await counters?.close();
    await cluster?.close();
    await fake?.close();
  });

  it('admits exactly the limit of a request rate limit in total, whichever replica a request reaches', async () => {
    const a = cluster.client(0);
    const t = await tenant(a, 'rate-cluster', fake);
    const gatewayId = await t.gateway('limited');
    await a.gateways.createRateLimit({ gatewayId, rateLimit: { name: 'rph', unit: RateLimitUnit.REQUESTS, limit: 10n, window: RateLimitWindow.HOUR, scope: gatewayScope } });
    await a.gateways.createRateLimit({ gatewayId, rateLimit: { name: 'tph', unit: RateLimitUnit.TOKENS, limit: 1_000_000n, window: RateLimitWindow.HOUR, scope: gatewayScope } });
    await propagated(cluster, t.apiKey, 'main');
    fake.reset();

    // Sequential, alternating: replica A, B, A, B…
    const sequential: { replica: number; status: number; remaining: string | null }[] = [];
    for (let i = 0; i < 14; i++) {
      const res = await chat(cluster.replicas[i % 2]!.baseUrl, t.apiKey, 'limited');
      sequential.push({ replica: i % 2, status: res.status, remaining: res.headers.get('x-ratelimit-remaining-requests') });
      await res.text();
    }
    expect(sequential.slice(0, 6).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    // The remaining count each replica reports is the shared one: 9, 8, 7… whichever replica answered.
    expect(sequential.slice(0, 6).map((r) => r.remaining)).toEqual(['9', '8', '7', '6', '5', '4']);
    // Concurrently, still alternating, the rest of the 10: 4 more are admitted among 30.
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(cluster.replicas[i % 2]!.baseUrl, t.apiKey, 'limited').then(status)));
    const admitted = sequential.filter((r) => r.status === 200).length + burst.filter((r) => r.status === 200).length;
    expect(admitted).toBe(10);
    expect([...sequential.slice(10), ...burst.filter((r) => r.status !== 200)].every((r) => r.status === 429)).toBe(true);
    expect(burst.filter((r) => r.status !== 200).every((r) => r.code === 'rate_limit_exceeded')).toBe(true);
    // Both replicas admitted some, and the provider saw exactly the admitted requests.
    expect(new Set(sequential.filter((r) => r.status === 200).map((r) => r.replica))).toEqual(new Set([0, 1]));
    expect(fake.requests).toHaveLength(10);
  });

  it('admits at most a budget across both replicas among 200 concurrent requests, and the settled spend never exceeds it', async () => {
    const a = cluster.client(0);
    const t = await tenant(a, 'budget-cluster', fake);
    const gatewayId = await t.gateway('budgeted');
    // Worst case per request: 10 output tokens at $1/Mtok = 10,000 nanos; the budget is 10 of them.
    const budget = (
      await a.gateways.createSpendLimit({
        workspaceId: t.workspaceId,
        spendLimit: { gatewayId, name: 'daily', amountMicros: 100n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, scope: gatewayScope },
      })
    ).spendLimit!;
    await propagated(cluster, t.apiKey, 'main');
    fake.reset();

    const body = { max_tokens: 10, messages: [{ role: 'user', content: LONG }] };
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => chat(cluster.replicas[i % 2]!.baseUrl, t.apiKey, 'budgeted', body).then(async (res) => ({ replica: i % 2, ...(await status(res)) }))),
    );
    const served = answers.filter((x) => x.status === 200);
    // Every reservation is a true worst case and settles at it, so exactly 10 fit in total, where
    // two replicas counting alone would each admit 10. (Which replica wins the race varies.)
    expect(served).toHaveLength(10);
    expect(answers.filter((x) => x.status !== 200).every((x) => x.status === 429 && x.code === 'spend_limit_exceeded')).toBe(true);
    expect(fake.requests).toHaveLength(10);

    const counter = `${budget.id}:g:${gatewayId}`;
    const period = periodFor('daily', new Date()).key;
    await until(async () => (await counters.spend(counter, period)).reservedNanos === 0n);
    const spend = await counters.spend(counter, period);
    expect(spend.settledNanos).toBe(100_000n);
    expect(spend.settledNanos).toBeLessThanOrEqual(BigInt(budget.amountMicros) * 1000n);
    // Replica B's usage RPC reports the spend both replicas made.
    const usage = await cluster.client(1).gateways.getGatewayUsage({ gatewayId });
    expect(usage.spendLimits[0]).toMatchObject({ counter: 'gateway', spentMicros: 100n, reservedMicros: 0n, remainingMicros: 0n, exhausted: true });
  });
});

describe('two replicas when Redis goes away and comes back', () => {
  let cluster: Cluster;
  let fake: FakeUpstream;
  let proxy: CuttableProxy;
  beforeAll(async () => {
    fake = await startFakeUpstream('openai');
    proxy = await startRedisProxy();
    cluster = await startCluster({ redisUrl: proxy.url });
  });
  afterAll(async () => {
    await cluster?.close();
    await proxy?.close();
    await fake?.close();
  });

  it('fail_open admits and fail_closed rejects during the outage, both replicas log it, and enforcement resumes by itself on the kept counters', async () => {
    const a = cluster.client(0);
    const t = await tenant(a, 'outage', fake);
    const openId = await t.gateway('lenient');
    const closedId = await t.gateway('strict');
    const rateLimit = (gatewayId: string, onStoreFailure: StoreFailureMode) =>
      a.gateways.createRateLimit({ gatewayId, rateLimit: { name: 'rph', unit: RateLimitUnit.REQUESTS, limit: 4n, window: RateLimitWindow.HOUR, scope: gatewayScope, onStoreFailure } });
    await rateLimit(openId, StoreFailureMode.FAIL_OPEN);
    await rateLimit(closedId, StoreFailureMode.FAIL_CLOSED);
    await propagated(cluster, t.apiKey, 'main');
    const [A, B] = cluster.replicas.map((r) => r.baseUrl) as [string, string];

    // Redis up: one request per replica on each gateway (2 of 4 used on each).
    for (const url of [A, B]) {
      expect((await status(await chat(url, t.apiKey, 'strict'))).status).toBe(200);
      expect((await status(await chat(url, t.apiKey, 'lenient'))).status).toBe(200);
    }

    proxy.cut();
    fake.reset();
    for (const url of [A, B]) {
      // fail_closed: 503 counter_store_unavailable, the provider is not called.
      expect(await status(await chat(url, t.apiKey, 'strict'))).toEqual({ status: 503, code: 'counter_store_unavailable' });
      // fail_open: admitted unlimited, past the limit of 4.
      for (let i = 0; i < 4; i++) expect((await status(await chat(url, t.apiKey, 'lenient'))).status).toBe(200);
    }
    expect(fake.requests).toHaveLength(8);
    // The usage RPC cannot read the counters either: unavailable, on both replicas.
    for (let i = 0; i < 2; i++) {
      const err = await cluster.client(i).gateways.getGatewayUsage({ gatewayId: closedId }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.Unavailable);
    }
    for (const r of cluster.replicas) {
      await until(async () => r.output().includes('rate_limit: counter store unavailable, rejecting (fail_closed)'), 3000);
      // The client reports the lost connection when its first reconnect attempt fails (backoff ≥ 100 ms),
      // which can come after the first rejected request.
      await until(async () => /counters: Redis 127\.0\.0\.1:\d+ connection error/.test(r.output()), 3000);
    }

    proxy.restore();
    const start = performance.now();
    // Each replica reconnects by itself (backoff at most 1 s) and enforces again.
    for (const url of [A, B]) await until(async () => (await status(await chat(url, t.apiKey, 'strict'))).status === 200, 5000, 50);
    const recoveredMs = performance.now() - start;
    expect(recoveredMs).toBeLessThan(5000);
    // The strict counter kept its 2 pre-outage requests plus the 2 recovery probes: the limit of 4 is reached.
    expect(await status(await chat(A, t.apiKey, 'strict'))).toEqual({ status: 429, code: 'rate_limit_exceeded' });
    expect(await status(await chat(B, t.apiKey, 'strict'))).toEqual({ status: 429, code: 'rate_limit_exceeded' });
    // Either replica's usage RPC reads the one shared counter.
    for (let i = 0; i < 2; i++) {
      const usage = await cluster.client(i).gateways.getGatewayUsage({ gatewayId: closedId });
      expect(usage.rateLimits[0]).toMatchObject({ counter: 'gateway', used: 4n, remaining: 0n });
    }
    // The lenient counter kept its 2; the outage's admissions were not counted.
    const lenient = await chat(B, t.apiKey, 'lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    await lenient.text();
    console.log(`redis outage: both replicas enforcing again ${recoveredMs.toFixed(0)} ms after Redis came back`);
  });
});

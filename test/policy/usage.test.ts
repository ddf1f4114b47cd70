/**
 * Usage of rate limits and budgets through the control API:
 * `GatewayService.GetGatewayUsage` and `ApiKeyService.GetApiKeyUsage`, over
 * Connect and tRPC (the same answer on both), on the memory and the Redis
 * counter store, after real requests through the data plane. Reading usage
 * charges nothing. A workspace token cannot read another workspace's usage,
 * and bad input is rejected with the field named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { createSluiceClient, type SluiceClient } from '@sluice/client';
import { GetApiKeyUsageResponseSchema } from '@sluice/client/gen/api_key';
import { GetGatewayUsageResponseSchema, RateLimitUnit, RateLimitWindow, SpendEnforcement, SpendPeriod, type RateLimitUsage, type SpendLimitUsage } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import { createSluiceTrpcClient, sluiceErrorData } from '@sluice/trpc-client';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { RedisCounterStore } from '../../src/policy/counters/redis-store.js';
import { periodFor } from '../../src/policy/counters/periods.js';

const REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LONG = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
/** A user message the fake echoes past max_tokens: every request costs exactly max_tokens output tokens. */
const BODY = { max_tokens: 10, messages: [{ role: 'user', content: LONG }] };

type Trpc = Record<string, Record<string, { query(input: unknown): Promise<unknown> }>>;

const byName = <T extends { rateLimit?: { name: string }; spendLimit?: { name: string } }>(list: T[], name: string): T => {
  const found = list.find((u) => (u.rateLimit ?? u.spendLimit)!.name === name);
  if (!found) throw new Error(`no usage entry ${name}`);
  return found;
};

/** The JSON form without the instants that differ between two reads (when the counters were read, Redis' clock). */
function stable(json: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(json)) as { readTime?: string; rateLimits?: { resetTime?: string }[] };
  delete copy.readTime;
  for (const r of copy.rateLimits ?? []) delete r.resetTime;
  return copy;
}

describe.each([
  { store: 'memory', overrides: {} },
  { store: 'redis', overrides: { redisUrl: REDIS_URL } },
])('limit usage through the control API on the $store store', ({ store, overrides }) => {
  let s: RunningSluice;
  let fake: FakeUpstream;
  let w: BuiltWorkspace;
  let other: { client: SluiceClient; token: string; gatewayId: string; apiKeyId: string };
  let trpc: Trpc;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    s = await startTestServer('sqlite', overrides);
    if (store === 'redis') await (s.sluice.counters as RedisCounterStore).whenReady(2000);
    fake = await startFakeUpstream('openai');
    w = await buildWorkspace(s, { workspace: `usage-${store}`, providers: [{ name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url, models: [] }] });
    const provider = (await w.client.providers.listProviders({ workspaceId: w.workspaceId })).providers[0]!;
    await w.client.providers.createModel({
      providerId: provider.id,
      model: { name: 'gpt-4o', price: { inputPerMtokMicros: 0n, outputPerMtokMicros: 1_000_000n, cachedInputPerMtokMicros: 0n, cacheWritePerMtokMicros: 0n } },
    });
    const rate = async (name: string, unit: RateLimitUnit, limit: bigint, scope: { kind: { case: 'gateway' | 'key'; value: true } | { case: 'expr'; value: string } }) => {
      ids[name] = (await w.client.gateways.createRateLimit({ gatewayId: w.gatewayId, rateLimit: { name, unit, limit, window: RateLimitWindow.HOUR, scope } })).rateLimit!.id;
    };
    await rate('rph', RateLimitUnit.REQUESTS, 5n, { kind: { case: 'gateway', value: true } });
    await rate('tph-per-key', RateLimitUnit.TOKENS, 100_000n, { kind: { case: 'key', value: true } });
    await rate('per-user', RateLimitUnit.REQUESTS, 3n, { kind: { case: 'expr', value: '"x-user-id" in request.headers ? request.headers["x-user-id"] : "anonymous"' } });
    const budget = async (name: string, gatewayId: string, amountMicros: bigint, period: SpendPeriod, scope: { kind: { case: 'workspace' | 'gateway' | 'key'; value: true } }, warnAt = 0) => {
      ids[name] = (
        await w.client.gateways.createSpendLimit({ workspaceId: w.workspaceId, spendLimit: { gatewayId, name, amountMicros, period, enforcement: SpendEnforcement.BLOCK, warnAt, scope } })
      ).spendLimit!.id;
    };
    await budget('ws-daily', '', 1000n, SpendPeriod.DAILY, { kind: { case: 'workspace', value: true } });
    await budget('gw-monthly', w.gatewayId, 40n, SpendPeriod.MONTHLY, { kind: { case: 'gateway', value: true } }, 0.5);
    await budget('key-weekly', w.gatewayId, 500n, SpendPeriod.WEEKLY, { kind: { case: 'key', value: true } });
    await s.sluice.snapshots.refresh();

    // Another tenant with its own token, gateway and key.
    const root = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const ws = (await root.workspaces.createWorkspace({ workspace: { name: `usage-other-${store}` } })).workspace!;
    const token = (await root.workspaces.createWorkspaceToken({ workspaceId: ws.id, name: 'admin' })).secret;
    const gw = (await root.gateways.createGateway({ workspaceId: ws.id, gateway: { name: 'theirs' } })).gateway!;
    const key = (await root.apiKeys.createApiKey({ workspaceId: ws.id, apiKey: { name: 'theirs', gateways: [] } })).apiKey!;
    other = { client: createSluiceClient({ baseUrl: s.baseUrl, token }), token, gatewayId: gw.id, apiKeyId: key.id };
    trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken }) as unknown as Trpc;

    for (const user of ['alice', 'alice']) {
      const res = await fetch(`${s.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${w.apiKey}`, 'x-user-id': user },
        body: JSON.stringify({ model: 'openai/gpt-4o', ...BODY }),
      });
      expect(res.status).toBe(200);
      await res.text();
    }
    // Settlement runs after the answer: wait until both requests are settled.
    const counter = `${ids['gw-monthly']}:g:${w.gatewayId}`;
    const period = periodFor('monthly', new Date()).key;
    for (let i = 0; i < 100 && (await s.sluice.counters.spend(counter, period)).settledNanos < 20_000n; i++) await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    await fake?.close();
    await s?.close();
  });

  it('reports each gateway-wide counter; per-key and per-value limits without a key or value have no counter', async () => {
    const before = Date.now();
    const usage = await w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId });
    expect(usage.rateLimits.map((u) => u.rateLimit!.name)).toEqual(['per-user', 'rph', 'tph-per-key']);
    const rph = byName(usage.rateLimits, 'rph');
    expect(rph).toMatchObject({ counter: 'gateway', used: 2n, remaining: 3n });
    expect(rph.rateLimit).toMatchObject({ id: ids.rph, limit: 5n, window: RateLimitWindow.HOUR });
    // Both requests are in the current hour: the counter is empty at the end of the next one.
    const reset = timestampMs(rph.resetTime!);
    expect(reset).toBeGreaterThan(before + 3_600_000 - 5_000);
    expect(reset).toBeLessThanOrEqual(before + 2 * 3_600_000 + 5_000);
    for (const name of ['per-user', 'tph-per-key']) {
      const u = byName(usage.rateLimits, name);
      expect(u.counter).toBe('');
      expect(u.used).toBe(0n);
      expect(u.resetTime).toBeUndefined();
    }

    // Workspace-wide budgets first, then the gateway's, each by name.
    expect(usage.spendLimits.map((u) => u.spendLimit!.name)).toEqual(['ws-daily', 'gw-monthly', 'key-weekly']);
    const now = new Date();
    const daily = byName(usage.spendLimits, 'ws-daily');
    expect(daily).toMatchObject({ counter: 'workspace', period: periodFor('daily', now).key, spentMicros: 20n, reservedMicros: 0n, remainingMicros: 980n, warning: false, exhausted: false });
    expect(timestampMs(daily.periodStartTime!)).toBe(periodFor('daily', now).start.getTime());
    expect(timestampMs(daily.resetTime!)).toBe(periodFor('daily', now).end.getTime());
    // 20 of 40 spent with warn_at 0.5: the warning threshold is reached.
    expect(byName(usage.spendLimits, 'gw-monthly')).toMatchObject({ counter: 'gateway', period: periodFor('monthly', now).key, spentMicros: 20n, remainingMicros: 20n, warning: true, exhausted: false });
    expect(byName(usage.spendLimits, 'key-weekly')).toMatchObject({ counter: '', spentMicros: 0n });
    expect(usage.readTime).toBeDefined();
  });

  it('reads the counters of the API key and the CEL value named in the request', async () => {
    const usage = await w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, apiKeyId: w.apiKeyId, scopeValue: 'alice' });
    expect(byName(usage.rateLimits, 'per-user')).toMatchObject({ counter: 'expr:alice', used: 2n, remaining: 1n });
    const tokens = byName(usage.rateLimits, 'tph-per-key');
    expect(tokens.counter).toBe(`key:${w.apiKeyId}`);
    // Settled at the real usage: prompt tokens plus the 10 completion tokens of each request, far below the reserved worst case.
    expect(tokens.used).toBeGreaterThan(20n);
    expect(tokens.used).toBeLessThan(1000n);
    expect(tokens.remaining).toBe(100_000n - tokens.used);
    expect(byName(usage.spendLimits, 'key-weekly')).toMatchObject({ counter: `key:${w.apiKeyId}`, period: periodFor('weekly', new Date()).key, spentMicros: 20n, remainingMicros: 480n });

    const bob = await w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, scopeValue: 'bob' });
    const unused = byName(bob.rateLimits, 'per-user');
    expect(unused).toMatchObject({ counter: 'expr:bob', used: 0n, remaining: 3n });
    expect(unused.resetTime).toBeUndefined();
  });

  it("lists the key's own counters with GetApiKeyUsage", async () => {
    const usage = await w.client.apiKeys.getApiKeyUsage({ id: w.apiKeyId });
    expect(usage.rateLimits.map((u: RateLimitUsage) => [u.rateLimit!.name, u.counter])).toEqual([['tph-per-key', `key:${w.apiKeyId}`]]);
    expect(usage.spendLimits.map((u: SpendLimitUsage) => [u.spendLimit!.name, u.counter, u.spentMicros])).toEqual([['key-weekly', `key:${w.apiKeyId}`, 20n]]);
  });

  it('answers the same over tRPC as over Connect', async () => {
    const request = { gatewayId: w.gatewayId, apiKeyId: w.apiKeyId, scopeValue: 'alice' };
    const connect = toJson(GetGatewayUsageResponseSchema, await w.client.gateways.getGatewayUsage(request));
    const viaTrpc = await trpc.gateway!.getGatewayUsage!.query(request);
    expect(stable(viaTrpc)).toEqual(stable(connect));
    expect((stable(viaTrpc) as { rateLimits: unknown[] }).rateLimits).toHaveLength(3);
    const keyConnect = toJson(GetApiKeyUsageResponseSchema, await w.client.apiKeys.getApiKeyUsage({ id: w.apiKeyId }));
    expect(stable(await trpc.apiKey!.getApiKeyUsage!.query({ id: w.apiKeyId }))).toEqual(stable(keyConnect));
  });

  it('charges nothing: reading usage twice gives the same counts', async () => {
    const first = await w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, apiKeyId: w.apiKeyId, scopeValue: 'alice' });
    const second = await w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, apiKeyId: w.apiKeyId, scopeValue: 'alice' });
    const counts = (u: typeof first) => [...u.rateLimits.map((r) => [r.used, r.remaining]), ...u.spendLimits.map((b) => [b.spentMicros, b.reservedMicros])];
    expect(counts(second)).toEqual(counts(first));
  });

  it("refuses another workspace's usage on both transports", async () => {
    const connectCode = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e).code);
    const trpcKind = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => sluiceErrorData(e)?.kind);
    const theirTrpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: other.token }) as unknown as Trpc;
    // Our gateway, our key, read with their token.
    expect(await connectCode(other.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId }))).toBe(Code.NotFound);
    expect(await trpcKind(theirTrpc.gateway!.getGatewayUsage!.query({ gatewayId: w.gatewayId }))).toBe('not_found');
    expect(await connectCode(other.client.apiKeys.getApiKeyUsage({ id: w.apiKeyId }))).toBe(Code.NotFound);
    expect(await trpcKind(theirTrpc.apiKey!.getApiKeyUsage!.query({ id: w.apiKeyId }))).toBe('not_found');
    // Their own gateway with our key's id: the key is not theirs.
    expect(await connectCode(other.client.gateways.getGatewayUsage({ gatewayId: other.gatewayId, apiKeyId: w.apiKeyId }))).toBe(Code.NotFound);
    expect(await trpcKind(theirTrpc.gateway!.getGatewayUsage!.query({ gatewayId: other.gatewayId, apiKeyId: w.apiKeyId }))).toBe('not_found');
    // Their own things work.
    expect((await other.client.gateways.getGatewayUsage({ gatewayId: other.gatewayId, apiKeyId: other.apiKeyId })).rateLimits).toEqual([]);
    expect((await other.client.apiKeys.getApiKeyUsage({ id: other.apiKeyId })).spendLimits).toEqual([]);
  });

  it('rejects bad input naming the field', async () => {
    const trpcViolation = (p: Promise<unknown>) => p.then(() => 'succeeded', (e: unknown) => `${sluiceErrorData(e)?.kind} ${sluiceErrorData(e)?.fieldViolations.map((v) => v.field).join(',')}`);
    expect(await trpcViolation(trpc.gateway!.getGatewayUsage!.query({ gatewayId: '' }))).toBe('invalid_argument gateway_id');
    expect(await trpcViolation(trpc.gateway!.getGatewayUsage!.query({ gatewayId: w.gatewayId, scopeValue: 'x'.repeat(4097) }))).toBe('invalid_argument scope_value');
    expect(await trpcViolation(trpc.apiKey!.getApiKeyUsage!.query({ id: '' }))).toBe('invalid_argument id');
    const connectCode = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e).code);
    expect(await connectCode(w.client.gateways.getGatewayUsage({ gatewayId: '' }))).toBe(Code.InvalidArgument);
    expect(await connectCode(w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, scopeValue: 'x'.repeat(4097) }))).toBe(Code.InvalidArgument);
    expect(await connectCode(w.client.apiKeys.getApiKeyUsage({ id: '' }))).toBe(Code.InvalidArgument);
    // Unknown ids are not found.
    expect(await connectCode(w.client.gateways.getGatewayUsage({ gatewayId: 'gw_nope' }))).toBe(Code.NotFound);
    expect(await connectCode(w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, apiKeyId: 'key_nope' }))).toBe(Code.NotFound);
  });
});

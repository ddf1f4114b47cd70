/**
 * Budgets over HTTP with a controlled clock (`startSluice`'s `now`, which the
 * spend stage, the memory counter store and the usage RPC share): weekly
 * periods turn over at Monday 00:00 UTC and monthly ones at the first of the
 * month, `alert` budgets admit and record past their amount with a warning
 * header, a workspace-wide budget is shared by every gateway of the
 * workspace, and a CEL-keyed budget keeps one counter per value. A fake
 * upstream counts the calls that got through. Each request costs exactly 10
 * micro-dollars (10 output tokens at $1/Mtok, input free).
 *
 * The memory store only: with Redis the fake clock would file counters in
 * 2030 periods that the shared Redis would keep until then (the Redis store
 * takes the same period keys from the caller; test/policy/limits.test.ts and
 * test/cluster/limits.test.ts run budgets on Redis).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { SpendEnforcement, SpendPeriod, type LimitScope } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

type Scope = Pick<LimitScope, 'kind'>;
const LONG = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
const BODY = { model: 'openai/gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: LONG }] };

describe('budgets over calendar periods, alert budgets, workspace-wide and CEL-keyed budgets', () => {
  let s: RunningSluice;
  let fake: FakeUpstream;
  let clock = Date.UTC(2030, 0, 1);
  let n = 0;

  beforeAll(async () => {
    s = await startTestServer('sqlite', {}, undefined, { now: () => clock });
    fake = await startFakeUpstream('openai');
  });
  afterAll(async () => {
    await fake?.close();
    await s?.close();
  });

  /** A fresh workspace with a priced gpt-4o, gateways `main` and `second`, and a key for both. */
  async function workspace(): Promise<BuiltWorkspace & { secondId: string; key: string }> {
    n += 1;
    const w = await buildWorkspace(s, { workspace: `cal-${n}`, providers: [{ name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url, models: [] }] });
    const provider = (await w.client.providers.listProviders({ workspaceId: w.workspaceId })).providers[0]!;
    await w.client.providers.createModel({
      providerId: provider.id,
      model: { name: 'gpt-4o', price: { inputPerMtokMicros: 0n, outputPerMtokMicros: 1_000_000n, cachedInputPerMtokMicros: 0n, cacheWritePerMtokMicros: 0n } },
    });
    const secondId = (await w.client.gateways.createGateway({ workspaceId: w.workspaceId, gateway: { name: 'second' } })).gateway!.id;
    const key = (await w.client.apiKeys.createApiKey({ workspaceId: w.workspaceId, apiKey: { name: 'both', gateways: [], defaultGateway: 'main' } })).secret;
    await s.sluice.snapshots.refresh();
    fake.reset();
    return { ...w, secondId, key };
  }

  async function budget(w: BuiltWorkspace, spec: { name: string; gatewayId: string; amountMicros: bigint; period: SpendPeriod; enforcement?: SpendEnforcement; scope: Scope }) {
    const created = await w.client.gateways.createSpendLimit({
      workspaceId: w.workspaceId,
      spendLimit: { ...spec, enforcement: spec.enforcement ?? SpendEnforcement.BLOCK },
    });
    await s.sluice.snapshots.refresh();
    return created.spendLimit!;
  }

  async function chat(key: string, gateway = 'main', headers: Record<string, string> = {}) {
    const res = await fetch(`${s.baseUrl}/gateways/${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify(BODY),
    });
    const json = (await res.json()) as { error?: { code: string } };
    return { status: res.status, code: json.error?.code, retryAfter: res.headers.get('retry-after'), warning: res.headers.get('x-sluice-spend-warning') };
  }

  /** Waits until the settle hook has run for every served request (nothing reserved any more). */
  async function settled(w: BuiltWorkspace, name: string, scopeValue?: string) {
    for (let i = 0; i < 100; i++) {
      const usage = await w.client.gateways.getGatewayUsage({ gatewayId: w.gatewayId, scopeValue });
      const entry = usage.spendLimits.find((u) => u.spendLimit!.name === name)!;
      if (entry.reservedMicros === 0n) return entry;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('reservations never settled');
  }

  it('turns a weekly budget over at Monday 00:00 UTC', async () => {
    const w = await workspace();
    await budget(w, { name: 'weekly', gatewayId: w.gatewayId, amountMicros: 20n, period: SpendPeriod.WEEKLY, scope: { kind: { case: 'gateway', value: true } } });
    // Sunday 2030-01-06 23:59:00 UTC, in ISO week 2030-W01 (Monday 2029-12-31 to Sunday).
    clock = Date.UTC(2030, 0, 6, 23, 59, 0);
    expect((await chat(w.key)).status).toBe(200);
    expect((await chat(w.key)).status).toBe(200);
    // The budget is used up until the week ends, 60 s from now.
    expect(await chat(w.key)).toMatchObject({ status: 429, code: 'spend_limit_exceeded', retryAfter: '60' });
    const sunday = await settled(w, 'weekly');
    expect(sunday).toMatchObject({ period: '2030-W01', spentMicros: 20n, remainingMicros: 0n, exhausted: true });
    expect(timestampMs(sunday.periodStartTime!)).toBe(Date.UTC(2029, 11, 31));
    expect(timestampMs(sunday.resetTime!)).toBe(Date.UTC(2030, 0, 7));

    // Monday 00:00:00: a new week, a fresh budget.
    clock = Date.UTC(2030, 0, 7, 0, 0, 0);
    expect((await chat(w.key)).status).toBe(200);
    const monday = await settled(w, 'weekly');
    expect(monday).toMatchObject({ period: '2030-W02', spentMicros: 10n, remainingMicros: 10n, exhausted: false });
    expect(timestampMs(monday.periodStartTime!)).toBe(Date.UTC(2030, 0, 7));
    expect(fake.requests).toHaveLength(3);
  });

  it('turns a monthly budget over at the first of the month, 00:00 UTC', async () => {
    const w = await workspace();
    await budget(w, { name: 'monthly', gatewayId: w.gatewayId, amountMicros: 10n, period: SpendPeriod.MONTHLY, scope: { kind: { case: 'gateway', value: true } } });
    clock = Date.UTC(2030, 0, 31, 23, 59, 30);
    expect((await chat(w.key)).status).toBe(200);
    expect(await chat(w.key)).toMatchObject({ status: 429, code: 'spend_limit_exceeded', retryAfter: '30' });
    expect(await settled(w, 'monthly')).toMatchObject({ period: '2030-01', spentMicros: 10n, exhausted: true });
    clock = Date.UTC(2030, 1, 1, 0, 0, 0);
    expect((await chat(w.key)).status).toBe(200);
    const february = await settled(w, 'monthly');
    expect(february).toMatchObject({ period: '2030-02', spentMicros: 10n });
    expect(timestampMs(february.resetTime!)).toBe(Date.UTC(2030, 2, 1));
    expect(fake.requests).toHaveLength(2);
  });

  it('admits past an alert budget, records the spend and warns on every answer over it', async () => {
    const w = await workspace();
    clock = Date.UTC(2030, 5, 15, 12, 0, 0);
    await budget(w, { name: 'watch', gatewayId: w.gatewayId, amountMicros: 10n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.ALERT, scope: { kind: { case: 'gateway', value: true } } });
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await chat(w.key));
      await settled(w, 'watch');
    }
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    // The first fits the budget exactly; the next ones are over it (worst case included).
    expect(answers.map((a) => a.warning)).toEqual([null, 'watch;used=200%;period=2030-06-15', 'watch;used=300%;period=2030-06-15']);
    expect(fake.requests).toHaveLength(3);
    expect(await settled(w, 'watch')).toMatchObject({ spentMicros: 30n, remainingMicros: 0n, warning: true, exhausted: true });
  });

  it('shares a workspace-wide budget between the gateways of the workspace', async () => {
    const w = await workspace();
    clock = Date.UTC(2030, 5, 16, 8, 0, 0);
    await budget(w, { name: 'tenant', gatewayId: '', amountMicros: 20n, period: SpendPeriod.DAILY, scope: { kind: { case: 'workspace', value: true } } });
    expect((await chat(w.key, 'main')).status).toBe(200);
    expect((await chat(w.key, 'second')).status).toBe(200);
    expect(await chat(w.key, 'main')).toMatchObject({ status: 429, code: 'spend_limit_exceeded' });
    expect(await chat(w.key, 'second')).toMatchObject({ status: 429, code: 'spend_limit_exceeded' });
    expect(fake.requests).toHaveLength(2);
    // Both gateways report the one shared counter.
    const fromMain = await settled(w, 'tenant');
    const fromSecond = (await w.client.gateways.getGatewayUsage({ gatewayId: w.secondId })).spendLimits.find((u) => u.spendLimit!.name === 'tenant')!;
    expect(fromMain).toMatchObject({ counter: 'workspace', spentMicros: 20n, exhausted: true });
    expect(fromSecond).toMatchObject({ counter: 'workspace', spentMicros: 20n, exhausted: true });
  });

  it('keeps one budget per value of a CEL key expression', async () => {
    const w = await workspace();
    clock = Date.UTC(2030, 5, 17, 8, 0, 0);
    const team = '"x-team" in request.headers ? request.headers["x-team"] : "none"';
    await budget(w, { name: 'per-team', gatewayId: w.gatewayId, amountMicros: 10n, period: SpendPeriod.DAILY, scope: { kind: { case: 'expr', value: team } } });
    expect((await chat(w.key, 'main', { 'x-team': 'a' })).status).toBe(200);
    expect(await chat(w.key, 'main', { 'x-team': 'a' })).toMatchObject({ status: 429, code: 'spend_limit_exceeded' });
    expect((await chat(w.key, 'main', { 'x-team': 'b' })).status).toBe(200);
    // No header: counted under "none".
    expect((await chat(w.key)).status).toBe(200);
    expect(await chat(w.key)).toMatchObject({ status: 429, code: 'spend_limit_exceeded' });
    expect(fake.requests).toHaveLength(3);
    for (const value of ['a', 'b', 'none']) expect(await settled(w, 'per-team', value)).toMatchObject({ counter: `expr:${value}`, spentMicros: 10n, exhausted: true });
    expect(await settled(w, 'per-team', 'c')).toMatchObject({ counter: 'expr:c', spentMicros: 0n, remainingMicros: 10n });
  });
});

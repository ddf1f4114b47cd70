/**
 * Metrics rollups end to end on SQLite and PostgreSQL: requests through the
 * official openai SDK to fake upstreams are aggregated per minute, flushed to
 * the rollup table, and answered by QueryMetrics and GetSpendSummary over
 * Connect and tRPC with the exact counts, tokens and cost the requests had;
 * flushes from two replicas merge into the same rows without losing or
 * double counting anything; shutdown flushes; retention prunes by the
 * workspace setting; bad input names its field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Code, ConnectError } from '@connectrpc/connect';
import { fieldViolations } from '@sluice/client';
import { SpendEnforcement, SpendPeriod } from '@sluice/client/gen/gateway';
import { MetricsDimension } from '@sluice/client/gen/metrics';
import { ProviderType } from '@sluice/client/gen/provider';
import { createSluiceTrpcClient } from '@sluice/trpc-client';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { openOrm, type DatabaseTarget } from '../../src/db/orm.js';
import { costNanos } from '../../src/observability/pricing/cost.js';
import { priceFor } from '../../src/observability/pricing/price-catalogue.js';
import { withCoarser } from '../../src/observability/metrics/recorder.js';
import { RollupStore } from '../../src/observability/metrics/store.js';
import { emptyCell, addToCell } from '../../src/observability/metrics/rollup.js';
import { WorkspaceEntity } from '../../src/db/entities.js';

const now = () => ({ seconds: BigInt(Math.floor(Date.now() / 1000)) + 60n, nanos: 0 });
const hourAgo = () => ({ seconds: BigInt(Math.floor(Date.now() / 1000)) - 3600n, nanos: 0 });

async function countRows(s: RunningSluice): Promise<number> {
  const rows: { n: number | string }[] = await s.sluice.deps.orm.em.getConnection().execute('select count(*) as n from metric_rollups', [], 'all');
  return Number(rows[0]!.n);
}

describe.each(DIALECTS)('metrics rollups on %s', (dialect) => {
  let s: RunningSluice;
  let a: FakeUpstream;
  let b: FakeUpstream;
  let w: BuiltWorkspace;
  const usage = { prompt: 0, completion: 0, cost: 0n, requests: 0 };
  const price = priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4o' })!;

  beforeAll(async () => {
    s = await startTestServer(dialect, { metricsFlushMs: 60_000 });
    a = await startFakeUpstream('openai');
    b = await startFakeUpstream('openai');
    w = await buildWorkspace(s, {
      workspace: 'metrics',
      providers: [
        { name: 'a', type: ProviderType.OPENAI, baseUrl: a.url, models: ['gpt-4o'] },
        { name: 'b', type: ProviderType.OPENAI, baseUrl: b.url, models: ['gpt-4o'] },
      ],
      gateway: { routes: [{ name: 'main', condition: 'request.model == "gpt-4o"', pool: { members: [{ provider: 'a', model: 'gpt-4o' }] }, fallbacks: [{ members: [{ provider: 'b', model: 'gpt-4o' }] }] }] },
    });
    const client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0 });
    const count = (u: { prompt_tokens: number; completion_tokens: number } | undefined | null) => {
      usage.requests += 1;
      usage.prompt += u?.prompt_tokens ?? 0;
      usage.completion += u?.completion_tokens ?? 0;
      usage.cost += costNanos({ promptTokens: u?.prompt_tokens ?? 0, completionTokens: u?.completion_tokens ?? 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, price);
    };
    for (let i = 0; i < 5; i++) {
      const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hello number ${i} ${'x '.repeat(i * 10)}` }] });
      count(r.usage);
    }
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream please' }] });
      let last: { prompt_tokens: number; completion_tokens: number } | undefined;
      for await (const chunk of stream) if (chunk.usage) last = chunk.usage;
      count(last);
    }
    a.enqueue({ status: 429 });
    const fallback = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'falls back' }] });
    count(fallback.usage);
    await expect(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404 });
    await s.sluice.telemetry.recorder.flush();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s?.close();
  });

  it('answers totals with the exact counts, tokens and cost of the requests', async () => {
    const res = await w.client.metrics.queryMetrics({ workspaceId: w.workspaceId, startTime: hourAgo(), endTime: now() });
    const t = res.total!;
    expect(Number(t.requests)).toBe(usage.requests + 1);
    expect(Number(t.errors)).toBe(1);
    expect(Number(t.fallbacks)).toBe(1);
    expect(Number(t.promptTokens)).toBe(usage.prompt);
    expect(Number(t.completionTokens)).toBe(usage.completion);
    expect(usage.cost).toBeGreaterThan(0n);
    expect(t.costNanos).toBe(usage.cost);
    expect(t.errorRate).toBeCloseTo(1 / 9, 6);
    expect(t.fallbackRate).toBeCloseTo(1 / 9, 6);
    expect(t.latencyP50Ms).toBeGreaterThan(0);
    expect(t.latencyP99Ms).toBeGreaterThanOrEqual(t.latencyP50Ms);
    expect(t.ttftP50Ms).toBeGreaterThan(0);
    // The automatic bucket over an hour is one minute, aligned to it; one series, every bucket present.
    expect(Number(res.bucket!.seconds)).toBe(60);
    expect(Number(res.startTime!.seconds) % 60).toBe(0);
    expect(res.series).toHaveLength(1);
    expect(res.series[0]!.points.length).toBe((Number(res.endTime!.seconds) - Number(res.startTime!.seconds)) / 60);
    expect(res.series[0]!.points.reduce((n, p) => n + Number(p.values!.requests), 0)).toBe(9);
  });

  it('groups by provider, status and route, and filters', async () => {
    const res = await w.client.metrics.queryMetrics({
      workspaceId: w.workspaceId,
      startTime: hourAgo(),
      endTime: now(),
      groupBy: [MetricsDimension.PROVIDER, MetricsDimension.STATUS],
      totalsOnly: true,
    });
    const byKey = Object.fromEntries(res.series.map((x) => [`${x.group.provider}|${x.group.status}`, Number(x.total!.requests)]));
    expect(byKey).toEqual({ 'a|200': 7, 'b|200': 1, '|404': 1 });
    expect(res.series.every((x) => x.points.length === 0)).toBe(true);
    const onlyB = await w.client.metrics.queryMetrics({ workspaceId: w.workspaceId, startTime: hourAgo(), provider: 'b', totalsOnly: true });
    expect(Number(onlyB.total!.requests)).toBe(1);
    expect(Number(onlyB.total!.fallbacks)).toBe(1);
    const errors = await w.client.metrics.queryMetrics({ workspaceId: w.workspaceId, startTime: hourAgo(), statusClass: '4xx', groupBy: [MetricsDimension.STATUS_CLASS], totalsOnly: true });
    expect(errors.series.map((x) => [x.group.status_class, Number(x.total!.requests)])).toEqual([['4xx', 1]]);
    const top = await w.client.metrics.queryMetrics({ workspaceId: w.workspaceId, startTime: hourAgo(), groupBy: [MetricsDimension.PROVIDER], limit: 1, bucket: { seconds: 3600n, nanos: 0 } });
    expect(top.series.map((x) => x.group.provider)).toEqual(['a']);
    expect(top.omittedGroups).toBe(2);
    expect(Number(top.bucket!.seconds)).toBe(3600);
  });

  it('answers the same over tRPC', async () => {
    const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const res = await trpc.metrics.queryMetrics.query({ workspaceId: w.workspaceId, startTime: new Date(Date.now() - 3600_000).toISOString(), totalsOnly: true, groupBy: ['METRICS_DIMENSION_MODEL'] });
    expect(res.series?.map((x) => [x.group?.model, x.total?.requests])).toEqual(
      expect.arrayContaining([
        ['a/gpt-4o', '7'],
        ['b/gpt-4o', '1'],
      ]),
    );
    expect(res.total?.costNanos).toBe(usage.cost.toString());
  });

  it('summarises spend per budget and the top models and keys', async () => {
    await w.client.gateways.createSpendLimit({
      workspaceId: w.workspaceId,
      spendLimit: { name: 'monthly', amountMicros: 1_000_000n, period: SpendPeriod.MONTHLY, enforcement: SpendEnforcement.ALERT, scope: { kind: { case: 'workspace', value: true } } },
    });
    await w.client.gateways.createSpendLimit({
      workspaceId: w.workspaceId,
      spendLimit: { name: 'per-key', amountMicros: 500_000n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, scope: { kind: { case: 'key', value: true } } },
    });
    const res = await w.client.metrics.getSpendSummary({ workspaceId: w.workspaceId });
    const monthly = res.budgets.find((x) => x.name === 'monthly')!;
    expect(monthly.spentNanos).toBe(usage.cost);
    expect(monthly.scope).toBe('workspace');
    expect(monthly.usedFraction).toBeCloseTo(Number(usage.cost) / 1e9, 6);
    const perKey = res.budgets.filter((x) => x.name === 'per-key');
    expect(perKey.map((x) => [x.key, x.spentNanos])).toEqual([[w.apiKeyId, usage.cost]]);
    expect(res.topModels[0]!.name).toBe('a/gpt-4o');
    expect(res.topKeys.map((k) => k.name)).toEqual([w.apiKeyId]);
    expect(res.totalCostNanos).toBe(usage.cost);
  });

  it('merges later flushes and other replicas into the same rows', async () => {
    const rowsBefore = await countRows(s);
    const client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello number 0 ' }] });
    await s.sluice.telemetry.recorder.flush();
    // Same minute (unless the clock just turned), same dimensions: merged, no new rows.
    const rowsAfter = await countRows(s);
    expect(rowsAfter - rowsBefore).toBeLessThanOrEqual(3);

    // Two "replicas" (separate ORMs on the same database) flush overlapping cells concurrently.
    const target: DatabaseTarget =
      dialect === 'sqlite' ? { dialect, path: s.sluice.deps.orm.config.get('dbName') as string } : { dialect, url: s.sluice.deps.orm.config.get('clientUrl') as string };
    const orms = await Promise.all([openOrm(target), openOrm(target)]);
    try {
      const minute = Math.floor(Date.now() / 60_000) * 60 - 7200;
      const dims = { workspaceId: 'ws_replicas', gateway: 'g', model: 'p/m', provider: 'p', apiKeyId: 'k', route: '', status: 200 };
      const flush = (orm: (typeof orms)[number], i: number) => {
        const cell = emptyCell(dims, 60, minute);
        for (let j = 0; j < 10; j++) {
          addToCell(cell, { ...dims, startedAt: minute * 1000, latencyMs: 10 + i + j / 2, ttftMs: 5, fallback: false, promptTokens: 1, completionTokens: 2, cachedTokens: 0, reasoningTokens: 0, costNanos: 3n });
        }
        return new RollupStore(orm).merge(withCoarser([cell]));
      };
      const jobs = orms.flatMap((orm) => [0, 1, 2].map((i) => () => flush(orm, i)));
      // PostgreSQL: all six at once. SQLite: one after another, because better-sqlite3 waits for a
      // lock synchronously, so two connections in one process cannot wait for each other (a real
      // SQLite deployment is one process with one connection).
      if (dialect === 'postgresql') await Promise.all(jobs.map((j) => j()));
      else for (const j of jobs) await j();
      const res = await w.client.metrics.queryMetrics({ workspaceId: 'ws_replicas', startTime: { seconds: BigInt(minute), nanos: 0 }, endTime: { seconds: BigInt(minute + 60), nanos: 0 } });
      expect(Number(res.total!.requests)).toBe(60);
      expect(Number(res.total!.completionTokens)).toBe(120);
      expect(res.total!.costNanos).toBe(180n);
      expect(res.total!.latencyP50Ms).toBeGreaterThan(13 * 0.98);
      expect(res.total!.latencyP50Ms).toBeLessThan(16 * 1.02);
    } finally {
      await Promise.all(orms.map((o) => o.close(true)));
    }
  });

  it('rejects bad input naming the field', async () => {
    const bad = async (req: Parameters<typeof w.client.metrics.queryMetrics>[0]) => {
      const err = await w.client.metrics.queryMetrics(req).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.InvalidArgument);
      return fieldViolations(err!).map((v) => v.field);
    };
    expect(await bad({ workspaceId: w.workspaceId })).toEqual(['start_time']);
    expect(await bad({ workspaceId: w.workspaceId, startTime: hourAgo(), bucket: { seconds: 420n, nanos: 0 } })).toEqual(['bucket']);
    expect(await bad({ workspaceId: w.workspaceId, startTime: hourAgo(), groupBy: [MetricsDimension.UNSPECIFIED] })).toEqual(['group_by[0]']);
    expect(await bad({ workspaceId: w.workspaceId, startTime: hourAgo(), statusClass: '6xx', limit: -1 })).toEqual(['limit', 'status_class']);
    expect(await bad({ workspaceId: w.workspaceId, startTime: now(), endTime: hourAgo() })).toEqual(['end_time']);
  });

  it('prunes rollups older than the workspace retention in the background', async () => {
    const store = new RollupStore(s.sluice.deps.orm);
    const old = Math.floor(Date.now() / 1000 / 86400) * 86400 - 40 * 86400;
    const dims = (workspaceId: string) => ({ workspaceId, gateway: 'g', model: 'm', provider: 'p', apiKeyId: '', route: '', status: 200 });
    const keepsLonger = (await w.client.workspaces.createWorkspace({ workspace: { name: 'keeps-longer', logRetentionDays: 100 } })).workspace!;
    const cells = [w.workspaceId, keepsLonger.id].map((id) => ({ ...emptyCell(dims(id), 86400, old), requests: 1 }));
    await store.merge(cells);
    const deleted = await s.sluice.telemetry.retention.runOnce();
    expect(deleted).toBeGreaterThanOrEqual(1);
    const left: { workspace_id: string }[] = await s.sluice.deps.orm.em.getConnection().execute('select workspace_id from metric_rollups where bucket_start = ?', [old], 'all');
    expect(left.map((r) => r.workspace_id)).toEqual([keepsLonger.id]);
    expect(await s.sluice.deps.orm.em.fork().count(WorkspaceEntity, { id: keepsLonger.id })).toBe(1);
  });

  it('flushes what is pending on shutdown', async () => {
    const other = await startTestServer(dialect, { metricsFlushMs: 60_000 });
    try {
      const ws = await buildWorkspace(other, { workspace: 'shutdown', providers: [{ name: 'a', type: ProviderType.OPENAI, baseUrl: a.url, models: ['gpt-4o'] }] });
      const client = new OpenAI({ baseURL: `${other.baseUrl}/v1`, apiKey: ws.apiKey, maxRetries: 0 });
      for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'a/gpt-4o', messages: [{ role: 'user', content: 'bye' }] });
      expect(await countRows(other)).toBe(0);
      const orm = other.sluice.deps.orm;
      const target: DatabaseTarget = dialect === 'sqlite' ? { dialect, path: orm.config.get('dbName') as string } : { dialect, url: orm.config.get('clientUrl') as string };
      await other.sluice.close();
      const reopened = await openOrm(target);
      try {
        const rows: { n: number | string }[] = await reopened.em.getConnection().execute('select sum(requests) as n from metric_rollups where resolution = 60', [], 'all');
        expect(Number(rows[0]!.n)).toBe(3);
      } finally {
        await reopened.close(true);
      }
    } finally {
      // The server is closed already; drop its database and files.
      other.sluice.close = async () => {};
      await other.close();
    }
  });
});

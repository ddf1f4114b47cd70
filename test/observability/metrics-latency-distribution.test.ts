/**
 * QueryMetrics' latency distribution on SQLite and PostgreSQL: rollups of
 * known latencies spread over three days (so the answer merges day, hour,
 * quarter-hour and minute rows) come back as the merged sketch's buckets,
 * every request of the range counted once, each latency in the bucket
 * within 1% of it, groups left out by `limit` included; over Connect and
 * tRPC, and only when asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSluiceClient } from '@sluice/client';
import { MetricsDimension } from '@sluice/client/gen/metrics';
import { createSluiceTrpcClient } from '@sluice/trpc-client';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { withCoarser } from '../../src/observability/metrics/recorder.js';
import { addToCell, bucketOf, emptyCell, type RollupCell } from '../../src/observability/metrics/rollup.js';
import { RELATIVE_ACCURACY } from '../../src/observability/metrics/sketch.js';
import { RollupStore } from '../../src/observability/metrics/store.js';

/** Latencies, ms, and how many requests had each: far enough apart that each is its own bucket. */
const LATENCIES: [number, number][] = [
  [12, 40],
  [150, 300],
  [900, 55],
  [4000, 5],
];
const MODELS = ['p/a', 'p/b', 'q/c'];

describe.each(DIALECTS)('latency distribution on %s', (dialect) => {
  let s: RunningSluice;
  let workspaceId: string;
  const end = Math.floor(Date.now() / 86_400_000) * 86_400; // today 00:00 UTC, epoch s
  const start = end - 3 * 86_400;
  const total = LATENCIES.reduce((n, [, c]) => n + c, 0);

  beforeAll(async () => {
    s = await startTestServer(dialect, { metricsFlushMs: 60_000 });
    const client = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    workspaceId = (await client.workspaces.createWorkspace({ workspace: { name: 'histogram' } })).workspace!.id;
    const minutes = new Map<string, RollupCell>();
    let n = 0;
    for (const [latencyMs, count] of LATENCIES) {
      for (let i = 0; i < count; i++, n++) {
        // Spread over the three days, off the hour so minute and quarter rows are read too.
        const at = (start + 7 * 60 + ((n * 7_919 * 60) % (3 * 86_400 - 14 * 60))) * 1000;
        const model = MODELS[n % MODELS.length]!;
        const dims = { workspaceId, gateway: 'g', model, provider: model.split('/')[0]!, apiKeyId: 'k', route: 'r', status: 200 };
        const key = `${bucketOf(at, 60)}|${model}`;
        let cell = minutes.get(key);
        if (!cell) minutes.set(key, (cell = emptyCell(dims, 60, bucketOf(at, 60))));
        addToCell(cell, { ...dims, startedAt: at, latencyMs, ttftMs: 1, fallback: false, promptTokens: 1, completionTokens: 1, cachedTokens: 0, reasoningTokens: 0, costNanos: 1n });
      }
    }
    await new RollupStore(s.sluice.deps.orm).merge(withCoarser(minutes.values()));
  });

  afterAll(async () => {
    await s?.close();
  });

  const range = () => ({ workspaceId, startTime: { seconds: BigInt(start + 3 * 60), nanos: 0 }, endTime: { seconds: BigInt(end - 2 * 60), nanos: 0 } });

  it('answers every request of the range, each latency within 1% of its bucket, groups left out by limit included', async () => {
    const client = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const res = await client.metrics.queryMetrics({ ...range(), totalsOnly: true, groupBy: [MetricsDimension.MODEL], limit: 1, includeLatencyDistribution: true });
    expect(res.series).toHaveLength(1);
    expect(res.omittedGroups).toBe(2);
    expect(Number(res.total!.requests)).toBe(total);
    const buckets = res.latencyDistribution.map((b) => ({ valueMs: b.valueMs, count: Number(b.count) }));
    expect(buckets).toHaveLength(LATENCIES.length);
    buckets.forEach((b, i) => {
      const [latencyMs, count] = LATENCIES[i]!;
      expect(b.count).toBe(count);
      expect(Math.abs(b.valueMs - latencyMs) / latencyMs).toBeLessThanOrEqual(RELATIVE_ACCURACY);
    });
    // The percentiles of the same answer read off the same buckets.
    expect(res.total!.latencyP50Ms).toBeCloseTo(buckets[1]!.valueMs, 3);
  });

  it('counts only the range and the filters asked for', async () => {
    const client = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const res = await client.metrics.queryMetrics({ ...range(), model: 'p/a', includeLatencyDistribution: true });
    const sum = res.latencyDistribution.reduce((n, b) => n + Number(b.count), 0);
    expect(sum).toBe(Number(res.total!.requests));
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(total);
  });

  it('is left out unless asked for, and answers the same over tRPC', async () => {
    const client = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    expect((await client.metrics.queryMetrics({ ...range(), totalsOnly: true })).latencyDistribution).toEqual([]);
    const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const r = range();
    const res = await trpc.metrics.queryMetrics.query({
      workspaceId,
      startTime: new Date(Number(r.startTime.seconds) * 1000).toISOString(),
      endTime: new Date(Number(r.endTime.seconds) * 1000).toISOString(),
      totalsOnly: true,
      includeLatencyDistribution: true,
    });
    expect(res.latencyDistribution?.map((b) => Number(b.count))).toEqual(LATENCIES.map(([, c]) => c));
  });
});

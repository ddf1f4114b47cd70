/**
 * Dashboard load time with a million logged requests: starts Sluice on
 * PostgreSQL (or SQLite), seeds one million request-log rows over 30 days
 * (SQL) and the rollups of the same million requests (the recorder's own
 * aggregation code, as test/bench/metrics-query.ts does), then opens pages in
 * headless Chromium with a logged-in session and times navigation start →
 * the data on screen.
 *
 *   node --import tsx test/ui/load-time.ts [postgresql|sqlite]
 *   LOAD_REQUESTS=200000 node --import tsx test/ui/load-time.ts
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createSluiceClient } from '@sluice/client';
import { MetricsDimension } from '../../src/gen/sluice/v1/metrics_pb.js';
import { withCoarser } from '../../src/observability/metrics/recorder.js';
import { addToCell, bucketOf, dimensionKey, emptyCell, type CellInput, type RollupCell } from '../../src/observability/metrics/rollup.js';
import { RollupStore } from '../../src/observability/metrics/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { startSluice } from '../../src/bootstrap.js';
import { openOrm } from '../../src/db/orm.js';
import { createTestDatabase } from '../helpers/database.js';

const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 1_000_000);
const DAYS = 30;
const dialect = (process.argv[2] ?? 'postgresql') as 'postgresql' | 'sqlite';
const MODELS = ['mock/small', 'mock/large', 'openai/gpt-4o', 'anthropic/claude-sonnet-4-5'];
const GATEWAYS = ['prod', 'staging', 'batch'];

async function main() {
  execFileSync(join(process.cwd(), 'node_modules', '.bin', 'vite'), ['build', '--config', 'src/ui/vite.config.ts'], { stdio: 'inherit' });
  const db = await createTestDatabase(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-load-'));
  const target = db.target.dialect === 'sqlite' ? { dialect: 'sqlite' as const, path: join(dataDir, 'sluice.db') } : db.target;
  const rootToken = `sluice-root-load-${randomBytes(12).toString('hex')}`;
  const sluice = await startSluice(
    { host: '127.0.0.1', port: 0, dataDir, database: target, adminToken: rootToken, masterKey: randomBytes(32).toString('hex'), logLevel: 'silent', demo: 'off' },
    () => {},
  );
  const s = { baseUrl: await sluice.app.listen({ host: '127.0.0.1', port: 0 }), rootToken };
  const orm = await openOrm(target);
  try {
    const client = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const ws = (await client.workspaces.createWorkspace({ workspace: { name: 'load' } })).workspace!;
    const conn = orm.em.getConnection();
    const end = Date.now();
    const start = end - DAYS * 86_400_000;

    let t = Date.now();
    const batch = 100_000;
    for (let from = 0; from < REQUESTS; from += batch) {
      const to = Math.min(REQUESTS, from + batch) - 1;
      if (dialect === 'postgresql') {
        await conn.execute(
          `insert into request_logs (id, time, workspace_id, gateway, api_key_id, api_key_prefix, endpoint, requested_model, provider, model, route, cel_results, attempts, status, latency_ms, prompt_tokens, completion_tokens, cost_nanos, rate_limits, spend_limits)
           select 'req_load_' || lpad(i::text, 8, '0'), to_timestamp((${start} + (i::bigint * ${DAYS * 86_400_000}) / ${REQUESTS}) / 1000.0), '${ws.id}',
                  (array['prod','staging','batch'])[1 + i % 3], 'key_' || (i % 50), 'sk-sluice-load', 'chat_completions', 'mock/small', 'mock', 'small', 'default',
                  '{}', '[]', case when i % 50 = 0 then 500 else 200 end, 200 + (i::bigint * 7919) % 1800, 300, 100, 170000, '[]', '[]'
           from generate_series(${from}, ${to}) as i`,
        );
      } else {
        await conn.execute(
          `with recursive seq(i) as (select ${from} union all select i + 1 from seq where i < ${to})
           insert into request_logs (id, time, workspace_id, gateway, api_key_id, api_key_prefix, endpoint, requested_model, provider, model, route, cel_results, attempts, status, latency_ms, prompt_tokens, completion_tokens, cost_nanos, rate_limits, spend_limits)
           select 'req_load_' || printf('%08d', i), ${start} + (i * ${DAYS * 86_400_000}) / ${REQUESTS}, '${ws.id}',
                  case i % 3 when 0 then 'prod' when 1 then 'staging' else 'batch' end, 'key_' || (i % 50), 'sk-sluice-load', 'chat_completions', 'mock/small', 'mock', 'small', 'default',
                  '{}', '[]', case when i % 50 = 0 then 500 else 200 end, 200 + (i * 7919) % 1800, 300, 100, 170000, '[]', '[]'
           from seq`,
        );
      }
      process.stdout.write(`\r  request_logs: ${to + 1} rows`);
    }
    console.log(` in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    t = Date.now();
    const store = new RollupStore(orm);
    const perDay = Math.floor(REQUESTS / DAYS);
    for (let d = 0; d < DAYS; d++) {
      const minutes = new Map<string, RollupCell>();
      for (let i = 0; i < perDay; i++) {
        const n = d * perDay + i;
        const at = start + Math.floor((n * DAYS * 86_400_000) / REQUESTS);
        const status = n % 50 === 0 ? 500 : 200;
        const input: CellInput = {
          workspaceId: ws.id,
          gateway: GATEWAYS[n % 3]!,
          model: MODELS[n % 4]!,
          provider: MODELS[n % 4]!.split('/')[0]!,
          apiKeyId: `key_${n % 50}`,
          route: 'default',
          status,
          startedAt: at,
          latencyMs: 200 + ((n * 7919) % 1800),
          ttftMs: 100,
          fallback: n % 33 === 0,
          promptTokens: 300,
          completionTokens: 100,
          cachedTokens: 0,
          reasoningTokens: 0,
          costNanos: 170_000n,
        };
        const minute = bucketOf(at, 60);
        const k = `${minute}\u0001${dimensionKey(input)}`;
        let cell = minutes.get(k);
        if (!cell) minutes.set(k, (cell = emptyCell(input, 60, minute)));
        addToCell(cell, input);
      }
      await store.merge(withCoarser(minutes.values()));
      process.stdout.write(`\r  rollups: day ${d + 1}/${DAYS}`);
    }
    console.log(` in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    if (dialect === 'postgresql') await conn.execute('analyze');

    const browser = await chromium.launch({ executablePath: process.env.SLUICE_TEST_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    await context.addInitScript((token) => sessionStorage.setItem('sluice.token', token), s.rootToken);
    const page = await context.newPage();
    // What each page shows once its data is in; besides, nothing on the page may still be busy (aria-busy).
    const pages: [string, string, string][] = [
      ['overview, last hour', '/ui/', '[data-testid="totals"][aria-busy="false"]'],
      ['overview, 30 days', '/ui/?range=30d', '[data-testid="totals"][aria-busy="false"]'],
      ['analytics, 30 days', '/ui/analytics?range=30d', 'table[aria-label="Model comparison"] tbody tr, figure[aria-label="Latency histogram"] canvas'],
      ['request logs, 30 days', '/ui/logs?range=30d', 'table[aria-label="Request logs"] tbody tr'],
      ['request logs, 30 days, status 5xx', '/ui/logs?range=30d&status=5xx', 'table[aria-label="Request logs"] tbody tr'],
    ];
    console.log(`\n${dialect}, ${REQUESTS.toLocaleString('en')} requests, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('| page | median ms | slowest ms (5 loads) |\n|---|---:|---:|');
    for (const [label, path, selector] of pages) {
      const times: number[] = [];
      for (let i = 0; i < 6; i++) {
        await page.goto(`${s.baseUrl}${path}`);
        await page.waitForFunction((sels) => sels.split(', ').every((sel) => document.querySelector(sel)) && !document.querySelector('main [aria-busy="true"]'), selector, { timeout: 30_000 });
        const ms = await page.evaluate(() => performance.now());
        if (i > 0) times.push(ms);
      }
      times.sort((a, b) => a - b);
      console.log(`| ${label} | ${times[2]!.toFixed(0)} | ${times[4]!.toFixed(0)} |`);
      if (process.env.LOAD_RPC_TIMES) {
        // Where the last load's time went: each tRPC batch (procedures, start and end after navigation start).
        const rpcs = await page.evaluate(() =>
          performance
            .getEntriesByType('resource')
            .filter((e) => e.name.includes('/trpc/'))
            .map((e) => `${decodeURIComponent(new URL(e.name).pathname.slice(6))} ${e.startTime.toFixed(0)}→${(e as PerformanceResourceTiming).responseEnd.toFixed(0)} ms`),
        );
        for (const r of rpcs) console.log(`    ${r}`);
      }
    }
    await browser.close();
    if (process.env.LOAD_RPC_TIMES) {
      await rpcTimes(client, ws.id, start, end);
      await explainReads(conn, ws.id, end);
    }
  } finally {
    await orm.close();
    await sluice.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Server time of the analytics page's calls one at a time (Connect, JSON): median of 5 after one warm-up. */
async function rpcTimes(client: ReturnType<typeof createSluiceClient>, workspaceId: string, start: number, end: number): Promise<void> {
  const range = { workspaceId, startTime: timestampFromDate(new Date(start)), endTime: timestampFromDate(new Date(end)) };
  const calls: [string, () => Promise<unknown>][] = [
    ['QueryMetrics by model, totals', () => client.metrics.queryMetrics({ ...range, totalsOnly: true, groupBy: [MetricsDimension.MODEL] })],
    ['QueryMetrics by model, totals and latency distribution', () => client.metrics.queryMetrics({ ...range, totalsOnly: true, groupBy: [MetricsDimension.MODEL], includeLatencyDistribution: true })],
    ['QueryMetrics by provider, totals', () => client.metrics.queryMetrics({ ...range, totalsOnly: true, groupBy: [MetricsDimension.PROVIDER] })],
    ['QueryMetrics by API key, totals', () => client.metrics.queryMetrics({ ...range, totalsOnly: true, groupBy: [MetricsDimension.API_KEY] })],
    ['GetSpendSummary', () => client.metrics.getSpendSummary({ workspaceId })],
    ['ListRequestLogs, 1,000', () => client.logs.listRequestLogs({ ...range, pageSize: 1000 })],
  ];
  console.log(`\nserver time per call, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const [label, call] of calls) {
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      await call();
      if (i > 0) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`  ${label}: median ${times[2]!.toFixed(1)} ms, slowest ${times[4]!.toFixed(1)} ms`);
  }
}

/** The plans of the rollup reads of a 30-day totals query by model: whole days (model projection) and the minutes at an edge (every dimension). */
async function explainReads(conn: { execute: (sql: string, params: unknown[], method: 'all') => Promise<unknown> }, workspaceId: string, end: number): Promise<void> {
  const day = Math.floor(end / 86_400_000) * 86_400;
  const minute = Math.floor(end / 60_000) * 60;
  const reads: [string, unknown[]][] = [
    ['days, model projection', [workspaceId, 86400, 2, day - 29 * 86_400, day]],
    ['minutes, full projection', [workspaceId, 60, 63, minute - 14 * 60, minute + 60]],
  ];
  const sql = 'select bucket_start, model, requests, errors, fallbacks, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos, latency_sum_ms, latency_sketch, ttft_sketch from metric_rollups where workspace_id = ? and resolution = ? and projection = ? and bucket_start >= ? and bucket_start < ?';
  for (const [label, params] of reads) {
    const plan = (await conn.execute(`${dialect === 'postgresql' ? 'explain analyze' : 'explain query plan'} ${sql}`, params, 'all')) as Record<string, unknown>[];
    console.log(`\nplan of the rollup read, ${label}:\n${plan.map((r) => `  ${String(r['QUERY PLAN'] ?? r.detail)}`).join('\n')}`);
  }
}

await main();

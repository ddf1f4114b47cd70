/**
 * Metrics query benchmark: seeds the rollups of one million requests spread
 * over 30 days (through the same aggregation and merge code the recorder
 * uses) into SQLite and PostgreSQL, then times QueryMetrics shapes the
 * dashboard asks for.
 *
 *   npm run bench:metrics                     # both dialects
 *   npm run bench:metrics -- sqlite           # one
 *   BENCH_REQUESTS=200000 npm run bench:metrics
 *
 * The traffic: 3 gateways, 8 models on 3 providers, 50 API keys (each on one
 * gateway, using 2 models), 3 routes; statuses 200 (96%), 429 (2%), 500 (1%),
 * 401 (1%); latency log-normal around 800 ms, TTFT around 250 ms; 3%
 * fallbacks. Each query runs 7 times after one warm-up; the median and the
 * slowest are printed, with the machine's load average.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openOrm, type DatabaseTarget, type Orm } from '../../src/db/orm.js';
import { queryMetrics, type MetricsQuery } from '../../src/observability/metrics/query.js';
import { withCoarser } from '../../src/observability/metrics/recorder.js';
import { addToCell, bucketOf, dimensionKey, emptyCell, type CellInput, type RollupCell } from '../../src/observability/metrics/rollup.js';
import { RollupStore } from '../../src/observability/metrics/store.js';
import { createTestDatabase } from '../helpers/database.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1_000_000);
const DAYS = 30;
const WORKSPACE = 'ws_bench';

/** Deterministic PRNG (mulberry32) so every run seeds the same data. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODELS = [
  ['openai', 'gpt-4o'],
  ['openai', 'gpt-4o-mini'],
  ['openai', 'o3'],
  ['anthropic', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-haiku-4-5'],
  ['google', 'gemini-2.5-pro'],
  ['google', 'gemini-2.5-flash'],
  ['openai', 'text-embedding-3-small'],
] as const;
const GATEWAYS = ['prod', 'staging', 'batch'];
const ROUTES = ['default', 'cheap', 'long-context'];

async function seed(orm: Orm): Promise<{ rows: number; seconds: number; end: number }> {
  const random = rng(42);
  const gauss = () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
  const keys = Array.from({ length: 50 }, (_, i) => ({ id: `key_${String(i).padStart(3, '0')}`, gateway: GATEWAYS[i % 3]!, models: [i % 8, (i * 3 + 1) % 8] }));
  const store = new RollupStore(orm);
  const end = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  const start = end - DAYS * 86_400_000;
  const perDay = Math.floor(REQUESTS / DAYS);
  const started = Date.now();
  let rows = 0;
  for (let d = 0; d < DAYS; d++) {
    const minutes = new Map<string, RollupCell>();
    for (let i = 0; i < perDay; i++) {
      const at = start + d * 86_400_000 + Math.floor(random() * 86_400_000);
      const key = keys[Math.floor(random() * keys.length)]!;
      const [provider, model] = MODELS[key.models[random() < 0.7 ? 0 : 1]!]!;
      const r = random();
      const status = r < 0.96 ? 200 : r < 0.98 ? 429 : r < 0.99 ? 500 : 401;
      const ok = status === 200;
      const input: CellInput = {
        workspaceId: WORKSPACE,
        gateway: key.gateway,
        model: `${provider}/${model}`,
        provider,
        apiKeyId: key.id,
        route: ROUTES[Math.floor(random() * 3)]!,
        status,
        startedAt: at,
        latencyMs: Math.exp(Math.log(800) + 0.6 * gauss()),
        ttftMs: ok ? Math.exp(Math.log(250) + 0.5 * gauss()) : undefined,
        fallback: random() < 0.03,
        promptTokens: ok ? 200 + Math.floor(random() * 2000) : 0,
        completionTokens: ok ? 50 + Math.floor(random() * 500) : 0,
        cachedTokens: ok && random() < 0.3 ? 100 : 0,
        reasoningTokens: ok && model === 'o3' ? 200 : 0,
        costNanos: ok ? BigInt(1000 + Math.floor(random() * 5_000_000)) : 0n,
      };
      const minute = bucketOf(at, 60);
      const k = `${minute}\u0001${dimensionKey(input)}`;
      let cell = minutes.get(k);
      if (!cell) minutes.set(k, (cell = emptyCell(input, 60, minute)));
      addToCell(cell, input);
    }
    const cells = withCoarser(minutes.values());
    rows += cells.length;
    await store.merge(cells);
    process.stdout.write(`\r  seeded day ${d + 1}/${DAYS} (${rows} rows)`);
  }
  process.stdout.write('\n');
  return { rows, seconds: (Date.now() - started) / 1000, end: end / 1000 };
}

async function time(label: string, run: () => Promise<unknown>): Promise<string> {
  await run();
  const ms: number[] = [];
  let info = '';
  for (let i = 0; i < 7; i++) {
    const t = process.hrtime.bigint();
    const out = (await run()) as { series: unknown[] };
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    info = `${out.series.length} series`;
  }
  ms.sort((a, b) => a - b);
  return `| ${label} | ${ms[3]!.toFixed(0)} ms | ${ms[6]!.toFixed(0)} ms | ${info} |`;
}

async function benchDialect(dialect: 'sqlite' | 'postgresql'): Promise<void> {
  let target: DatabaseTarget;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-metrics-'));
    target = { dialect, path: join(dir, 'sluice.db') };
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const db = await createTestDatabase('postgresql');
    target = db.target;
    cleanup = db.drop;
  }
  const orm = await openOrm(target);
  try {
    await migrate(orm);
    console.log(`\n${dialect}: seeding ${REQUESTS.toLocaleString('en')} requests over ${DAYS} days`);
    const seeded = await seed(orm);
    console.log(`  ${seeded.rows} rollup rows (minute + hour + day) in ${seeded.seconds.toFixed(1)} s`);
    if (dialect === 'postgresql') await orm.em.getConnection().execute('analyze metric_rollups');
    const store = new RollupStore(orm);
    const base: MetricsQuery = { workspaceId: WORKSPACE, from: seeded.end - DAYS * 86400, to: seeded.end, groupBy: [], filter: {}, limit: 0, totalsOnly: false };
    const lines = [
      '| query | median | slowest of 7 | answer |',
      '|---|---|---|---|',
      await time('30 days, auto bucket (6 h), totals + series + p50/p95/p99', () => queryMetrics(store, base)),
      await time('30 days, auto bucket, group by model', () => queryMetrics(store, { ...base, groupBy: ['model'] })),
      await time('30 days, group by API key, totals only, top 10', () => queryMetrics(store, { ...base, groupBy: ['apiKeyId'], totalsOnly: true, limit: 10 })),
      await time('30 days, 1 h buckets, gateway = prod, group by status', () => queryMetrics(store, { ...base, bucketSeconds: 3600, filter: { gateway: 'prod' }, groupBy: ['status'] })),
      await time('last 24 h, 15 min buckets, group by provider', () => queryMetrics(store, { ...base, from: seeded.end - 86400, groupBy: ['provider'] })),
      await time('last 1 h, 1 min buckets, group by model', () => queryMetrics(store, { ...base, from: seeded.end - 3600, groupBy: ['model'] })),
    ];
    console.log(`  load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
    console.log(lines.join('\n'));
  } finally {
    await orm.close(true);
    if (process.env.BENCH_KEEP) console.log(`kept ${JSON.stringify(target)}`);
    else await cleanup();
  }
}

const wanted = process.argv.slice(2).filter((a) => a === 'sqlite' || a === 'postgresql') as ('sqlite' | 'postgresql')[];
console.log(`load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const dialect of wanted.length ? wanted : (['sqlite', 'postgresql'] as const)) await benchDialect(dialect);

/**
 * The Node-side load generators of the benchmark, run as their own process
 * (pinned to the load-generator core by the runner). One JSON spec in, one
 * `LOADGEN_JSON {…}` line out. Latencies are in milliseconds with
 * microsecond resolution (autocannon's own histogram keeps whole
 * milliseconds, so its per-response times are collected from its events).
 *
 * Modes:
 * - `closed`: autocannon, closed loop (`connections` in flight), the fallback when wrk is absent.
 * - `rate`:   autocannon with `overallRate` (fixed rate). autocannon meters each connection
 *             per one-second window, so arrivals come in bursts at each second's start.
 * - `paced`:  an open-loop generator on undici: requests are sent on a fixed schedule
 *             (1/rate apart) whatever the previous ones are doing; latency from the send.
 * - `stream`: sequential streaming requests, alternating the targets request by request,
 *             timing each whole stream (request sent → last byte).
 *
 *   node --import tsx test/bench/loadgen.ts '<json spec>'
 */
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { Pool } from 'undici';

const require = createRequire(import.meta.url);

export interface Target {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type Spec =
  | { mode: 'closed'; target: Target; connections: number; seconds: number; warmupSeconds: number }
  | { mode: 'rate'; target: Target; connections: number; rate: number; seconds: number; warmupSeconds: number }
  | { mode: 'paced'; target: Target; connections: number; rate: number; seconds: number; warmupSeconds: number }
  | { mode: 'stream'; targets: Record<string, Target>; chunks: number[]; requests: number; warmupRequests: number };

export interface LatencyStats {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  non2xx: number;
  errors: number;
  latency: LatencyStats;
  /** autocannon's own (whole-millisecond) histogram, when autocannon ran. */
  autocannonLatency?: { p50: number; p99: number };
}

export function stats(values: number[]): LatencyStats {
  const a = Float64Array.from(values).sort();
  const at = (q: number) => (a.length ? a[Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1))]! : NaN);
  let sum = 0;
  for (const v of a) sum += v;
  return { count: a.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: a.length ? a[a.length - 1]! : NaN, mean: a.length ? sum / a.length : NaN };
}

interface AutocannonResult {
  start: Date;
  finish: Date;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p99: number };
}
type AutocannonInstance = NodeJS.EventEmitter & { stop(): void };
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

async function autocannonRun(target: Target, opts: { connections: number; seconds: number; rate?: number }): Promise<LoadResult> {
  const autocannon = require('autocannon') as Autocannon;
  const latencies: number[] = [];
  let non2xx = 0;
  const t0 = performance.now();
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body: target.body,
        connections: opts.connections,
        duration: opts.seconds,
        pipelining: 1,
        ...(opts.rate ? { overallRate: opts.rate } : {}),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      else non2xx++;
    });
  });
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000 || (performance.now() - t0) / 1000;
  return {
    requests: latencies.length + non2xx,
    seconds,
    rps: latencies.length / seconds,
    non2xx,
    errors: result.errors + result.timeouts,
    latency: stats(latencies),
    autocannonLatency: { p50: result.latency.p50, p99: result.latency.p99 },
  };
}

async function pacedRun(target: Target, opts: { connections: number; seconds: number; rate: number }): Promise<LoadResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const headers = { 'content-type': 'application/json', ...target.headers };
  const total = Math.round(opts.rate * opts.seconds);
  const interval = 1000 / opts.rate;
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let inflight = 0;
  let maxInflight = 0;
  const pending: Promise<void>[] = [];
  const fire = async () => {
    inflight++;
    if (inflight > maxInflight) maxInflight = inflight;
    const sent = performance.now();
    try {
      const res = await pool.request({ path: url.pathname + url.search, method: 'POST', headers, body: target.body });
      await res.body.arrayBuffer();
      if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - sent);
      else non2xx++;
    } catch {
      errors++;
    } finally {
      inflight--;
    }
  };
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < due) {
        pending.push(fire());
        sent++;
      }
      if (sent < total) setTimeout(tick, 0);
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return { requests: sent, seconds, rps: latencies.length / seconds, non2xx, errors, latency: { ...stats(latencies) }, ...{ maxInflight } };
}

async function streamRun(spec: Extract<Spec, { mode: 'stream' }>): Promise<Record<string, Record<number, LatencyStats & { errors: number }>>> {
  const names = Object.keys(spec.targets);
  const pools = new Map(names.map((n) => [n, new Pool(new URL(spec.targets[n]!.url).origin, { connections: 1, pipelining: 1 })]));
  const out: Record<string, Record<number, LatencyStats & { errors: number }>> = {};
  for (const n of names) out[n] = {};
  const once = async (name: string, chunks: number): Promise<number | undefined> => {
    const t = spec.targets[name]!;
    const url = new URL(t.url);
    const started = performance.now();
    try {
      const res = await pools.get(name)!.request({
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...t.headers, 'x-bench-chunks': String(chunks) },
        body: t.body,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200 || !text.includes('[DONE]')) return undefined;
      return performance.now() - started;
    } catch {
      return undefined;
    }
  };
  for (const chunks of spec.chunks) {
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const errs: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (let i = 0; i < spec.warmupRequests + spec.requests; i++) {
      // Alternate which target goes first, so neither always runs right after the other.
      const order = i % 2 ? [...names].reverse() : names;
      for (const n of order) {
        const ms = await once(n, chunks);
        if (i < spec.warmupRequests) continue;
        if (ms === undefined) errs[n]!++;
        else times[n]!.push(ms);
      }
    }
    for (const n of names) out[n]![chunks] = { ...stats(times[n]!), errors: errs[n]! };
  }
  await Promise.all([...pools.values()].map((p) => p.close()));
  return out;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? process.env.BENCH_SPEC ?? '') as Spec;
  let result: unknown;
  if (spec.mode === 'stream') {
    result = await streamRun(spec);
  } else {
    const run = (seconds: number) =>
      spec.mode === 'paced'
        ? pacedRun(spec.target, { connections: spec.connections, seconds, rate: spec.rate })
        : autocannonRun(spec.target, { connections: spec.connections, seconds, rate: spec.mode === 'rate' ? spec.rate : undefined });
    if (spec.warmupSeconds > 0) await run(spec.warmupSeconds);
    result = await run(spec.seconds);
  }
  process.stdout.write(`LOADGEN_JSON ${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`loadgen: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

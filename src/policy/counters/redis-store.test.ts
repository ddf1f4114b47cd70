/**
 * What only the Redis store has: key layout and TTLs, two replicas on one Redis, and outages.
 * Needs Redis at REDIS_URL (fails without it) and `redis-server` on the PATH for a private
 * server this file starts, stops, freezes and restarts on a spare port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CounterStoreUnavailable } from './errors.js';
import { createRedisCounterStore, type RedisCounterStore, type RedisCounterStoreOptions } from './redis-store.js';
import type { BudgetReserve, RateCheck } from './types.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `sluice-test:${randomUUID().slice(0, 8)}:`;
const stores: RedisCounterStore[] = [];
let admin: Redis;

async function open(options: Partial<RedisCounterStoreOptions> = {}, ready = true): Promise<RedisCounterStore> {
  const store = createRedisCounterStore({ url: REDIS_URL, prefix, ...options });
  stores.push(store);
  if (ready) await store.whenReady(2000);
  return store;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A private redis-server this test owns, so that stopping it disturbs nobody else. */
class SpareRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.child = undefined;
    child.kill('SIGCONT');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(signal);
  }
}

/** Milliseconds a call takes to reject, and its error. */
async function rejection(call: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const start = performance.now();
  try {
    await call();
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
  throw new Error('expected the call to reject');
}

/** Polls until the call succeeds, for at most `timeoutMs`; returns how long that took. */
async function recovers(call: () => Promise<unknown>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    try {
      await call();
      return performance.now() - start;
    } catch (err) {
      if (!(err instanceof CounterStoreUnavailable)) throw err;
      if (performance.now() - start > timeoutMs) throw new Error(`no recovery within ${timeoutMs} ms`, { cause: err });
      await sleep(50);
    }
  }
}

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;
const rate = (key: string, limit = 5): RateCheck => ({ key, windowMs: 60_000, limit, burst: 0, cost: 1 });
const budget = (key: string): BudgetReserve => ({
  key,
  periodKey: '2026-12',
  limitNanos: 10_000_000n,
  amountNanos: 1_000_000n,
  expireAtMs: Date.now() + 3_600_000,
  block: true,
});

beforeAll(async () => {
  admin = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await admin.connect().catch((err: unknown) => {
    throw new Error(`these tests need Redis at ${REDIS_URL} (start it with: redis-server --daemonize yes --port 6379 --save "" --appendonly no)`, { cause: err });
  });
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

describe('redis counter store', () => {
  it('namespaces every key under its prefix and gives each a TTL', async () => {
    const store = await open();
    const key = uid('layout');
    const checked = await store.checkRates([{ ...rate(key), windowMs: 1000 }]);
    const reservation = await store.reserveBudgets([budget(key)]);
    await store.adjustRates([{ key, windowMs: 1000, chargedAtMs: checked.atMs, delta: 2 }]);
    const keys = (await admin.keys(`${prefix}*${key}*`)).concat(await admin.keys(`${prefix}budget:r:*`)).sort();
    expect(keys).toEqual(
      [`${prefix}budget:c:2026-12:${key}`, `${prefix}budget:h:2026-12:${key}`, `${prefix}budget:r:${reservation.reservationId}`, `${prefix}rl:1000:${key}`].sort(),
    );
    for (const k of keys) expect(await admin.pttl(k)).toBeGreaterThan(0);
    // A rate counter lives until the end of the window after its current one.
    expect(await admin.pttl(`${prefix}rl:1000:${key}`)).toBeLessThanOrEqual(2000);
    // Money is stored as exact decimal strings.
    expect(await admin.hgetall(`${prefix}budget:c:2026-12:${key}`)).toEqual({ r: '1000000' });
  });

  it('shares limits and budgets exactly between two replicas with their own connections', async () => {
    const name = uid('replica');
    const a = await open({ connectionName: `${name}-a` });
    const b = await open({ connectionName: `${name}-b` });
    const clients = String(await admin.client('LIST'));
    expect(clients).toContain(`name=${name}-a`);
    expect(clients).toContain(`name=${name}-b`);

    const shared = budget(uid('shared-budget'));
    const reservations = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).reserveBudgets([shared])));
    const admitted = reservations.filter((r) => r.allowed);
    expect(admitted).toHaveLength(10);
    await Promise.all(admitted.map((r, i) => (i % 2 ? b : a).settleBudget(r.reservationId!, 900_000n)));
    expect(await a.spend(shared.key, shared.periodKey)).toEqual({ settledNanos: 9_000_000n, reservedNanos: 0n });
    expect((await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).reserveBudgets([shared])))).filter((r) => r.allowed)).toHaveLength(1);

    const limit = rate(uid('shared-rate'));
    const checks = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).checkRates([limit])));
    expect(checks.filter((r) => r.allowed)).toHaveLength(5);
  });

  it('rejects with CounterStoreUnavailable within 500 ms when Redis is unreachable', async () => {
    const port = await freePort();
    const errors: Error[] = [];
    const store = await open({ url: `redis://127.0.0.1:${port}`, onConnectionError: (err) => errors.push(err) }, false);
    for (const call of [() => store.checkRates([rate('x')]), () => store.reserveBudgets([budget('x')]), () => store.settleBudget(randomUUID(), 1n)]) {
      const { ms, error } = await rejection(call);
      expect(error).toBeInstanceOf(CounterStoreUnavailable);
      expect(error).toMatchObject({ kind: 'unavailable', details: { code: 'counter_store_unavailable' } });
      expect(ms).toBeLessThan(500);
    }
    const waited = await rejection(() => store.whenReady(200));
    expect(waited.error).toBeInstanceOf(CounterStoreUnavailable);
    expect(waited.ms).toBeLessThan(500);
    // Still retrying in the background, and telling the caller about it.
    await sleep(300);
    expect((await rejection(() => store.spend('x', '2026-12'))).ms).toBeLessThan(500);
    expect(errors.length).toBeGreaterThan(0);
  });

  describe('on a private server', () => {
    let spare: SpareRedis;
    beforeAll(async () => {
      spare = new SpareRedis(await freePort());
      await spare.start();
    });
    afterAll(() => spare.stop());

    it('recovers by itself when Redis restarts, reloading its scripts', async () => {
      const store = await open({ url: spare.url });
      const b = budget(uid('restart'));
      expect((await store.reserveBudgets([b])).allowed).toBe(true);

      await spare.stop();
      const down = await rejection(() => store.reserveBudgets([b]));
      expect(down.error).toBeInstanceOf(CounterStoreUnavailable);
      expect(down.ms).toBeLessThan(500);

      await spare.start();
      // The new server has no data and no cached scripts: EVALSHA gets NOSCRIPT, EVAL follows.
      expect(await recovers(() => store.spend(b.key, b.periodKey), 5000)).toBeLessThan(5000);
      expect(await store.spend(b.key, b.periodKey)).toEqual({ settledNanos: 0n, reservedNanos: 0n });
      const direct = new Redis(spare.url);
      await direct.script('FLUSH');
      await direct.quit();
      expect((await store.checkRates([rate(uid('after-flush'))])).allowed).toBe(true);
    });

    it('rejects within the command timeout while Redis hangs, then carries on', async () => {
      const store = await open({ url: spare.url });
      const limit = rate(uid('hang'));
      expect((await store.checkRates([limit])).allowed).toBe(true);
      spare.signal('SIGSTOP');
      try {
        const hung = await rejection(() => store.peekRates([limit]));
        expect(hung.error).toBeInstanceOf(CounterStoreUnavailable);
        expect(hung.ms).toBeLessThan(500);
      } finally {
        spare.signal('SIGCONT');
      }
      expect(await recovers(() => store.peekRates([limit]), 5000)).toBeLessThan(5000);
      expect((await store.peekRates([limit])).decisions[0]!.used).toBe(1);
    });
  });

  it('reconnects by itself when its connection is killed', async () => {
    const name = uid('killed');
    const store = await open({ connectionName: name });
    const limit = rate(uid('killed'));
    expect((await store.checkRates([limit])).allowed).toBe(true);
    const line = String(await admin.client('LIST'))
      .split('\n')
      .find((l) => l.includes(`name=${name}`));
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    expect(await recovers(() => store.checkRates([limit]), 5000)).toBeLessThan(5000);
    expect((await store.peekRates([limit])).decisions[0]!.used).toBe(2);
  });
});

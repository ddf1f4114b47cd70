/**
 * Two (or more) real `sluice serve` processes on one fresh PostgreSQL
 * database and, optionally, one Redis: the replica set the cluster tests run
 * against. Each replica is a separate OS process started from bin/sluice.mjs;
 * they share the admin token and master key, as replicas behind a load
 * balancer do. Also a TCP proxy in front of Redis that a test can cut and
 * restore, to take Redis away from the replicas and give it back.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSluiceClient, type SluiceClient } from '@sluice/client';
import { startServe, type ServeProcess } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

export const REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Cluster {
  replicas: ServeProcess[];
  rootToken: string;
  databaseUrl: string;
  /** A control-plane client of replica `i`, as root. */
  client(i: number): SluiceClient;
  close(): Promise<void>;
}

/** Starts `count` replicas one after the other (the first applies the migrations). */
export async function startCluster(options: { count?: number; redisUrl?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Cluster> {
  const db: TestDatabase = await createTestDatabase('postgresql');
  if (db.target.dialect !== 'postgresql') throw new Error('unreachable');
  const rootToken = `sluice-root-cluster-${randomBytes(12).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: db.target.url,
    SLUICE_ADMIN_TOKEN: rootToken,
    SLUICE_MASTER_KEY: randomBytes(32).toString('hex'),
    SLUICE_DEMO: 'off',
    SLUICE_LOG_LEVEL: 'warn',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  };
  const replicas: ServeProcess[] = [];
  try {
    for (let i = 0; i < (options.count ?? 2); i++) replicas.push(await startServe([], env));
  } catch (err) {
    await Promise.all(replicas.map((r) => r.stop()));
    await db.drop();
    throw err;
  }
  return {
    replicas,
    rootToken,
    databaseUrl: db.target.url,
    client: (i) => createSluiceClient({ baseUrl: replicas[i]!.baseUrl, token: rootToken }),
    async close() {
      await Promise.all(replicas.map((r) => r.stop()));
      await db.drop();
    },
  };
}

/** Polls `check` every `everyMs` until it holds; resolves to the ms it took, or rejects after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs = 5000, everyMs = 10): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A TCP proxy to Redis that can refuse and drop every connection (`cut`) and accept them again (`restore`). */
export interface CuttableProxy {
  url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startRedisProxy(target = REDIS_URL): Promise<CuttableProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port || 6379), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no proxy address');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    async close() {
      down = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

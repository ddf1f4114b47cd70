/**
 * The outage test on real PostgreSQL (a private server, so that stopping it
 * does not disturb other suites): a load of N requests through a running
 * Sluice, the database stopped in the middle and started again, and exactly
 * N request-log records afterwards, with the ids the clients saw. During the
 * outage every request is still served, nothing waits in memory (the queue
 * stays empty, the spill grows) and the heap stays flat while tens of MB of
 * recorded bodies go to the spill. Then a burst of requests right before a
 * graceful shutdown: all of them are in the database after close().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { ProviderType } from '@sluice/client/gen/provider';
import { startSluice, type Sluice } from '../../src/bootstrap.js';
import type { EnvConfig } from '../../src/config/env.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import type { RunningSluice } from '../helpers/server.js';
import { startOwnPostgres, type OwnPostgres } from './logs-outage/own-postgres.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const BEFORE = 300;
const DURING = 900;
const AFTER = 300;
const AT_SHUTDOWN = 200;
const CONCURRENCY = 16;
// ≈20 KB of prompt per request, recorded (gateway record_bodies): every record is ≈45 KB of JSON.
const PROMPT = 'sluice '.repeat(3000);

async function count(url: string): Promise<{ n: number; ids: Set<string> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const rows = (await c.query<{ id: string }>('select id from request_logs')).rows;
    return { n: rows.length, ids: new Set(rows.map((r) => r.id)) };
  } finally {
    await c.end();
  }
}

describe('request log through a PostgreSQL outage', () => {
  let pgServer: OwnPostgres;
  let sluice: Sluice;
  let dataDir: string;
  let w: BuiltWorkspace;
  let baseUrl: string;
  const ids: string[] = [];

  beforeAll(async () => {
    pgServer = await startOwnPostgres();
    dataDir = mkdtempSync(join(tmpdir(), 'sluice-outage-'));
    const rootToken = `sluice-root-test-${randomBytes(12).toString('hex')}`;
    const env: EnvConfig = {
      host: '127.0.0.1', port: 0, dataDir, database: { dialect: 'postgresql', url: pgServer.url }, adminToken: rootToken,
      masterKey: randomBytes(32).toString('hex'), logLevel: 'silent', demo: 'off',
    };
    sluice = await startSluice(env, () => {});
    baseUrl = await sluice.app.listen({ host: '127.0.0.1', port: 0 });
    const running = { sluice, baseUrl, rootToken, dataDir, announced: [], close: async () => {} } as RunningSluice;
    w = await buildWorkspace(running, { workspace: 'outage', providers: [{ name: 'mock', type: ProviderType.MOCK, models: ['echo'] }] });
    await w.client.gateways.updateGateway({ gateway: { id: w.gatewayId, recordBodies: true }, updateMask: { paths: ['record_bodies'] } });
    await sluice.snapshots.refresh();
  }, 120_000);
  afterAll(async () => {
    await sluice?.close().catch(() => undefined);
    pgServer?.destroy();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function load(n: number, during?: () => void): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const res = await fetch(`${baseUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${w.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'mock/echo', messages: [{ role: 'user', content: PROMPT }] }),
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        ids.push(res.headers.get('x-request-id')!);
        during?.();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  }

  it('loses nothing, keeps memory flat, replays in order, and flushes at shutdown', async () => {
    await load(BEFORE);

    pgServer.stop();
    let maxQueued = 0;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapMax = heapBefore;
    let sample = 0;
    await load(DURING, () => {
      maxQueued = Math.max(maxQueued, sluice.logs.stats().queued);
      if (++sample % 100 === 0) {
        gc();
        heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
      }
    });
    const during = sluice.logs.stats();
    gc();
    heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
    expect(during.databaseUp).toBe(false);
    // Nothing waits in memory: records that arrived before the outage was noticed went to disk with it
    // (the queue never came near its 10,000 bound), the rest went to disk directly (≈45 KB each),
    // and the heap did not grow with them.
    expect(maxQueued).toBeLessThan(1000);
    expect(during.queued).toBe(0);
    expect(during.spillBytes).toBeGreaterThan(DURING * 40_000);
    expect(heapMax - heapBefore).toBeLessThan(24 * 1024 * 1024);
    console.log(`outage: max ${maxQueued} queued before the outage was noticed; spilled ${(during.spillBytes / 1e6).toFixed(1)} MB in ${during.spillSegments} segments; heap grew ${((heapMax - heapBefore) / 1e6).toFixed(1)} MB at most`);

    pgServer.start();
    await load(AFTER);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const st = sluice.logs.stats();
      if (st.databaseUp && st.spillBytes === 0 && st.queued === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await sluice.logs.pipeline.flush();
    const total = BEFORE + DURING + AFTER;
    const stored = await count(pgServer.url);
    expect(ids).toHaveLength(total);
    expect(stored.n).toBe(total);
    expect(stored.ids).toEqual(new Set(ids));
    expect(sluice.logs.stats().dropped).toBe(0);

    // A burst, then a graceful shutdown right after: close() writes everything.
    await load(AT_SHUTDOWN);
    await sluice.close();
    const final = await count(pgServer.url);
    expect(final.n).toBe(total + AT_SHUTDOWN);
    expect(final.ids).toEqual(new Set(ids));
  }, 240_000);
});

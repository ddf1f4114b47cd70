/**
 * The log pipeline on a real SQLite database, with the database made
 * unreachable on demand (the writer's calls fail as a dropped connection
 * would): order kept through an outage and through queue overflow (SQLite's
 * rowid gives the insertion order), memory released during an outage, a
 * refused record dropped without losing its batch, shutdown while the
 * database is away leaving everything on disk for the next start, a spill
 * segment cut by a crash, and a full spill counting what it drops.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDbLogWriter, LogPipeline, SpillStore, type LogEntry, type LogWriter, type RequestLogDoc } from '../../src/observability/logs/index.js';
import { createTestDeps, type TestDeps } from '../helpers/database.js';
import { countEventLoopTurns } from '../helpers/event-loop.js';

function doc(i: number, extra: Partial<RequestLogDoc> = {}): LogEntry {
  return {
    t: 'request',
    r: {
      id: `req_${String(i).padStart(6, '0')}`, time: 1_764_590_000_000 + i, workspaceId: 'ws_1', gateway: 'main', apiKeyId: 'key_1', apiKeyPrefix: 'sk-s', endpoint: 'chat_completions',
      requestedModel: 'm', provider: 'p', model: 'm', route: '', celResults: {}, attempts: [], status: 200, errorCode: '', errorMessage: '', rejectedStage: '',
      latencyMs: 1, ttftMs: 1, promptTokens: 1, completionTokens: 1, cachedTokens: 0, reasoningTokens: 0, cacheWriteTokens: 0, costNanos: '1', rateLimits: [], spendLimits: [],
      conversationId: '', streamed: false, clientAborted: false, bodiesTruncated: false, requestHeaders: null, responseHeaders: null, requestBody: null, responseBody: null, searchText: null,
      ...extra,
    },
  };
}

/** The real writer, with a switch that makes the database unreachable and an optional refusal. */
function switchable(inner: LogWriter): LogWriter & { down: boolean; refuse?: (e: LogEntry) => boolean; delayMs: number; writes: number } {
  const w = {
    down: false,
    delayMs: 0,
    writes: 0,
    refuse: undefined as ((e: LogEntry) => boolean) | undefined,
    async write(entries: readonly LogEntry[]) {
      if (w.delayMs) await new Promise((r) => setTimeout(r, w.delayMs));
      if (w.down) throw new Error('connect ECONNREFUSED');
      if (w.refuse && entries.some(w.refuse)) throw new Error('value too long');
      w.writes++;
      await inner.write(entries);
    },
    async ping() {
      if (w.down) throw new Error('connect ECONNREFUSED');
      await inner.ping();
    },
  };
  return w;
}

describe('log pipeline on SQLite', () => {
  let t: TestDeps;
  let dir: string;
  beforeEach(async () => {
    t = await createTestDeps('sqlite');
    dir = mkdtempSync(join(tmpdir(), 'sluice-spill-'));
  });
  afterEach(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const storedIds = async () => (await t.orm.em.fork().getConnection().execute<{ id: string }[]>('select id from request_logs order by rowid')).map((r: { id: string }) => r.id);
  const fast = { flushIntervalMs: 5, retryMinMs: 10, retryMaxMs: 20 };

  it('keeps the order through an outage and releases memory while it lasts', async () => {
    const writer = switchable(createDbLogWriter(t.orm));
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir }), batchSize: 20, ...fast });
    for (let i = 0; i < 50; i++) p.enqueue(doc(i));
    await p.flush();
    writer.down = true;
    for (let i = 50; i < 100; i++) p.enqueue(doc(i));
    await p.flush(); // returns once the outage is noticed
    expect(p.stats()).toMatchObject({ databaseUp: false, queued: 0 });
    for (let i = 100; i < 600; i++) p.enqueue(doc(i));
    expect(p.stats().queued).toBe(0);
    expect(p.stats().spillBytes).toBeGreaterThan(500 * 500);
    writer.down = false;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !(p.stats().databaseUp && p.stats().spillBytes === 0)) await new Promise((r) => setTimeout(r, 10));
    await p.flush();
    expect(await storedIds()).toEqual(Array.from({ length: 600 }, (_, i) => doc(i).r.id));
    expect(p.stats()).toMatchObject({ written: 600, dropped: 0, spillBytes: 0, spillSegments: 0 });
    expect(readdirSync(dir)).toEqual([]);
    await p.close();
  });

  it('overflows a full queue to the spill, still in order', async () => {
    const writer = switchable(createDbLogWriter(t.orm));
    writer.delayMs = 20;
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir }), capacity: 10, batchSize: 5, ...fast });
    for (let i = 0; i < 200; i++) p.enqueue(doc(i));
    expect(p.stats().queued).toBeLessThanOrEqual(10);
    expect(p.stats().spillBytes).toBeGreaterThan(0);
    await p.flush();
    expect(await storedIds()).toEqual(Array.from({ length: 200 }, (_, i) => doc(i).r.id));
    await p.close();
  });

  it('drops only the record the database refuses', async () => {
    const writer = switchable(createDbLogWriter(t.orm));
    writer.refuse = (e) => e.r.id === doc(7).r.id;
    const events: string[] = [];
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir }), batchSize: 20, ...fast, onEvent: (e) => events.push(e.kind === 'rejected' ? `rejected ${e.id}` : e.kind) });
    for (let i = 0; i < 20; i++) p.enqueue(doc(i));
    await p.flush();
    expect(await storedIds()).toEqual(Array.from({ length: 20 }, (_, i) => doc(i).r.id).filter((id) => id !== doc(7).r.id));
    expect(p.stats()).toMatchObject({ written: 19, dropped: 1 });
    expect(events).toEqual([`rejected ${doc(7).r.id}`]);
    await p.close();
  });

  it('a shutdown during an outage leaves everything on disk; the next start replays it once', async () => {
    const writer = switchable(createDbLogWriter(t.orm));
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir }), batchSize: 10, ...fast, closeTimeoutMs: 100 });
    for (let i = 0; i < 5; i++) p.enqueue(doc(i));
    await p.flush();
    writer.down = true;
    for (let i = 5; i < 40; i++) p.enqueue(doc(i));
    await p.close();
    expect(await storedIds()).toHaveLength(5);
    expect(readdirSync(dir).length).toBeGreaterThan(0);

    writer.down = false;
    const next = new LogPipeline({ writer, spill: new SpillStore({ dir }), ...fast });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await storedIds()).length < 40) await new Promise((r) => setTimeout(r, 10));
    await next.flush();
    expect(await storedIds()).toEqual(Array.from({ length: 40 }, (_, i) => doc(i).r.id));
    // Replaying records that are already stored (a crash after commit) stores nothing twice.
    await createDbLogWriter(t.orm).write([doc(3), doc(39)]);
    expect(await storedIds()).toHaveLength(40);
    await next.close();
  });

  it('skips a last line cut by a crash', async () => {
    const first = new SpillStore({ dir });
    first.append(JSON.stringify(doc(1)));
    first.append(JSON.stringify(doc(2)));
    first.close();
    const [segment] = readdirSync(dir);
    appendFileSync(join(dir, segment!), JSON.stringify(doc(3)).slice(0, 40));
    const writer = switchable(createDbLogWriter(t.orm));
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir }), ...fast });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await storedIds()).length < 2) await new Promise((r) => setTimeout(r, 10));
    await p.flush();
    expect(await storedIds()).toEqual([doc(1).r.id, doc(2).r.id]);
    expect(readdirSync(dir)).toEqual([]);
    await p.close();
  });

  it('a full spill refuses records and counts them', async () => {
    const writer = switchable(createDbLogWriter(t.orm));
    writer.down = true;
    const events: number[] = [];
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir, maxBytes: 20_000 }), ...fast, closeTimeoutMs: 50, onEvent: (e) => e.kind === 'spill_full' && events.push(e.dropped) });
    p.enqueue(doc(0));
    await p.flush();
    for (let i = 1; i < 100; i++) p.enqueue(doc(i));
    const st = p.stats();
    expect(st.spillBytes).toBeLessThanOrEqual(20_000);
    expect(st.dropped).toBeGreaterThan(50);
    expect(events[0]).toBe(1);
    await p.close();
  });

  it('writes a backlog in full batches with a turn of the event loop between them; a partial batch waits to fill', async () => {
    const inner = createDbLogWriter(t.orm);
    // The turns of the event loop that ran before each write.
    const loop = countEventLoopTurns();
    const writes: { size: number; turns: number }[] = [];
    const writer: LogWriter = {
      async write(entries) {
        writes.push({ size: entries.length, turns: loop.turns });
        await inner.write(entries);
      },
      ping: () => inner.ping(),
    };
    const p = new LogPipeline({ writer, spill: new SpillStore({ dir }), batchSize: 20, flushIntervalMs: 200, retryMinMs: 10, retryMaxMs: 20 });
    for (let i = 0; i < 100; i++) p.enqueue(doc(i));
    while (writes.length < 5) await new Promise((r) => setTimeout(r, 5));
    expect(writes.map((w) => w.size)).toEqual([20, 20, 20, 20, 20]);
    // SQLite answers synchronously: without the yield all five batches ran in one turn.
    for (let i = 1; i < writes.length; i++) expect(writes[i]!.turns).toBeGreaterThan(writes[i - 1]!.turns);
    // Three records, then three more before the timer: one batch of six, not a transaction per arrival.
    for (let i = 100; i < 103; i++) p.enqueue(doc(i));
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 103; i < 106; i++) p.enqueue(doc(i));
    expect(writes).toHaveLength(5);
    await p.flush();
    loop.stop();
    expect(writes.slice(5).map((w) => w.size)).toEqual([6]);
    expect(await storedIds()).toEqual(Array.from({ length: 106 }, (_, i) => doc(i).r.id));
    await p.close();
  });
});

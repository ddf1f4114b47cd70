/**
 * The WAL checkpointer on a real SQLite file: the app's connection stops
 * checkpointing inside its commits, the worker's PASSIVE checkpoints copy
 * the WAL into the database file while the app keeps writing, the data read
 * back through the app's connection is whole, and a worker that cannot start
 * leaves SQLite's inline checkpoints on and says why.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openOrm, type Orm } from '../../src/db/orm.js';
import { startWalCheckpointer, type WalCheckpointer } from '../../src/db/wal-checkpointer.js';

describe('WAL checkpointer', () => {
  let dir: string;
  let orm: Orm;
  let checkpointer: WalCheckpointer | undefined;
  const path = () => join(dir, 'sluice.db');
  const sql = <T>(q: string, params: unknown[] = []) => orm.em.getConnection().execute<T>(q, params);
  const autocheckpoint = async () => (await sql<{ wal_autocheckpoint: number }[]>('pragma wal_autocheckpoint'))[0]!.wal_autocheckpoint;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-wal-'));
    orm = await openOrm({ dialect: 'sqlite', path: path() });
    await sql('create table blobs (id integer primary key, body text not null)');
  });
  afterEach(async () => {
    await checkpointer?.close();
    checkpointer = undefined;
    await orm.close(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns inline checkpoints off and copies the WAL into the database file from its own thread', async () => {
    expect(await autocheckpoint()).toBe(1000);
    const problems: string[] = [];
    checkpointer = await startWalCheckpointer(orm, path(), { intervalMs: 20, onProblem: (l) => problems.push(l) });
    expect(await autocheckpoint()).toBe(0);
    const sizeBefore = statSync(path()).size;
    // ≈ 8 MB through the WAL: SQLite alone would have checkpointed inline about twice.
    const body = 'x'.repeat(4000);
    for (let batch = 0; batch < 20; batch++) {
      await orm.em.fork().transactional(async (em) => {
        for (let i = 0; i < 100; i++) await em.getConnection().execute('insert into blobs (body) values (?)', [body], 'run', em.getTransactionContext());
      });
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const s = checkpointer.stats();
      if (s.walFrames > 1000 && s.framesBackfilled === s.walFrames) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const stats = checkpointer.stats();
    expect(stats.running).toBe(true);
    expect(stats.checkpoints).toBeGreaterThan(0);
    expect(stats.walFrames).toBeGreaterThan(1000);
    expect(stats.framesBackfilled).toBe(stats.walFrames);
    // The pages are in the database file itself now, not only in the WAL.
    expect(statSync(path()).size).toBeGreaterThan(sizeBefore + 7_000_000);
    expect((await sql<{ n: number }[]>('select count(*) as n from blobs'))[0]!.n).toBe(2000);
    expect(problems).toEqual([]);
  });

  it('leaves inline checkpoints on when its worker cannot open the database', async () => {
    const problems: string[] = [];
    checkpointer = await startWalCheckpointer(orm, join(dir, 'missing.db'), { onProblem: (l) => problems.push(l) });
    expect(checkpointer.stats().running).toBe(false);
    expect(await autocheckpoint()).toBe(1000);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/did not start \(SQLITE_CANTOPEN: .+\); SQLite checkpoints inline/);
  });
});

/**
 * Merging rollup cells into rows that exist already gives the event loop a
 * turn between rows: on SQLite every statement answers synchronously, and a
 * flush of a few dozen rows (sketch merges and updates) used to hold every
 * request in flight for 15–20 ms. The merged counts stay exact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withCoarser } from '../../src/observability/metrics/recorder.js';
import { addToCell, emptyCell } from '../../src/observability/metrics/rollup.js';
import { RollupStore } from '../../src/observability/metrics/store.js';
import { createTestDeps, type TestDeps } from '../helpers/database.js';
import { countEventLoopTurns } from '../helpers/event-loop.js';

describe('rollup store merge on SQLite', () => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await createTestDeps('sqlite');
  });
  afterEach(async () => {
    await t.close();
  });

  const cells = (minute: number) =>
    Array.from({ length: 40 }, (_, i) => {
      const dims = { workspaceId: 'ws_yield', gateway: 'g', model: `p/m${i}`, provider: 'p', apiKeyId: 'k', route: '', status: 200 };
      const cell = emptyCell(dims, 60, minute);
      addToCell(cell, { ...dims, startedAt: minute * 1000, latencyMs: 10 + i, ttftMs: 5, fallback: false, promptTokens: 1, completionTokens: 2, cachedTokens: 0, reasoningTokens: 0, costNanos: 3n });
      return cell;
    });

  it('yields between the rows it updates', async () => {
    const store = new RollupStore(t.orm);
    const minute = Math.floor(Date.now() / 60_000) * 60;
    await store.merge(withCoarser(cells(minute)));
    const loop = countEventLoopTurns();
    // Every row exists now: each one is read, merged and updated.
    await store.merge(withCoarser(cells(minute)));
    loop.stop();
    expect(loop.turns).toBeGreaterThanOrEqual(40);
    const rows = await t.orm.em.getConnection().execute<{ requests: number }[]>("select requests from metric_rollups where workspace_id = 'ws_yield' and resolution = 60 and model like 'p/m%' and api_key_id = 'k'");
    expect(rows.length).toBeGreaterThanOrEqual(40);
    for (const r of rows) expect(Number(r.requests)).toBe(2);
  });
});

/**
 * SQLite WAL checkpoints off the event loop. By default SQLite checkpoints
 * inside the commit that makes the WAL pass 1,000 pages: with the request log
 * writing every 100 ms at 2,000 req/s that is a 15–20 ms stall of the event
 * loop about once a second (copying ≈4 MB into the database file and fsyncing
 * it), which every request in flight waits for. Here the app's connection
 * turns automatic checkpoints off and a worker thread with its own connection
 * runs a PASSIVE checkpoint every `intervalMs` (200 ms by default): it never
 * takes a lock anyone waits for, so the event loop does not see it.
 *
 * If the worker fails, the app's connection turns automatic checkpoints back
 * on (the WAL must not grow without bound) and `onProblem` is told.
 */
import { Worker } from 'node:worker_threads';
import type { Orm } from './orm.js';

export interface WalCheckpointStats {
  /** Checkpoints that ran. */
  checkpoints: number;
  /** Frames in the WAL at the last checkpoint. */
  walFrames: number;
  /** Of those, the frames copied into the database file (all of them when nothing was in the way). */
  framesBackfilled: number;
  /** False once the worker failed and SQLite checkpoints inline again. */
  running: boolean;
}

export interface WalCheckpointer {
  stats(): WalCheckpointStats;
  /** Stops the worker after a last checkpoint. */
  close(): Promise<void>;
}

export interface WalCheckpointerOptions {
  intervalMs?: number;
  onProblem?: (line: string) => void;
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'checkpoint'; log: number; checkpointed: number }
  | { type: 'error'; message: string };

/** Inline checkpoints at SQLite's default threshold (pages). */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

/**
 * Starts the checkpointer for the SQLite database file at `path` that `orm` has open in WAL mode.
 * Never throws: a worker that cannot start leaves SQLite's inline checkpoints on, and says so.
 */
export async function startWalCheckpointer(orm: Orm, path: string, options: WalCheckpointerOptions = {}): Promise<WalCheckpointer> {
  const onProblem = options.onProblem ?? (() => {});
  const stats: WalCheckpointStats = { checkpoints: 0, walFrames: 0, framesBackfilled: 0, running: true };
  const pragma = (sql: string) => orm.em.getConnection().execute(sql);
  const worker = new Worker(new URL('./wal-checkpoint-worker.mjs', import.meta.url), { workerData: { path, intervalMs: options.intervalMs ?? 200 } });
  worker.unref();
  let closing = false;
  const fallBack = (why: string) => {
    if (!stats.running) return;
    stats.running = false;
    onProblem(`WAL checkpointer stopped (${why}); SQLite checkpoints inline again`);
    void pragma(`pragma wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`).catch(() => {});
  };
  const problem = (err: unknown) => String((err as Error | undefined)?.message ?? err);
  const started = await new Promise<{ ok: true } | { ok: false; why: string }>((resolve) => {
    // An error thrown in the worker may arrive as a plain value (better-sqlite3's SqliteError does).
    worker.once('error', (err) => resolve({ ok: false, why: problem(err) }));
    worker.once('exit', (code) => resolve({ ok: false, why: `worker exited with code ${code}` }));
    worker.once('message', (m: WorkerMessage) => resolve(m.type === 'ready' ? { ok: true } : { ok: false, why: m.type === 'error' ? m.message : 'no ready message' }));
  });
  if (!started.ok) {
    // SQLite keeps checkpointing inline, as it does by default: slower, never unsafe.
    stats.running = false;
    closing = true;
    onProblem(`WAL checkpointer did not start (${started.why}); SQLite checkpoints inline`);
    await worker.terminate();
    return { stats: () => ({ ...stats }), close: async () => {} };
  }
  // A failing checkpoint is reported once, not every interval, until one succeeds again.
  let failing = false;
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'checkpoint') {
      stats.checkpoints++;
      stats.walFrames = m.log;
      stats.framesBackfilled = m.checkpointed;
      if (failing) onProblem('WAL checkpoints succeed again');
      failing = false;
    } else if (m.type === 'error' && !failing) {
      failing = true;
      onProblem(`WAL checkpoint failed: ${m.message}`);
    }
  });
  worker.on('error', (err) => fallBack(problem(err)));
  worker.on('exit', (code) => {
    if (!closing) fallBack(`worker exited with code ${code}`);
  });
  await pragma('pragma wal_autocheckpoint = 0');
  return {
    stats: () => ({ ...stats }),
    async close() {
      if (closing) return;
      closing = true;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
      await worker.terminate();
    },
  };
}

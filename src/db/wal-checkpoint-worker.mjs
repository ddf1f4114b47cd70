// The WAL checkpointer's thread (see wal-checkpointer.ts): its own
// connection to the database file, a PASSIVE checkpoint every `intervalMs`.
// A PASSIVE checkpoint never waits for a lock and never blocks a writer or a
// reader; what it could not copy this time is copied next time. Plain
// JavaScript: worker threads do not inherit the main thread's TypeScript loader.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, intervalMs } = workerData;
// Lowest priority, for this thread only (Linux applies setpriority to the calling thread): on a busy
// core the event loop's thread runs first and the checkpoint takes the idle time.
try {
  setPriority(19);
} catch {
  // not permitted here: checkpoints run at normal priority
}
let db;
try {
  db = new Database(path, { fileMustExist: true });
} catch (err) {
  // better-sqlite3's errors do not survive the trip to the main thread as errors: send the text.
  parentPort.postMessage({ type: 'error', message: `${err.code ?? 'error'}: ${err.message}` });
  process.exit(1);
}

function checkpoint() {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    // `log`: frames in the WAL; `checkpointed`: frames now copied into the database (-1 when not in WAL mode).
    parentPort.postMessage({ type: 'checkpoint', log: row.log, checkpointed: row.checkpointed });
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}

const timer = setInterval(checkpoint, intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    checkpoint();
    db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ type: 'ready' });

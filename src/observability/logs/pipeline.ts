/**
 * The log pipeline: request-log and MCP call records go from the data plane
 * to the database without the response ever waiting.
 *
 * - `enqueue` is synchronous and O(1): the record joins a bounded in-memory
 *   queue (`capacity`), and a background pump writes it in batches of
 *   `batchSize` (as soon as a batch is full, else after `flushIntervalMs`).
 * - When the queue is full (the database is slower than the traffic) or the
 *   database is unreachable, records go to the spill file instead
 *   (`SpillStore`), and keep going there until the spill is replayed: the
 *   queue always holds records older than the spill, so the order is kept.
 * - A failed batch is told apart by a ping: if the database does not answer
 *   it is an outage, the batch and the queue are written to the head of the
 *   spill (memory is released at once) and the database is retried with
 *   backoff (`retryMinMs` doubling to `retryMaxMs`); once it answers, the
 *   spill is replayed in order, batch by batch, and new records go to memory
 *   again when it is empty. If the database answers, the batch is retried
 *   record by record and the records it refuses are dropped and counted.
 * - `close` flushes: the queue and the spill are written if the database
 *   answers (within `closeTimeoutMs`), else the queue goes to the spill,
 *   which the next start replays.
 */
import type { LogWriter } from './db-writer.js';
import type { SpillStore } from './spill.js';
import type { LogEntry } from './types.js';

export interface LogPipelineOptions {
  writer: LogWriter;
  spill: SpillStore;
  /** Records held in memory before spilling; default 10,000. */
  capacity?: number;
  /** Records per database write; default 200. */
  batchSize?: number;
  /** Longest a record waits in memory for its batch to fill; default 100 ms. */
  flushIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** A write that takes longer is treated as failed; default 30 s. */
  writeTimeoutMs?: number;
  /** How long `close` keeps trying to write before leaving the rest in the spill; default 10 s. */
  closeTimeoutMs?: number;
  /** Problems worth an operator's attention (outage start and end, dropped records). Must not throw. */
  onEvent?: (event: LogPipelineEvent) => void;
}

export type LogPipelineEvent =
  | { kind: 'outage'; error: unknown; spilledRecords: number }
  | { kind: 'recovered'; downMs: number; spillBytes: number }
  | { kind: 'rejected'; error: unknown; id: string }
  | { kind: 'spill_full'; dropped: number };

/** Counters for `/metrics` and tests. */
export interface LogPipelineStats {
  /** Records in memory. */
  queued: number;
  /** Unread bytes in the spill (buffered included). */
  spillBytes: number;
  spillSegments: number;
  /** Records written to the database. */
  written: number;
  /** Records refused by the database (bad data) or the full spill. */
  dropped: number;
  /** Whether the last write or ping reached the database. */
  databaseUp: boolean;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class LogPipeline {
  private readonly writer: LogWriter;
  private readonly spill: SpillStore;
  private readonly capacity: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly writeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly onEvent: (event: LogPipelineEvent) => void;
  private queue: LogEntry[] = [];
  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerImmediate = false;
  private down = false;
  private downSince = 0;
  private retryMs: number;
  private closing = false;
  private written = 0;
  private dropped = 0;
  private spillFullDropped = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(options: LogPipelineOptions) {
    this.writer = options.writer;
    this.spill = options.spill;
    this.capacity = options.capacity ?? 10_000;
    this.batchSize = options.batchSize ?? 200;
    this.flushIntervalMs = options.flushIntervalMs ?? 100;
    this.retryMinMs = options.retryMinMs ?? 250;
    this.retryMaxMs = options.retryMaxMs ?? 5_000;
    this.writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.retryMs = this.retryMinMs;
    this.onEvent = options.onEvent ?? (() => {});
    // Records left in the spill by a previous process are replayed first.
    if (!this.spill.isEmpty()) this.schedule(0);
  }

  /** Queues one record; never blocks, never throws. */
  enqueue(entry: LogEntry): void {
    if (this.down || this.queue.length >= this.capacity || !this.spill.isEmpty()) {
      if (!this.spill.append(JSON.stringify(entry))) this.spillFull();
    } else this.queue.push(entry);
    if (!this.down) this.schedule(this.queue.length >= this.batchSize ? 0 : this.flushIntervalMs);
  }

  stats(): LogPipelineStats {
    return {
      queued: this.queue.length,
      spillBytes: this.spill.bytes,
      spillSegments: this.spill.segmentCount,
      written: this.written,
      dropped: this.dropped,
      databaseUp: !this.down,
    };
  }

  /** Resolves once everything queued or spilled is written, or the database is found down. */
  async flush(): Promise<void> {
    if (this.down) return;
    this.schedule(0);
    while (!this.down && (this.pumping || this.queue.length || !this.spill.isEmpty())) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        this.schedule(0);
      });
    }
  }

  /**
   * Stops the pipeline: writes what it holds if the database answers within
   * `closeTimeoutMs`, else leaves it in the spill (fsynced) for the next start.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + this.closeTimeoutMs;
    await this.pumping;
    while (Date.now() < deadline && (this.queue.length || !this.spill.isEmpty())) {
      if (this.down) {
        try {
          await withTimeout(this.writer.ping(), Math.max(1, deadline - Date.now()), 'ping');
          this.markUp();
        } catch {
          break;
        }
      }
      await this.pumpOnce();
    }
    if (this.queue.length) {
      this.spill.prepend(this.queue.map((e) => JSON.stringify(e)));
      this.queue = [];
    }
    this.spill.close();
    this.wakeIdle();
  }

  private spillFull(): void {
    this.dropped++;
    this.spillFullDropped++;
    // One event per 1,000 records lost, not one per record.
    if (this.spillFullDropped === 1 || this.spillFullDropped % 1000 === 0) this.onEvent({ kind: 'spill_full', dropped: this.spillFullDropped });
  }

  private schedule(delayMs: number): void {
    if (this.closing || this.pumping) return;
    if (this.timer) {
      // Already due at once, or due later and asked for later: keep it (enqueue calls this per record).
      if (delayMs > 0 || this.timerImmediate) return;
      clearTimeout(this.timer);
    }
    this.timerImmediate = delayMs === 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerImmediate = false;
      this.pumping = this.pump().finally(() => {
        this.pumping = undefined;
        if (this.closing) return;
        if (this.down) this.wakeIdle();
        else if (this.queue.length >= this.batchSize || !this.spill.isEmpty() || (this.queue.length && this.idleWaiters.length)) this.schedule(0);
        else if (this.queue.length) this.schedule(this.flushIntervalMs);
        else this.wakeIdle();
      });
    }, delayMs);
    this.timer.unref();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Writes batches until memory and spill are empty or the database is down. */
  private async pump(): Promise<void> {
    while (!this.down && !this.closing && (this.queue.length || !this.spill.isEmpty())) {
      await this.pumpOnce();
      // Back to back only while full batches wait (a partial one waits for its timer, so that records
      // arriving meanwhile join it instead of costing a transaction each).
      if (this.queue.length < this.batchSize && this.spill.isEmpty()) return;
      // SQLite writes synchronously: requests waiting on I/O get a turn between two batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** One batch: from memory while it holds records (they are older), else from the spill. */
  private async pumpOnce(): Promise<void> {
    if (this.queue.length) {
      const batch = this.queue.splice(0, this.batchSize);
      if (!(await this.store(batch))) {
        // Outage: the batch and everything behind it go to disk, ahead of what is spilled already.
        const spilled = [...batch, ...this.queue];
        this.queue = [];
        this.spill.prepend(spilled.map((e) => JSON.stringify(e)));
        this.markDown(spilled.length);
      }
      return;
    }
    const read = this.spill.read(this.batchSize);
    if (!read) return;
    const batch: LogEntry[] = [];
    for (const line of read.lines) {
      try {
        batch.push(JSON.parse(line) as LogEntry);
      } catch (error) {
        this.dropped++;
        this.onEvent({ kind: 'rejected', error, id: '' });
      }
    }
    if (await this.store(batch)) read.commit();
    else this.markDown(0);
  }

  /** True when the batch is stored (or its bad records dropped); false on an outage. */
  private async store(batch: LogEntry[]): Promise<boolean> {
    if (batch.length === 0) return true;
    try {
      await withTimeout(this.writer.write(batch), this.writeTimeoutMs, 'log write');
      this.written += batch.length;
      return true;
    } catch (error) {
      if (!(await this.reachable())) {
        this.lastError = error;
        return false;
      }
    }
    // The database answers, so some record is refused: keep the others.
    for (const entry of batch) {
      try {
        await withTimeout(this.writer.write([entry]), this.writeTimeoutMs, 'log write');
        this.written++;
      } catch (error) {
        if (!(await this.reachable())) {
          this.lastError = error;
          return false;
        }
        this.dropped++;
        this.onEvent({ kind: 'rejected', error, id: entry.r.id });
      }
    }
    return true;
  }

  private lastError: unknown;

  private async reachable(): Promise<boolean> {
    try {
      await withTimeout(this.writer.ping(), Math.min(this.writeTimeoutMs, 5_000), 'ping');
      return true;
    } catch {
      return false;
    }
  }

  private markDown(spilledRecords: number): void {
    if (!this.down) {
      this.down = true;
      this.downSince = Date.now();
      this.retryMs = this.retryMinMs;
      this.onEvent({ kind: 'outage', error: this.lastError, spilledRecords });
    }
    this.wakeIdle();
    if (!this.closing) this.retry();
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    this.onEvent({ kind: 'recovered', downMs: Date.now() - this.downSince, spillBytes: this.spill.bytes });
  }

  private retry(): void {
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.retryMaxMs);
    setTimeout(() => {
      if (this.closing) return;
      void this.reachable().then((up) => {
        if (this.closing) return;
        if (!up) return this.retry();
        this.markUp();
        this.schedule(0);
      });
    }, delay).unref();
  }
}

/**
 * The metrics recorder: aggregates settled requests into per-minute cells
 * in memory (`observe`, synchronous, O(1), never throws, never touches the
 * database) and merges them into the rollup table every `flushIntervalMs`
 * in the background, each minute cell together with its hour and day cells
 * (in every stored projection, see rollup.ts).
 *
 * A failed flush (database unreachable) keeps its cells and merges them back
 * into the pending map, so they are written by a later flush; memory stays
 * bounded by `maxCells` distinct pending cells: a request that would need a
 * new cell beyond that is counted in `droppedRequests` and left out of the
 * rollups (the request log still has it). `close()` stops the timer and
 * flushes what is pending.
 */
import type { ProxyContext } from '../../policy/context.js';
import { addToCell, bucketOf, cellInputOf, COARSE_PROJECTIONS, dimensionKey, emptyCell, mergeCell, RESOLUTIONS, type RollupCell } from './rollup.js';
import type { RollupStore } from './store.js';

export interface MetricsRecorderOptions {
  store: RollupStore;
  /** Default 5000 ms; 0 disables the timer (tests call `flush()`). */
  flushIntervalMs?: number;
  /** Most distinct pending minute cells; default 50,000 (about 25 MB). */
  maxCells?: number;
  /** Reports a failed flush (throttle it yourself); never throws. */
  onFlushError?: (err: unknown) => void;
}

/** Counters of the recorder, for `/metrics`. */
export interface RecorderStats {
  pendingCells: number;
  droppedRequests: number;
  flushFailures: number;
  flushedCells: number;
}

export class MetricsRecorder {
  private pending = new Map<string, RollupCell>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly maxCells: number;
  readonly stats: RecorderStats = { pendingCells: 0, droppedRequests: 0, flushFailures: 0, flushedCells: 0 };

  constructor(private readonly options: MetricsRecorderOptions) {
    this.maxCells = options.maxCells ?? 50_000;
  }

  /** Starts the periodic flush. */
  start(): void {
    const every = this.options.flushIntervalMs ?? 5000;
    if (every > 0 && !this.timer) {
      this.timer = setInterval(() => void this.flush().catch(() => {}), every);
      this.timer.unref();
    }
  }

  /** Adds a settled request to its minute cell. Never throws. */
  observe(ctx: ProxyContext): void {
    if (this.closed) return;
    try {
      const input = cellInputOf(ctx);
      if (!input) return;
      const minute = bucketOf(input.startedAt, 60);
      const key = `${minute}\u0001${dimensionKey(input)}`;
      let cell = this.pending.get(key);
      if (!cell) {
        if (this.pending.size >= this.maxCells) {
          this.stats.droppedRequests += 1;
          return;
        }
        cell = emptyCell(input, 60, minute);
        this.pending.set(key, cell);
        this.stats.pendingCells = this.pending.size;
      }
      addToCell(cell, input);
    } catch {
      // Metrics must never break a response.
    }
  }

  /**
   * Writes every pending cell (and its hour and day cells) to the table.
   * Concurrent calls share one flush; a call made during a flush waits for it
   * and then flushes what arrived meanwhile. Rejects when the write failed
   * (the cells stay pending).
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => {});
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.stats.pendingCells = 0;
    this.flushing = (async () => {
      try {
        await this.options.store.merge(withCoarser(batch.values()));
        this.stats.flushedCells += batch.size;
      } catch (err) {
        this.stats.flushFailures += 1;
        this.requeue(batch);
        this.options.onFlushError?.(err);
        throw err;
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  private requeue(batch: Map<string, RollupCell>): void {
    for (const [key, cell] of batch) {
      const current = this.pending.get(key);
      if (current) mergeCell(current, cell);
      else if (this.pending.size < this.maxCells) this.pending.set(key, cell);
      else this.stats.droppedRequests += cell.requests;
    }
    this.stats.pendingCells = this.pending.size;
  }

  /** Stops the timer and flushes what is pending (one attempt); later `observe` calls are ignored. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    await this.flush().catch(() => {});
  }
}

/**
 * The minute cells plus, for each, its hour and day cells in every stored projection
 * (`COARSE_PROJECTIONS`), combined per row.
 */
export function withCoarser(minutes: Iterable<RollupCell>): RollupCell[] {
  const out: RollupCell[] = [];
  const coarse = new Map<string, RollupCell>();
  for (const cell of minutes) {
    out.push(cell);
    for (const resolution of RESOLUTIONS.slice(1)) {
      const bucketStart = cell.bucketStart - (cell.bucketStart % resolution);
      for (const projection of COARSE_PROJECTIONS) {
        const into = emptyCell(cell, resolution, bucketStart, projection);
        const key = `${resolution}\u0001${bucketStart}\u0001${projection}\u0001${dimensionKey(into)}`;
        const seen = coarse.get(key);
        if (seen) mergeCell(seen, cell);
        else {
          mergeCell(into, cell);
          coarse.set(key, into);
        }
      }
    }
  }
  out.push(...coarse.values());
  return out;
}

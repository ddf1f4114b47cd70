/**
 * The spill: an append-only, on-disk continuation of the log queue, used
 * while the database is unreachable or slower than the traffic. Records are
 * JSON lines in segment files `spill-<sequence>.jsonl` in one directory,
 * replayed in ascending sequence and line order, so the order records were
 * spilled is the order they are written.
 *
 * - Appends are buffered and written with one synchronous `write` per flush
 *   (every `flushIntervalMs`, or as soon as the buffer holds `bufferBytes`):
 *   memory stays bounded by the buffer, whatever the length of an outage,
 *   and a single writer keeps the order.
 * - `prepend` writes a segment before every other one (the records that were
 *   still in memory when the database went away are older than the spill).
 * - Reads return whole lines from the oldest segment; `commit` advances past
 *   them. A consumed segment is deleted (the last one as soon as nothing is
 *   buffered), so replay gives the disk back as it goes.
 * - Segments are fsynced when they are closed (rotation at `segmentBytes`,
 *   `close`). Segments left by a previous process are replayed first; the
 *   read position is not persisted, so a crash during replay re-reads the
 *   head segment (the writer's inserts are idempotent).
 * - Past `maxBytes` on disk, appends are refused (`append` returns false)
 *   and counted by the caller.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SpillOptions {
  dir: string;
  /** Rotate to a new segment past this size; default 16 MiB. */
  segmentBytes?: number;
  /** Refuse appends past this much unread data on disk; default 1 GiB. */
  maxBytes?: number;
  /** Write the buffer once it holds this much; default 256 KiB. */
  bufferBytes?: number;
  /** Write the buffer at least this often; default 20 ms. */
  flushIntervalMs?: number;
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes on disk. */
  size: number;
  /** Bytes already consumed (committed) from the start. */
  read: number;
}

/** Sequence numbers start high so that `prepend` can always go lower. */
const FIRST_SEQ = 1_000_000_000_000;
const NAME = /^spill-(\d{16})\.jsonl$/;
const READ_CHUNK = 1 << 20;

function segmentName(seq: number): string {
  return `spill-${String(seq).padStart(16, '0')}.jsonl`;
}

/** Lines read from the spill, and how to mark them consumed. */
export interface SpillRead {
  lines: string[];
  /** Marks these lines consumed (after they were stored). */
  commit(): void;
}

export class SpillStore {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly bufferBytes: number;
  private readonly flushIntervalMs: number;
  private segments: Segment[] = [];
  private fd: number | undefined;
  private buffer: string[] = [];
  private buffered = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: SpillOptions) {
    this.dir = options.dir;
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    this.maxBytes = options.maxBytes ?? 1024 * 1024 * 1024;
    this.bufferBytes = options.bufferBytes ?? 256 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 20;
    mkdirSync(this.dir, { recursive: true });
    for (const name of readdirSync(this.dir).sort()) {
      const m = NAME.exec(name);
      if (!m) continue;
      const path = join(this.dir, name);
      const size = statSync(path).size;
      if (size === 0) unlinkSync(path);
      else this.segments.push({ seq: Number(m[1]), path, size, read: 0 });
    }
  }

  /** Unread bytes on disk plus buffered bytes. */
  get bytes(): number {
    let n = this.buffered;
    for (const s of this.segments) n += s.size - s.read;
    return n;
  }

  /** Segment files on disk. */
  get segmentCount(): number {
    return this.segments.length;
  }

  /** Nothing buffered and nothing unread on disk. */
  isEmpty(): boolean {
    if (this.buffered > 0) return false;
    for (const s of this.segments) if (s.read < s.size) return false;
    return true;
  }

  /** Buffers one line (without its newline); false when the spill is full or closed. */
  append(line: string): boolean {
    if (this.closed) return false;
    const bytes = Buffer.byteLength(line) + 1;
    if (this.bytes + bytes > this.maxBytes) return false;
    this.buffer.push(line, '\n');
    this.buffered += bytes;
    if (this.buffered >= this.bufferBytes) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushIntervalMs).unref();
    return true;
  }

  /** Writes `lines` as a new segment before every other one (synchronously, fsynced). */
  prepend(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const seq = this.segments.length ? this.segments[0]!.seq - 1 : FIRST_SEQ;
    const path = join(this.dir, segmentName(seq));
    const data = lines.join('\n') + '\n';
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.segments.unshift({ seq, path, size: Buffer.byteLength(data), read: 0 });
  }

  /** Writes the buffer to the last segment now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buffered === 0) return;
    const data = this.buffer.join('');
    this.buffer = [];
    this.buffered = 0;
    let tail = this.segments.at(-1);
    if (!tail || this.fd === undefined || tail.size >= this.segmentBytes) {
      this.closeTail();
      const seq = tail ? tail.seq + 1 : FIRST_SEQ;
      tail = { seq, path: join(this.dir, segmentName(seq)), size: 0, read: 0 };
      this.segments.push(tail);
      this.fd = openSync(tail.path, 'a');
    }
    const written = writeSync(this.fd, data);
    tail.size += written;
  }

  private closeTail(): void {
    if (this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  /**
   * Up to `max` lines from the oldest unread data, or undefined when the
   * spill is empty. Nothing is consumed until `commit` is called.
   */
  read(max: number): SpillRead | undefined {
    for (;;) {
      const head = this.segments[0];
      if (!head) {
        if (this.buffered === 0) return undefined;
        this.flush();
        continue;
      }
      if (head.read >= head.size) {
        const isTail = this.segments.length === 1;
        if (isTail && this.buffered > 0) {
          this.flush();
          if (this.segments[0] !== head || head.read < head.size) continue;
        }
        this.drop(head);
        continue;
      }
      return this.readFrom(head, max);
    }
  }

  private drop(segment: Segment): void {
    if (this.segments.at(-1) === segment) this.closeTail();
    this.segments.shift();
    try {
      unlinkSync(segment.path);
    } catch {
      // Already gone: nothing to give back.
    }
  }

  private readFrom(segment: Segment, max: number): SpillRead {
    const fd = openSync(segment.path, 'r');
    try {
      let length = Math.min(READ_CHUNK, segment.size - segment.read);
      for (;;) {
        const buf = Buffer.allocUnsafe(length);
        const n = readSync(fd, buf, 0, length, segment.read);
        const lines: string[] = [];
        let start = 0;
        for (let i = 0; i < n && lines.length < max; i++) {
          if (buf[i] !== 0x0a) continue;
          if (i > start) lines.push(buf.toString('utf8', start, i));
          start = i + 1;
        }
        const reachedEnd = segment.read + n >= segment.size;
        if (start > 0 || reachedEnd) {
          // A trailing line without a newline is a write cut by a crash: it is skipped.
          const consumed = start > 0 ? start : n;
          const at = segment.read;
          return {
            lines,
            commit: () => {
              if (segment.read !== at) return;
              segment.read = at + consumed;
              // A consumed segment gives its disk back at once (the last one only when nothing is buffered for it).
              if (segment.read >= segment.size && this.segments[0] === segment && (this.segments.length > 1 || this.buffered === 0)) this.drop(segment);
            },
          };
        }
        // One line longer than the chunk: read more.
        length = Math.min(length * 2, segment.size - segment.read);
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the buffer and closes the file (fsynced); later appends are refused. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closeTail();
    this.closed = true;
    // Fully consumed segments are not left behind.
    for (const s of [...this.segments]) {
      if (s.read >= s.size) {
        this.segments.splice(this.segments.indexOf(s), 1);
        try {
          unlinkSync(s.path);
        } catch {
          // ignore
        }
      }
    }
  }
}

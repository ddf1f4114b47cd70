/**
 * A mergeable quantile sketch (DDSketch, Masson et al., VLDB 2019) for
 * latencies in milliseconds: logarithmic buckets with a fixed relative
 * accuracy, so any quantile of a merged sketch is within `RELATIVE_ACCURACY`
 * of the true value, and merging is adding bucket counts (exact,
 * associative, commutative: rollups of any replicas and minutes can be
 * combined in any order).
 *
 * Bucket `i` holds values in `(γ^(i-1), γ^i]` with `γ = (1+α)/(1-α)` and
 * reports `2γ^i/(γ+1)`. Values at or below `MIN_VALUE_MS` (including 0) are
 * counted in a zero bucket and report 0; values above `MAX_VALUE_MS` are
 * clamped to it. Counts are integers.
 *
 * Wire form (`encode`): version byte `1`, then unsigned LEB128 varints:
 * zero-bucket count, zigzag offset of the first bucket, number of buckets,
 * each bucket's count. A minute of latencies typically encodes to 30–150 bytes.
 */

/** Relative accuracy of every quantile (1%). */
export const RELATIVE_ACCURACY = 0.01;
/** Values at or below this (ms) count as zero. */
export const MIN_VALUE_MS = 0.001;
/** Values above this (ms, about 11.6 days) are clamped to it. */
export const MAX_VALUE_MS = 1e9;

const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const MULTIPLIER = 1 / Math.log(GAMMA);
const VERSION = 1;

function indexOf(value: number): number {
  return Math.ceil(Math.log(Math.min(value, MAX_VALUE_MS)) * MULTIPLIER);
}

function valueOf(index: number): number {
  return (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
}

/** A growable sketch. Not shared between threads; `merge*` mutates the receiver. */
/** One bucket of a latency sketch: `count` values, each within the sketch's accuracy (1%) of `valueMs`. */
export interface SketchBucket {
  valueMs: number;
  count: number;
}

export class LatencySketch {
  /** Count per bucket, `counts[j]` being bucket `offset + j`; grows by doubling. */
  private counts = new Float64Array(0);
  private offset = 0;
  /** Lowest and highest bucket index holding a count (lo > hi when none). */
  private lo = 1;
  private hi = 0;
  private zero = 0;
  private total = 0;

  /** Number of values added (merged ones included). */
  get count(): number {
    return this.total;
  }

  /** Adds one value in ms; negative and non-finite values are ignored. */
  add(valueMs: number, times = 1): void {
    if (!(valueMs >= 0) || !Number.isFinite(valueMs)) return;
    this.total += times;
    if (valueMs <= MIN_VALUE_MS) {
      this.zero += times;
      return;
    }
    const index = indexOf(valueMs);
    this.reserve(index, index);
    this.counts[index - this.offset]! += times;
  }

  /** Makes buckets `from..to` addressable. */
  private reserve(from: number, to: number): void {
    if (this.lo > this.hi) {
      if (this.counts.length < to - from + 1 || from < this.offset || to >= this.offset + this.counts.length) {
        const size = Math.max(64, to - from + 1);
        this.counts = new Float64Array(size);
        this.offset = from - Math.floor((size - (to - from + 1)) / 2);
      }
      this.lo = from;
      this.hi = to;
      return;
    }
    const usedLo = this.lo;
    const usedHi = this.hi;
    if (from < this.lo) this.lo = from;
    if (to > this.hi) this.hi = to;
    if (this.lo >= this.offset && this.hi < this.offset + this.counts.length) return;
    const span = this.hi - this.lo + 1;
    const size = Math.max(span, this.counts.length * 2);
    const next = new Float64Array(size);
    const offset = this.lo - Math.floor((size - span) / 2);
    next.set(this.counts.subarray(usedLo - this.offset, usedHi - this.offset + 1), usedLo - offset);
    this.counts = next;
    this.offset = offset;
  }

  /** Adds every value of `other` into this sketch. */
  merge(other: LatencySketch): void {
    this.zero += other.zero;
    this.total += other.total;
    if (other.lo > other.hi) return;
    this.reserve(other.lo, other.hi);
    const src = other.counts;
    const shift = other.offset - this.offset;
    for (let j = other.lo - other.offset, end = other.hi - other.offset; j <= end; j++) {
      const c = src[j]!;
      if (c) this.counts[j + shift]! += c;
    }
  }

  /** Adds an encoded sketch (`encode` output) without building an intermediate object. */
  mergeEncoded(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (bytes[0] !== VERSION) throw new RangeError(`unknown sketch encoding version ${bytes[0]}`);
    const r = { pos: 1 };
    const zero = readVarint(bytes, r);
    const offset = unzigzag(readVarint(bytes, r));
    const n = readVarint(bytes, r);
    this.zero += zero;
    this.total += zero;
    if (n === 0) return;
    this.reserve(offset, offset + n - 1);
    const base = offset - this.offset;
    const counts = this.counts;
    let pos = r.pos;
    for (let j = 0; j < n; j++) {
      // Inline varint read: most counts fit one byte.
      let b = bytes[pos++]!;
      let c = b & 0x7f;
      let scale = 0x80;
      while (b >= 0x80) {
        if (pos >= bytes.length) throw new RangeError('truncated sketch');
        b = bytes[pos++]!;
        c += (b & 0x7f) * scale;
        scale *= 0x80;
      }
      if (c) {
        counts[base + j]! += c;
        this.total += c;
      }
    }
    if (pos > bytes.length) throw new RangeError('truncated sketch');
  }

  /**
   * The value at quantile `q` (0 ≤ q ≤ 1), within 1% of the exact value of
   * the values added; 0 for an empty sketch.
   */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(0, Math.min(1, q)) * (this.total - 1);
    let seen = this.zero;
    if (rank < seen) return 0;
    for (let i = this.lo; i <= this.hi; i++) {
      seen += this.counts[i - this.offset]!;
      if (rank < seen) return valueOf(i);
    }
    return valueOf(this.hi);
  }

  /**
   * The non-empty buckets, ascending: the zero bucket (value 0) first, then each bucket at the
   * value its quantiles report.
   */
  buckets(): SketchBucket[] {
    const out: SketchBucket[] = [];
    if (this.zero) out.push({ valueMs: 0, count: this.zero });
    for (let i = this.lo; i <= this.hi; i++) {
      const count = this.counts[i - this.offset]!;
      if (count) out.push({ valueMs: valueOf(i), count });
    }
    return out;
  }

  /** The compact binary form (see the module comment). */
  encode(): Uint8Array {
    let start = this.lo;
    let end = this.hi;
    while (start <= end && this.counts[start - this.offset] === 0) start++;
    while (end >= start && this.counts[end - this.offset] === 0) end--;
    const out: number[] = [VERSION];
    writeVarint(out, this.zero);
    writeVarint(out, zigzag(end >= start ? start : 0));
    writeVarint(out, end >= start ? end - start + 1 : 0);
    for (let i = start; i <= end; i++) writeVarint(out, this.counts[i - this.offset]!);
    return Uint8Array.from(out);
  }

  /** Decodes `encode` output. */
  static decode(bytes: Uint8Array): LatencySketch {
    const sketch = new LatencySketch();
    sketch.mergeEncoded(bytes);
    return sketch;
  }
}

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

function writeVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

function readVarint(bytes: Uint8Array, r: { pos: number }): number {
  let result = 0;
  let scale = 1;
  for (;;) {
    if (r.pos >= bytes.length) throw new RangeError('truncated sketch');
    const b = bytes[r.pos++]!;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 0x80;
    if (scale > 2 ** 56) throw new RangeError('sketch varint too long');
  }
}

/** The analytics page's latency histogram, from the buckets of a merged latency sketch. */

/** One sketch bucket: `count` requests whose latency is within the sketch's accuracy of `valueMs`. */
export interface LatencyCount {
  valueMs: number;
  count: number;
}

export interface LatencyBins {
  /** Milliseconds per bin; bin `i` starts at `i × width`. */
  width: number;
  /** Requests per bin; the last bin also holds everything slower. */
  counts: number[];
  /** Requests in all the buckets. */
  total: number;
}

/**
 * `bins` equal bins from 0 up to the 99th percentile of the distribution (`buckets`, ascending
 * by value); each bucket goes whole into the bin holding its value, so a bin's count is exact up
 * to the sketch's accuracy at its edges.
 */
export function latencyBins(buckets: readonly LatencyCount[], bins = 24): LatencyBins {
  const total = buckets.reduce((n, b) => n + b.count, 0);
  // The value at rank ⌊0.99·total⌋ (0-based), as a sorted list of the latencies would give it.
  const rank = Math.floor(total * 0.99);
  let seen = 0;
  let top = 1;
  for (const b of buckets) {
    seen += b.count;
    if (seen > rank) {
      top = Math.max(1, b.valueMs);
      break;
    }
  }
  const width = Math.max(1, Math.ceil(top / bins));
  const counts = new Array<number>(bins).fill(0);
  for (const b of buckets) counts[Math.min(bins - 1, Math.floor(b.valueMs / width))]! += b.count;
  return { width, counts, total };
}

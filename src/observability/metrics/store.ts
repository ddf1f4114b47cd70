/**
 * The `metric_rollups` table: merging cells into rows, reading rows for
 * queries, pruning old rows. Raw SQL on the ORM's connection (the same
 * statements run on SQLite and PostgreSQL), because a query reads up to a
 * few hundred thousand rows and entity hydration would dominate.
 *
 * **Merging across replicas.** Every replica writes the cells it aggregated
 * into the same row (id = resolution, bucket, dimensions hash) in one
 * transaction per flush: select the existing rows (`FOR UPDATE` on
 * PostgreSQL, so two replicas merging into one row serialise; SQLite
 * serialises writers itself), add counts and merge sketches in JS, `UPDATE`
 * them; insert the missing ones with `ON CONFLICT (id) DO NOTHING RETURNING
 * id`, and merge into any row another replica inserted in between. Counts
 * are therefore never lost or double counted, whatever the interleaving.
 */
import type { Orm } from '../../db/orm.js';
import { dialectOf } from '../../db/orm.js';
import { COARSE_PROJECTIONS, DIMENSION_BITS, FULL_PROJECTION, mergeCell, RESOLUTIONS, rowId, type Resolution, type RollupCell, type RollupValues } from './rollup.js';
import { LatencySketch } from './sketch.js';

/** Lets waiting I/O callbacks (requests in flight) run before the next row. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Rows per statement (bounded by SQLite's and PostgreSQL's parameter limits). */
const CHUNK = 400;

const VALUE_COLUMNS = 'requests, errors, fallbacks, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos, latency_sum_ms, latency_sketch, ttft_sketch';
const INSERT_COLUMNS = `id, workspace_id, resolution, bucket_start, projection, gateway, model, provider, api_key_id, route, status, ${VALUE_COLUMNS}`;
const INSERT_PLACEHOLDERS = `(${INSERT_COLUMNS.split(',').map(() => '?').join(', ')})`;

/** A stored row as the database driver returns it (bigints may be strings, numbers or bigints). */
export interface StoredRow {
  id?: string;
  bucket_start: number | string | bigint;
  gateway?: string;
  model?: string;
  provider?: string;
  api_key_id?: string;
  route?: string;
  status?: number | string;
  requests: number | string | bigint;
  errors: number | string | bigint;
  fallbacks: number | string | bigint;
  prompt_tokens: number | string | bigint;
  completion_tokens: number | string | bigint;
  cached_tokens: number | string | bigint;
  reasoning_tokens: number | string | bigint;
  cost_nanos: number | string | bigint;
  latency_sum_ms: number | string;
  latency_sketch: Uint8Array | null;
  ttft_sketch: Uint8Array | null;
}

/** Dimension columns, by the name `RollupDimensions` uses. */
export const DIMENSION_COLUMNS = { gateway: 'gateway', model: 'model', provider: 'provider', apiKeyId: 'api_key_id', route: 'route', status: 'status' } as const;
export type DimensionName = keyof typeof DIMENSION_COLUMNS;

/** Equality filters of a read. */
export type RollupFilter = Partial<Record<Exclude<DimensionName, 'status'>, string>> & { statusClass?: number };

export interface RollupRead {
  workspaceId: string;
  resolution: Resolution;
  /** The stored projection to read (`projectionFor`). */
  projection: number;
  /** Epoch seconds, inclusive. */
  from: number;
  /** Epoch seconds, exclusive. */
  to: number;
  filter: RollupFilter;
  /** Dimension columns to return besides the values. */
  dimensions: readonly DimensionName[];
}

const n = (v: number | string | bigint | null | undefined): number => (v === null || v === undefined ? 0 : Number(v));

export class RollupStore {
  private readonly postgres: boolean;

  constructor(private readonly orm: Orm) {
    this.postgres = dialectOf(orm) === 'postgresql';
  }

  /** Merges `cells` (any resolutions; cells with the same row id are combined first) into the table, in one transaction. */
  async merge(cells: Iterable<RollupCell>): Promise<void> {
    const byId = new Map<string, RollupCell>();
    for (const cell of cells) {
      const id = rowId(cell);
      const seen = byId.get(id);
      if (seen) mergeCell(seen, cell);
      else byId.set(id, cloneCell(cell));
    }
    if (byId.size === 0) return;
    const entries = [...byId.entries()];
    await this.orm.em.fork().transactional(async (em) => {
      const conn = em.getConnection();
      const trx = em.getTransactionContext();
      const run = <T>(sql: string, params: unknown[], method: 'all' | 'run' = 'all') => conn.execute<T>(sql, params, method, trx);
      for (let i = 0; i < entries.length; i += CHUNK) {
        const chunk = entries.slice(i, i + CHUNK);
        const pending = new Map(chunk);
        const mergeExisting = async (ids: string[]): Promise<void> => {
          if (!ids.length) return;
          const rows = await run<(StoredRow & { id: string })[]>(
            `select id, ${VALUE_COLUMNS} from metric_rollups where id in (${ids.map(() => '?').join(', ')})${this.postgres ? ' for update' : ''}`,
            ids,
          );
          for (const row of rows) {
            const cell = pending.get(row.id);
            if (!cell) continue;
            pending.delete(row.id);
            mergeCell(cell, valuesOf(row));
            await run(
              `update metric_rollups set requests = ?, errors = ?, fallbacks = ?, prompt_tokens = ?, completion_tokens = ?, cached_tokens = ?, reasoning_tokens = ?, cost_nanos = ?, latency_sum_ms = ?, latency_sketch = ?, ttft_sketch = ? where id = ?`,
              [...valueParams(cell), row.id],
              'run',
            );
            // SQLite answers synchronously: without a turn of the event loop between rows, a flush of
            // ~50 rows (sketch merges and updates) held every request in flight for 15–20 ms. On
            // PostgreSQL each statement already waits on I/O, and the row locks should not be held longer.
            if (!this.postgres) await yieldToEventLoop();
          }
        };
        // Insert first: fresh rows cost one statement, and the first statement being a write makes
        // SQLite take its write lock at once (waiting out busy_timeout) instead of failing to upgrade.
        const fresh = [...pending.entries()];
        const inserted = await run<{ id: string }[]>(
          `insert into metric_rollups (${INSERT_COLUMNS}) values ${fresh.map(() => INSERT_PLACEHOLDERS).join(', ')} on conflict (id) do nothing returning id`,
          fresh.flatMap(([id, c]) => [id, c.workspaceId, c.resolution, c.bucketStart, c.projection, c.gateway, c.model, c.provider, c.apiKeyId, c.route, c.status, ...valueParams(c)]),
        );
        for (const row of inserted) pending.delete(row.id);
        // The rest exist already (written earlier or by another replica): lock, add, update.
        await mergeExisting([...pending.keys()]);
        if (pending.size) throw new Error(`metrics rollup merge: ${pending.size} rows neither inserted nor found`);
      }
    });
  }

  /** The rows of one workspace, resolution and range, with the requested dimension columns. */
  async read(q: RollupRead): Promise<StoredRow[]> {
    const where = ['workspace_id = ?', 'resolution = ?', 'projection = ?', 'bucket_start >= ?', 'bucket_start < ?'];
    const params: unknown[] = [q.workspaceId, q.resolution, q.projection, q.from, q.to];
    for (const [name, value] of Object.entries(q.filter) as [keyof RollupFilter, string | number | undefined][]) {
      if (value === undefined || value === '') continue;
      if (name === 'statusClass') {
        where.push('status >= ? and status < ?');
        params.push(Number(value) * 100, Number(value) * 100 + 100);
      } else {
        where.push(`${DIMENSION_COLUMNS[name]} = ?`);
        params.push(value);
      }
    }
    const dims = [...new Set(q.dimensions)].map((d) => DIMENSION_COLUMNS[d]);
    const columns = ['bucket_start', ...dims, VALUE_COLUMNS].join(', ');
    return this.orm.em.getConnection().execute<StoredRow[]>(`select ${columns} from metric_rollups where ${where.join(' and ')}`, params, 'all');
  }

  /**
   * Sum of cost, requests and tokens per value of `dimension` (one entry keyed '' without one)
   * over the time segments, each read at its own resolution, for spend summaries.
   */
  async costBy(workspaceId: string, dimension: DimensionName | undefined, segments: readonly TimeSegment[], filter: RollupFilter = {}): Promise<Map<string, CostTotals>> {
    const out = new Map<string, CostTotals>();
    const key = dimension ? DIMENSION_COLUMNS[dimension] : `''`;
    for (const seg of segments) {
      const used: DimensionName[] = [...(dimension ? [dimension] : []), ...(Object.keys(filter) as DimensionName[]).filter((k) => filter[k as keyof RollupFilter])];
      const where = ['workspace_id = ?', 'resolution = ?', 'projection = ?', 'bucket_start >= ?', 'bucket_start < ?'];
      const params: unknown[] = [workspaceId, seg.resolution, projectionFor(seg.resolution, used), seg.from, seg.to];
      for (const [name, value] of Object.entries(filter) as [DimensionName, string | undefined][]) {
        if (value === undefined || value === '') continue;
        where.push(`${DIMENSION_COLUMNS[name]} = ?`);
        params.push(value);
      }
      const rows = await this.orm.em.getConnection().execute<{ k: string | number; cost: number | string; requests: number | string; prompt: number | string; completion: number | string }[]>(
        `select ${key} as k, sum(cost_nanos) as cost, sum(requests) as requests, sum(prompt_tokens) as prompt, sum(completion_tokens) as completion from metric_rollups where ${where.join(' and ')}${dimension ? ` group by ${key}` : ''}`,
        params,
        'all',
      );
      for (const r of rows) {
        // Without a group-by an empty range still yields one row of nulls.
        if (r.requests === null) continue;
        const k = String(r.k ?? '');
        const t = out.get(k) ?? { costNanos: 0n, requests: 0, promptTokens: 0, completionTokens: 0 };
        t.costNanos += BigInt(String(r.cost ?? 0).split('.')[0]!);
        t.requests += n(r.requests);
        t.promptTokens += n(r.prompt);
        t.completionTokens += n(r.completion);
        out.set(k, t);
      }
    }
    return out;
  }

  /** Deletes a workspace's rows of every resolution whose bucket started before `before` (epoch s); returns the count. */
  async prune(workspaceId: string, before: number): Promise<number> {
    const res = await this.orm.em
      .getConnection()
      .execute<{ affectedRows?: number; rowCount?: number; changes?: number }>('delete from metric_rollups where workspace_id = ? and bucket_start < ?', [workspaceId, before], 'run');
    return Number(res.affectedRows ?? res.rowCount ?? res.changes ?? 0);
  }

  /** Workspaces that have rows older than `before` (epoch s). */
  async workspacesWithRowsBefore(before: number): Promise<string[]> {
    const rows: { workspace_id: string }[] = await this.orm.em
      .getConnection()
      .execute('select distinct workspace_id from metric_rollups where resolution = ? and bucket_start < ?', [RESOLUTIONS[3], before], 'all');
    return rows.map((r) => r.workspace_id);
  }
}

/** A time range read at one resolution: `[from, to)` epoch seconds, both multiples of `resolution`. */
export interface TimeSegment {
  resolution: Resolution;
  from: number;
  to: number;
}

/**
 * Splits `[from, to)` (epoch s, rounded out to whole minutes) into the fewest segments each
 * aligned to its resolution: minutes up to the first quarter hour, quarters up to the first
 * hour, hours up to the first day, whole days, then hours, quarters and minutes again. The segments cover the range exactly.
 */
export function segmentsOf(fromS: number, toS: number): TimeSegment[] {
  const from = Math.floor(fromS / 60) * 60;
  const to = Math.ceil(toS / 60) * 60;
  if (to <= from) return [];
  const out: TimeSegment[] = [];
  const split = (a: number, b: number, levels: readonly Resolution[]): void => {
    if (a >= b) return;
    const [r, ...finer] = levels;
    if (r === undefined) return;
    const start = Math.ceil(a / r) * r;
    const end = Math.floor(b / r) * r;
    if (start >= end) {
      split(a, b, finer);
      return;
    }
    split(a, start, finer);
    out.push({ resolution: r, from: start, to: end });
    split(end, b, finer);
  };
  split(from, to, [86400, 3600, 900, 60]);
  return out.sort((x, y) => x.from - y.from);
}

/** The stored projection with the fewest dimensions that keeps all of `dimensions` at `resolution`. */
export function projectionFor(resolution: Resolution, dimensions: readonly DimensionName[]): number {
  if (resolution === 60) return FULL_PROJECTION;
  let needed = 0;
  for (const d of dimensions) needed |= DIMENSION_BITS[d];
  let best: number = FULL_PROJECTION;
  for (const p of COARSE_PROJECTIONS) if ((p & needed) === needed && bits(p) < bits(best)) best = p;
  return best;
}

function bits(mask: number): number {
  let n = 0;
  for (let m = mask; m; m >>= 1) n += m & 1;
  return n;
}

/** Cost totals of one group. */
export interface CostTotals {
  costNanos: bigint;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

/** The values of a stored row, sketches decoded. */
export function valuesOf(row: StoredRow): RollupValues {
  return {
    requests: n(row.requests),
    errors: n(row.errors),
    fallbacks: n(row.fallbacks),
    promptTokens: n(row.prompt_tokens),
    completionTokens: n(row.completion_tokens),
    cachedTokens: n(row.cached_tokens),
    reasoningTokens: n(row.reasoning_tokens),
    costNanos: BigInt(String(row.cost_nanos ?? 0)),
    latencySumMs: n(row.latency_sum_ms),
    latency: row.latency_sketch ? LatencySketch.decode(row.latency_sketch) : new LatencySketch(),
    ttft: row.ttft_sketch ? LatencySketch.decode(row.ttft_sketch) : new LatencySketch(),
  };
}

function cloneCell(cell: RollupCell): RollupCell {
  const copy: RollupCell = { ...cell, latency: new LatencySketch(), ttft: new LatencySketch() };
  copy.latency.merge(cell.latency);
  copy.ttft.merge(cell.ttft);
  return copy;
}

function valueParams(c: RollupValues): unknown[] {
  return [
    c.requests,
    c.errors,
    c.fallbacks,
    c.promptTokens,
    c.completionTokens,
    c.cachedTokens,
    c.reasoningTokens,
    c.costNanos.toString(),
    c.latencySumMs,
    Buffer.from(c.latency.encode()),
    Buffer.from(c.ttft.encode()),
  ];
}

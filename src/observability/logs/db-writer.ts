/**
 * Writes batches of log entries to the database: one transaction per batch,
 * one multi-row INSERT per table and up to 200 rows, `on conflict (id) do
 * nothing` so that a batch replayed after an uncertain commit (the
 * connection dropped after COMMIT) or after a crash during replay is stored
 * exactly once.
 *
 * The statements are written here rather than through the ORM's query
 * builder: its per-value processing cost ≈300 µs of CPU per record on the
 * event loop the data plane shares. On SQLite they run on better-sqlite3
 * directly, prepared once per row count; on PostgreSQL through knex with
 * bound parameters. Values are converted the way the ORM
 * stores them (SQLite: dates as epoch milliseconds, booleans as 0/1, JSON as
 * text; PostgreSQL: timestamptz, boolean, jsonb), so the entities read them
 * back unchanged (`log-pipeline.test.ts`, `log-service.test.ts`).
 */
import type { Knex } from '@mikro-orm/postgresql';
import type { Orm } from '../../db/orm.js';
import { dialectOf } from '../../db/orm.js';
import type { LogEntry, McpCallLogDoc, RequestLogDoc } from './types.js';

/** Where the pipeline writes; `ping` tells an outage from a bad record. */
export interface LogWriter {
  /** Stores every entry or none (throws). */
  write(entries: readonly LogEntry[]): Promise<void>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
}

/** Rows per INSERT statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters (≈40 columns). */
const ROWS_PER_STATEMENT = 200;

/**
 * Row counts of the INSERTs for `n` rows: full statements of 200, then the rest as powers of two
 * (a rest of 37 → 32 + 4 + 1), so at most 9 distinct statements per table are ever prepared and
 * cached instead of one per batch size.
 */
export function statementSizes(n: number): number[] {
  const sizes: number[] = [];
  let rest = n;
  while (rest >= ROWS_PER_STATEMENT) {
    sizes.push(ROWS_PER_STATEMENT);
    rest -= ROWS_PER_STATEMENT;
  }
  for (let size = 128; size >= 1; size >>= 1) {
    if (rest >= size) {
      sizes.push(size);
      rest -= size;
    }
  }
  return sizes;
}

/** `rows` cut into consecutive slices of `statementSizes(rows.length)`. */
function slices<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (const size of statementSizes(rows.length)) {
    out.push(rows.slice(at, at + size));
    at += size;
  }
  return out;
}

type Kind = 'text' | 'int' | 'bool' | 'time' | 'json' | 'bigint';

/** Property → column and how to convert it, in the column order of the INSERT. */
const REQUEST_COLUMNS: [keyof RequestLogDoc, string, Kind][] = [
  ['id', 'id', 'text'], ['time', 'time', 'time'], ['workspaceId', 'workspace_id', 'text'], ['gateway', 'gateway', 'text'], ['apiKeyId', 'api_key_id', 'text'],
  ['apiKeyPrefix', 'api_key_prefix', 'text'], ['endpoint', 'endpoint', 'text'], ['requestedModel', 'requested_model', 'text'], ['provider', 'provider', 'text'],
  ['model', 'model', 'text'], ['route', 'route', 'text'], ['celResults', 'cel_results', 'json'], ['attempts', 'attempts', 'json'], ['status', 'status', 'int'],
  ['errorCode', 'error_code', 'text'], ['errorMessage', 'error_message', 'text'], ['rejectedStage', 'rejected_stage', 'text'], ['latencyMs', 'latency_ms', 'int'],
  ['ttftMs', 'ttft_ms', 'int'], ['promptTokens', 'prompt_tokens', 'int'], ['completionTokens', 'completion_tokens', 'int'], ['cachedTokens', 'cached_tokens', 'int'],
  ['reasoningTokens', 'reasoning_tokens', 'int'], ['cacheWriteTokens', 'cache_write_tokens', 'int'], ['costNanos', 'cost_nanos', 'bigint'],
  ['rateLimits', 'rate_limits', 'json'], ['spendLimits', 'spend_limits', 'json'], ['conversationId', 'conversation_id', 'text'], ['streamed', 'streamed', 'bool'],
  ['clientAborted', 'client_aborted', 'bool'], ['bodiesTruncated', 'bodies_truncated', 'bool'], ['requestHeaders', 'request_headers', 'text'],
  ['responseHeaders', 'response_headers', 'text'], ['requestBody', 'request_body', 'text'], ['responseBody', 'response_body', 'text'], ['searchText', 'search_text', 'text'],
];

const MCP_COLUMNS: [keyof McpCallLogDoc, string, Kind][] = [
  ['id', 'id', 'text'], ['time', 'time', 'time'], ['workspaceId', 'workspace_id', 'text'], ['gateway', 'gateway', 'text'], ['apiKeyId', 'api_key_id', 'text'],
  ['server', 'server', 'text'], ['tool', 'tool', 'text'], ['latencyMs', 'latency_ms', 'int'], ['status', 'status', 'text'], ['errorMessage', 'error_message', 'text'],
  ['input', 'input', 'text'], ['output', 'output', 'text'], ['parentId', 'parent_id', 'text'],
];

/** Integers are stored as such; a fractional or out-of-range number from a producer is clamped, never rejected. */
function int(v: unknown): number {
  const n = Math.round(Number(v) || 0);
  return Math.max(-2_147_483_648, Math.min(2_147_483_647, n));
}

/** PostgreSQL refuses U+0000 in text and jsonb; a prompt can carry one, so it becomes U+FFFD there. */
const NUL = /\u0000/g;
const noNul = (_key: string, x: unknown): unknown => (typeof x === 'string' && x.includes('\u0000') ? x.replace(NUL, '\uFFFD') : x);

function converter(postgres: boolean): (kind: Kind, v: unknown) => unknown {
  return (kind, v) => {
    switch (kind) {
      case 'text':
        return postgres && typeof v === 'string' && v.includes('\u0000') ? v.replace(NUL, '\uFFFD') : (v ?? null);
      case 'int':
        return int(v);
      case 'bool':
        return postgres ? Boolean(v) : v ? 1 : 0;
      case 'time':
        return postgres ? new Date(v as number) : (v as number);
      case 'json':
        return postgres ? JSON.stringify(v ?? null, noNul) : JSON.stringify(v ?? null);
      case 'bigint':
        return String(v ?? '0');
    }
  };
}

function insertSql(table: string, columns: readonly [unknown, string, Kind][], rows: number, postgres: boolean): string {
  const q = postgres ? '"' : '`';
  const names = columns.map(([, c]) => `${q}${c}${q}`).join(', ');
  const row = `(${columns.map(([, , k]) => (postgres && k === 'json' ? '?::jsonb' : '?')).join(', ')})`;
  return `insert into ${q}${table}${q} (${names}) values ${Array.from({ length: rows }, () => row).join(', ')} on conflict (${q}id${q}) do nothing`;
}

/** The parts of a better-sqlite3 connection the writer uses. */
interface SqliteStatement {
  run(params: unknown[]): unknown;
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  transaction(fn: () => void): () => void;
  pragma(sql: string): unknown;
}

/** Prepared INSERTs per SQLite connection (a reconnect gets new ones) and SQL text. */
const sqliteStatements = new WeakMap<SqliteConnection, Map<string, SqliteStatement>>();

/** A writer over the app's ORM connection. */
export function createDbLogWriter(orm: Orm): LogWriter {
  const postgres = dialectOf(orm) === 'postgresql';
  const convert = converter(postgres);
  const statements = new Map<string, string>();
  const sqlFor = (table: string, columns: readonly [unknown, string, Kind][], rows: number) => {
    const key = `${table}:${rows}`;
    let sql = statements.get(key);
    if (!sql) statements.set(key, (sql = insertSql(table, columns, rows, postgres)));
    return sql;
  };
  const params = <T>(docs: readonly T[], columns: readonly [keyof T, string, Kind][]): unknown[] => {
    const out: unknown[] = [];
    for (const d of docs) for (const [prop, , kind] of columns) out.push(convert(kind, d[prop]));
    return out;
  };
  return {
    async write(entries) {
      const requests: RequestLogDoc[] = [];
      const calls: McpCallLogDoc[] = [];
      for (const e of entries) {
        if (e.t === 'request') requests.push(e.r);
        else calls.push(e.r);
      }
      const knex = (orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
      if (!postgres) {
        // better-sqlite3 directly: the pool's one connection, taken from the pool (so no ORM transaction is
        // open on it), statements prepared once per row count. knex re-prepares the 7,000-parameter
        // statement and walks its bindings on every batch: ≈30 µs per record on the event loop.
        const client = knex.client as unknown as { acquireConnection(): Promise<SqliteConnection>; releaseConnection(c: SqliteConnection): Promise<void> };
        const db = await client.acquireConnection();
        try {
          const prepared = (table: string, columns: readonly [unknown, string, Kind][], rows: number) => {
            let byDb = sqliteStatements.get(db);
            if (!byDb) sqliteStatements.set(db, (byDb = new Map()));
            const sql = sqlFor(table, columns, rows);
            let stmt = byDb.get(sql);
            if (!stmt) byDb.set(sql, (stmt = db.prepare(sql)));
            return stmt;
          };
          // Log batches commit without an fsync of the WAL (≈0.2–1.5 ms on the event loop each): a power
          // loss can cost the last batches, which were only in memory a moment before anyway. The config
          // written on this connection keeps SQLite's default (FULL).
          db.pragma('synchronous = NORMAL');
          try {
            db.transaction(() => {
              for (const batch of slices(requests)) prepared('request_logs', REQUEST_COLUMNS, batch.length).run(params(batch, REQUEST_COLUMNS));
              for (const batch of slices(calls)) prepared('mcp_call_logs', MCP_COLUMNS, batch.length).run(params(batch, MCP_COLUMNS));
            })();
          } finally {
            db.pragma('synchronous = FULL');
          }
        } finally {
          await client.releaseConnection(db);
        }
        return;
      }
      // knex directly, with bound parameters: the ORM's `execute` inlines every value into the SQL text.
      await knex.transaction(async (trx) => {
        for (const batch of slices(requests)) await trx.raw(sqlFor('request_logs', REQUEST_COLUMNS, batch.length), params(batch, REQUEST_COLUMNS) as never);
        for (const batch of slices(calls)) await trx.raw(sqlFor('mcp_call_logs', MCP_COLUMNS, batch.length), params(batch, MCP_COLUMNS) as never);
      });
    },
    async ping() {
      await orm.em.fork().getConnection().execute('select 1');
    },
  };
}

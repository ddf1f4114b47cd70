/**
 * Writes batches of log entries to the database: one transaction per batch,
 * one multi-row insert per table, `on conflict (id) do nothing` so that a
 * batch replayed after an uncertain commit (the connection dropped after
 * COMMIT) or after a crash during replay is stored exactly once.
 */
import type { EntityManager as SqlEntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../../db/orm.js';
import { McpCallLogEntity, RequestLogEntity } from '../../db/entities.js';
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

function requestRow(d: RequestLogDoc): Record<string, unknown> {
  return { ...d, time: new Date(d.time), costNanos: d.costNanos };
}

function mcpRow(d: McpCallLogDoc): Record<string, unknown> {
  return { ...d, time: new Date(d.time) };
}

/** A writer over the app's ORM (a fresh entity manager per batch). */
export function createDbLogWriter(orm: Orm): LogWriter {
  return {
    async write(entries) {
      const requests: Record<string, unknown>[] = [];
      const calls: Record<string, unknown>[] = [];
      for (const e of entries) {
        if (e.t === 'request') requests.push(requestRow(e.r));
        else calls.push(mcpRow(e.r));
      }
      // Both drivers' entity managers are knex-based SQL entity managers (the PostgreSQL type names it).
      await (orm.em.fork() as unknown as SqlEntityManager).transactional(async (em) => {
        for (let i = 0; i < requests.length; i += ROWS_PER_STATEMENT) {
          await em.createQueryBuilder(RequestLogEntity).insert(requests.slice(i, i + ROWS_PER_STATEMENT) as never).onConflict('id').ignore().execute();
        }
        for (let i = 0; i < calls.length; i += ROWS_PER_STATEMENT) {
          await em.createQueryBuilder(McpCallLogEntity).insert(calls.slice(i, i + ROWS_PER_STATEMENT) as never).onConflict('id').ignore().execute();
        }
      });
    },
    async ping() {
      await orm.em.fork().getConnection().execute('select 1');
    },
  };
}

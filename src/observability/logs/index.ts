/**
 * The request log and MCP call log: `createLogPlane` builds the settle
 * observer that turns every settled `ProxyContext` into a record, the MCP
 * call sink, the durable pipeline behind both (memory queue → batched
 * inserts, spill file during outages) and the retention pruner.
 * See README.md in this directory.
 */
import { join } from 'node:path';
import { dialectOf, type Orm } from '../../db/orm.js';
import type { ProxyContext } from '../../policy/context.js';
import { registerGauge } from '../prometheus/gauges.js';
import type { McpCallSink } from '../records.js';
import { createDbLogWriter, type LogWriter } from './db-writer.js';
import { mcpCallLogRecord } from './mcp-record.js';
import { LogPipeline, type LogPipelineEvent, type LogPipelineOptions, type LogPipelineStats } from './pipeline.js';
import { requestLogRecord } from './request-record.js';
import { DEFAULT_LOG_RETENTION_DAYS, RetentionPruner, type RetentionOptions } from './retention.js';
import { SpillStore, type SpillOptions } from './spill.js';

export { CONVERSATION_HEADERS, CLIENT_CLOSED_STATUS, DEFAULT_MAX_RECORDED_BODY_CHARS, isRecorded, requestLogRecord } from './request-record.js';
export { DEFAULT_LOG_RETENTION_DAYS, effectiveRetentionDays, retentionCutoffs, RetentionPruner, type RetentionCutoffs, type PruneResult } from './retention.js';
export { LogPipeline, type LogPipelineEvent, type LogPipelineStats } from './pipeline.js';
export { SpillStore } from './spill.js';
export { createDbLogWriter, type LogWriter } from './db-writer.js';
export { redactHeaders, isSecretHeader, REDACTED } from './redact.js';
export type { LogEntry, RequestLogDoc, McpCallLogDoc } from './types.js';

/** The spill directory under the data directory when none is configured. */
export function defaultSpillDir(dataDir: string): string {
  return join(dataDir, 'log-spill');
}

export interface LogPlaneOptions {
  orm: Orm;
  /** Where the spill segments live (one directory per process). */
  spillDir: string;
  /** Server-default retention in days (workspaces with `log_retention_days` 0). */
  retentionDays?: number;
  /** Largest recorded body, in characters of its JSON text. */
  maxBodyChars?: number;
  /** Overrides of the pipeline's tuning (tests). */
  pipeline?: Omit<LogPipelineOptions, 'writer' | 'spill' | 'onEvent'>;
  spill?: Omit<SpillOptions, 'dir'>;
  retention?: Omit<RetentionOptions, 'orm' | 'defaultDays' | 'onError'> | false;
  /** Replaces the database writer (tests). */
  writer?: LogWriter;
  /** Outage start and end, dropped records, pruning failures. */
  onEvent?: (event: LogPipelineEvent | { kind: 'retention_failed'; error: unknown }) => void;
}

export interface LogPlane {
  /** The settle observer: one request-log record per settled request. Never throws or blocks. */
  observe(ctx: ProxyContext): void;
  /** The MCP gateway's call sink. Never throws or blocks. */
  mcpCalls: McpCallSink;
  pipeline: LogPipeline;
  pruner?: RetentionPruner;
  stats(): LogPipelineStats;
  /** Writes everything it holds (or leaves it in the spill for the next start) and stops pruning. */
  close(): Promise<void>;
}

export function createLogPlane(options: LogPlaneOptions): LogPlane {
  const onEvent = options.onEvent ?? (() => {});
  const safeEvent = (e: Parameters<typeof onEvent>[0]) => {
    try {
      onEvent(e);
    } catch {
      // Reporting must never break the pipeline.
    }
  };
  const spill = new SpillStore({ dir: options.spillDir, ...options.spill });
  // SQLite inserts on the event loop: batches of 64 rows (≈1 ms) instead of 200 keep each pause short.
  const batchSize = !options.writer && dialectOf(options.orm) === 'sqlite' ? 64 : 200;
  const pipeline = new LogPipeline({ writer: options.writer ?? createDbLogWriter(options.orm), spill, onEvent: safeEvent, batchSize, ...options.pipeline });
  const pruner =
    options.retention === false
      ? undefined
      : new RetentionPruner({
          orm: options.orm,
          defaultDays: options.retentionDays ?? DEFAULT_LOG_RETENTION_DAYS,
          ...options.retention,
          onError: (error) => safeEvent({ kind: 'retention_failed', error }),
        });
  pruner?.start();
  const maxBodyChars = options.maxBodyChars;
  // Read at every `/metrics` scrape (cheap: counters kept by the pipeline and the spill).
  const unregister = [
    registerGauge('sluice_log_queue_depth', 'Request and MCP call log records waiting in memory.', () => pipeline.stats().queued),
    registerGauge('sluice_log_spill_bytes', 'Unread bytes in the log spill (records waiting on disk for the database).', () => pipeline.stats().spillBytes),
    registerGauge('sluice_log_spill_segments', 'Log spill segment files on disk.', () => pipeline.stats().spillSegments),
    registerGauge('sluice_log_records_written', 'Log records written to the database since start.', () => pipeline.stats().written),
    registerGauge('sluice_log_records_dropped', 'Log records dropped since start (refused by the database, or the spill was full).', () => pipeline.stats().dropped),
    registerGauge('sluice_log_database_up', '1 when the last log write or ping reached the database.', () => (pipeline.stats().databaseUp ? 1 : 0)),
  ];
  return {
    observe(ctx) {
      try {
        pipeline.enqueue({ t: 'request', r: requestLogRecord(ctx, { maxBodyChars }) });
      } catch (error) {
        safeEvent({ kind: 'rejected', error, id: ctx.requestId });
      }
    },
    mcpCalls(record) {
      try {
        pipeline.enqueue({ t: 'mcp', r: mcpCallLogRecord(record, maxBodyChars) });
      } catch (error) {
        safeEvent({ kind: 'rejected', error, id: record.id });
      }
    },
    pipeline,
    pruner,
    stats: () => pipeline.stats(),
    async close() {
      await pruner?.stop();
      await pipeline.close();
      for (const off of unregister) off();
    },
  };
}

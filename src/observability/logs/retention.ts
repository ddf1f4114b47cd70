/**
 * Retention: request logs and MCP call logs older than their workspace's
 * `log_retention_days` (column `workspaces.log_retention_days`; 0 means the
 * server default, `SLUICE_LOG_RETENTION_DAYS`, 30 unless set) are deleted in
 * the background, in batches of `batchSize` rows with a pause between
 * batches so the log writer and the dashboard keep their share of the
 * database. Rows of unknown or deleted workspaces, and of requests rejected
 * before a key was known (workspace ''), follow the server default.
 *
 * `retentionCutoffs` is exported for the metrics rollups, which are pruned by
 * the same setting.
 */
import { McpCallLogEntity, RequestLogEntity, WorkspaceEntity } from '../../db/entities.js';
import type { Orm } from '../../db/orm.js';

export const DEFAULT_LOG_RETENTION_DAYS = 30;
const DAY_MS = 86_400_000;

/** The retention in days of a workspace whose `log_retention_days` is `days`. */
export function effectiveRetentionDays(days: number, defaultDays = DEFAULT_LOG_RETENTION_DAYS): number {
  return days > 0 ? days : defaultDays;
}

/** Per workspace id, the time before which its records are pruned; `others` applies to every other workspace id. */
export interface RetentionCutoffs {
  byWorkspace: Map<string, Date>;
  others: Date;
}

/** Reads every workspace's retention and turns it into cutoff times at `now`. */
export async function retentionCutoffs(orm: Orm, defaultDays = DEFAULT_LOG_RETENTION_DAYS, now = Date.now()): Promise<RetentionCutoffs> {
  const rows = await orm.em.fork().find(WorkspaceEntity, {}, { fields: ['id', 'logRetentionDays'] });
  const byWorkspace = new Map<string, Date>();
  for (const w of rows) byWorkspace.set(w.id, new Date(now - effectiveRetentionDays(w.logRetentionDays, defaultDays) * DAY_MS));
  return { byWorkspace, others: new Date(now - defaultDays * DAY_MS) };
}

export interface RetentionOptions {
  orm: Orm;
  defaultDays?: number;
  /** Between runs; default 1 hour. The first run is `firstRunMs` after `start` (default 1 minute). */
  intervalMs?: number;
  firstRunMs?: number;
  /** Rows per delete; default 5,000. */
  batchSize?: number;
  /** Pause between batches; default 50 ms. */
  pauseMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** Rows deleted by one run. */
export interface PruneResult {
  requestLogs: number;
  mcpCallLogs: number;
}

const TABLES = [
  ['requestLogs', RequestLogEntity],
  ['mcpCallLogs', McpCallLogEntity],
] as const;

export class RetentionPruner {
  private readonly orm: Orm;
  private readonly defaultDays: number;
  private readonly intervalMs: number;
  private readonly firstRunMs: number;
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneResult> | undefined;
  private stopped = false;

  constructor(options: RetentionOptions) {
    this.orm = options.orm;
    this.defaultDays = options.defaultDays ?? DEFAULT_LOG_RETENTION_DAYS;
    this.intervalMs = options.intervalMs ?? 3_600_000;
    this.firstRunMs = options.firstRunMs ?? 60_000;
    this.batchSize = options.batchSize ?? 5_000;
    this.pauseMs = options.pauseMs ?? 50;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => {});
  }

  /** Runs in the background until `stop`. */
  start(): void {
    this.stopped = false;
    const tick = (delay: number) => {
      this.timer = setTimeout(() => {
        void this.runOnce()
          .catch((err: unknown) => this.onError(err))
          .finally(() => {
            if (!this.stopped) tick(this.intervalMs);
          });
      }, delay);
      this.timer.unref();
    };
    tick(this.firstRunMs);
  }

  /** Stops the schedule and waits for a run in progress (it ends after its current batch). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Prunes once (a run already in progress is joined, not repeated). */
  runOnce(): Promise<PruneResult> {
    this.running ??= this.prune().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async prune(): Promise<PruneResult> {
    const cutoffs = await retentionCutoffs(this.orm, this.defaultDays, this.now());
    const result: PruneResult = { requestLogs: 0, mcpCallLogs: 0 };
    const known = [...cutoffs.byWorkspace.keys()];
    for (const [field, entity] of TABLES) {
      for (const [workspaceId, cutoff] of cutoffs.byWorkspace) {
        result[field] += await this.deleteWhere(entity, { workspaceId, time: { $lt: cutoff } });
      }
      result[field] += await this.deleteWhere(entity, { workspaceId: { $nin: known }, time: { $lt: cutoffs.others } });
    }
    return result;
  }

  private async deleteWhere(entity: typeof RequestLogEntity | typeof McpCallLogEntity, where: Record<string, unknown>): Promise<number> {
    let total = 0;
    while (!this.stopped) {
      const em = this.orm.em.fork();
      const rows = (await em.find(entity as typeof RequestLogEntity, where as never, { fields: ['id'], limit: this.batchSize })) as { id: string }[];
      if (rows.length === 0) break;
      total += await em.nativeDelete(entity as typeof RequestLogEntity, { id: { $in: rows.map((r) => r.id) } });
      if (rows.length < this.batchSize) break;
      await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
    return total;
  }
}

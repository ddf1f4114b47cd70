/**
 * Background pruning of old rollups. A workspace keeps its rollups for its
 * `log_retention_days` (the same setting as its request logs), or
 * `defaultDays` when that is 0 (the server default); rows of workspaces that
 * no longer exist are kept `defaultDays`. Runs once shortly after start and
 * then every `intervalMs`; a failed run is reported and retried next time.
 * Deletes are by (workspace, bucket start), one statement per workspace.
 */
import { WorkspaceEntity } from '../../db/entities.js';
import type { Orm } from '../../db/orm.js';
import type { RollupStore } from './store.js';

export interface RetentionOptions {
  orm: Orm;
  store: RollupStore;
  /** Days kept when a workspace sets none (0). */
  defaultDays: number;
  /** Default one hour. */
  intervalMs?: number;
  onError?: (err: unknown) => void;
  now?: () => number;
}

export class RollupRetention {
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    const run = () => void this.runOnce().catch((err: unknown) => this.options.onError?.(err));
    this.first = setTimeout(run, 10_000);
    this.first.unref();
    this.timer = setInterval(run, this.options.intervalMs ?? 3_600_000);
    this.timer.unref();
  }

  /** Prunes every workspace now; resolves to the number of rows deleted. Overlapping calls share one run. */
  runOnce(): Promise<number> {
    this.running ??= this.prune().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async prune(): Promise<number> {
    const nowS = Math.floor((this.options.now ?? Date.now)() / 1000);
    const cutoff = (days: number) => nowS - days * 86400;
    const workspaces = await this.options.orm.em.fork().find(WorkspaceEntity, {}, { fields: ['id', 'logRetentionDays'] });
    const known = new Map(workspaces.map((w) => [w.id, w.logRetentionDays > 0 ? w.logRetentionDays : this.options.defaultDays]));
    const defaultCutoff = cutoff(this.options.defaultDays);
    let deleted = 0;
    for (const [id, days] of known) deleted += await this.options.store.prune(id, cutoff(days));
    for (const id of await this.options.store.workspacesWithRowsBefore(defaultCutoff)) {
      if (!known.has(id)) deleted += await this.options.store.prune(id, defaultCutoff);
    }
    return deleted;
  }

  stop(): void {
    if (this.first) clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
  }
}

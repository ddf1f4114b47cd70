/**
 * Keeps the current runtime snapshot fresh: rebuilt right after a config
 * change made through this process, and when a periodic version check sees
 * a change made through another replica. Rebuilds never overlap; a change
 * that arrives during a rebuild triggers one more.
 */
import type { Orm } from '../db/orm.js';
import type { SecretBox } from '../security/secret-box.js';
import { configVersion } from '../services/store.js';
import { buildSnapshot, type RuntimeSnapshot } from './snapshot.js';

export interface SnapshotStoreOptions {
  orm: Orm;
  secrets: SecretBox;
  /** How often to compare the stored config version; 0 disables polling. */
  pollMs?: number;
  onProblem?: (message: string) => void;
}

export class SnapshotStore {
  private snapshot: RuntimeSnapshot | undefined;
  private rebuilding: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SnapshotStoreOptions) {}

  /** The current snapshot; `load()` must have completed. */
  get current(): RuntimeSnapshot {
    if (!this.snapshot) throw new Error('snapshot not loaded');
    return this.snapshot;
  }

  /** Builds the first snapshot and starts polling. */
  async load(): Promise<void> {
    await this.refresh();
    const pollMs = this.options.pollMs ?? 1000;
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.checkVersion(), pollMs);
      this.timer.unref();
    }
  }

  /** Rebuilds now (coalescing concurrent calls); resolves when the snapshot is current. */
  refresh(): Promise<void> {
    if (this.rebuilding) {
      this.again = true;
      return this.rebuilding;
    }
    this.rebuilding = (async () => {
      try {
        do {
          this.again = false;
          const version = await configVersion({ orm: this.options.orm, secrets: this.options.secrets });
          const em = this.options.orm.em.fork();
          const next = await buildSnapshot(em, this.options.secrets, version);
          for (const p of next.problems) this.options.onProblem?.(p);
          this.snapshot = next;
        } while (this.again);
      } finally {
        this.rebuilding = undefined;
      }
    })();
    return this.rebuilding;
  }

  private async checkVersion(): Promise<void> {
    try {
      const version = await configVersion({ orm: this.options.orm, secrets: this.options.secrets });
      if (this.snapshot && version !== this.snapshot.version) await this.refresh();
    } catch (err) {
      // The request path keeps serving the last good snapshot while the database is away.
      this.options.onProblem?.(`config version check failed: ${(err as Error).message}`);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * Keeps the current runtime snapshot fresh: rebuilt right after a config
 * change made through this process; for changes made through another
 * replica, at once when PostgreSQL announces them (`listenUrl`: LISTEN on
 * `sluice_config`, which `mutate` NOTIFYs in the transaction that bumps the
 * version), and by a periodic version check as the safety net (every second
 * without a listener, every 5 s with one, and right after the listener
 * (re)connects). Rebuilds never overlap; a change that arrives during a
 * rebuild triggers one more.
 */
import type { Orm } from '../db/orm.js';
import type { SecretBox } from '../security/secret-box.js';
import { CONFIG_CHANNEL, configVersion } from '../services/store.js';
import { ConfigListener } from './pg-listener.js';
import { buildSnapshot, type RuntimeSnapshot } from './snapshot.js';

/** Version-check interval without a change listener. */
export const DEFAULT_POLL_MS = 1000;
/** Version-check interval while a change listener is configured (the safety net). */
export const LISTENING_POLL_MS = 5000;

export interface SnapshotStoreOptions {
  orm: Orm;
  secrets: SecretBox;
  /**
   * How often to compare the stored config version; 0 disables polling.
   * Default `DEFAULT_POLL_MS`, or `LISTENING_POLL_MS` with `listenUrl`.
   */
  pollMs?: number;
  /** PostgreSQL URL of the config database: LISTEN for changes committed by any replica. */
  listenUrl?: string;
  onProblem?: (message: string) => void;
}

export class SnapshotStore {
  private snapshot: RuntimeSnapshot | undefined;
  private rebuilding: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private listener: ConfigListener | undefined;

  constructor(private readonly options: SnapshotStoreOptions) {}

  /** The current snapshot; `load()` must have completed. */
  get current(): RuntimeSnapshot {
    if (!this.snapshot) throw new Error('snapshot not loaded');
    return this.snapshot;
  }

  /** Builds the first snapshot, starts listening (with `listenUrl`) and polling. */
  async load(): Promise<void> {
    await this.refresh();
    if (this.options.listenUrl) {
      this.listener = new ConfigListener({
        url: this.options.listenUrl,
        channel: CONFIG_CHANNEL,
        onVersion: (version) => this.announced(version),
        // Catch up on whatever was announced while the connection was down.
        onConnected: () => void this.checkVersion(),
        onProblem: this.options.onProblem,
      });
      await this.listener.start();
    }
    const pollMs = this.options.pollMs ?? (this.listener ? LISTENING_POLL_MS : DEFAULT_POLL_MS);
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

  /** Whether the change listener's connection is up (false without `listenUrl`). */
  get listening(): boolean {
    return this.listener?.connected ?? false;
  }

  /** A version announced by a replica: rebuild unless this snapshot already has it. */
  private announced(version: bigint): void {
    if (this.snapshot && this.snapshot.version >= version && !this.rebuilding) return;
    this.refresh().catch((err: unknown) => this.options.onProblem?.(`config rebuild failed: ${(err as Error).message}`));
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

  /** Stops polling and closes the change listener. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.listener?.close();
  }
}

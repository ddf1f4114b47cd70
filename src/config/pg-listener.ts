/**
 * A dedicated PostgreSQL connection that `LISTEN`s on the config channel and
 * reports each announced version, so a change committed through any replica
 * reaches this one in milliseconds. The connection is outside the ORM's pool
 * (a pooled connection would lose its LISTEN when returned). When it drops,
 * it reconnects by itself with a backoff (250 ms doubling to 5 s); after
 * every (re)connection `onConnected` runs, so the caller can catch up on
 * anything announced while it was away.
 */
import pg from 'pg';

export interface ConfigListenerOptions {
  /** `postgres://…` of the config database. */
  url: string;
  /** Channel to LISTEN on. */
  channel: string;
  /** Called with each notification's version. A payload that is not a version is reported as a problem and ignored. */
  onVersion: (version: bigint) => void;
  /** Called after each successful LISTEN (first connection and every reconnection). */
  onConnected?: () => void;
  /** Connection problems (lost, refused); the listener keeps reconnecting. */
  onProblem?: (message: string) => void;
  /** Shown in `pg_stat_activity.application_name`; default `sluice-config-listener`. */
  applicationName?: string;
}

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;

/** Listens for config-version notifications until `close()`. */
export class ConfigListener {
  private client: pg.Client | undefined;
  private closed = false;
  private backoffMs = MIN_BACKOFF_MS;
  private retry: NodeJS.Timeout | undefined;
  private listening = false;

  constructor(private readonly options: ConfigListenerOptions) {}

  /** Whether the LISTEN connection is up right now. */
  get connected(): boolean {
    return this.listening;
  }

  /** Connects and LISTENs; resolves after the first attempt, whether it worked or not (it retries in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Stops listening and closes the connection; no reconnection afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: 5000,
      application_name: this.options.applicationName ?? 'sluice-config-listener',
      keepAlive: true,
    });
    this.client = client;
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      if (this.client === client) {
        this.client = undefined;
        this.listening = false;
      }
      client.removeAllListeners('notification');
      // Keep an error listener: a late 'error' with none would crash the process.
      client.on('error', () => undefined);
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.options.onProblem?.(`config listener: connection lost${err ? `: ${err.message}` : ''}; reconnecting in ${this.backoffMs} ms`);
      this.schedule();
    };
    client.on('error', (err) => onLost(err));
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel !== this.options.channel) return;
      const payload = msg.payload ?? '';
      if (!/^\d{1,20}$/.test(payload)) {
        this.options.onProblem?.(`config listener: ignoring notification with payload "${payload.slice(0, 40)}"`);
        return;
      }
      this.options.onVersion(BigInt(payload));
    });
    try {
      await client.connect();
      // The channel is a fixed identifier of ours, never user input.
      await client.query(`LISTEN ${this.options.channel}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (lost || this.closed) {
      if (this.closed) await client.end().catch(() => undefined);
      return;
    }
    this.listening = true;
    this.backoffMs = MIN_BACKOFF_MS;
    this.options.onConnected?.();
  }

  private schedule(): void {
    if (this.retry || this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, delay);
    this.retry.unref();
  }
}

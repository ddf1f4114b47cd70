/**
 * Process start-up shared by `sluice serve` and the end-to-end tests: open
 * and migrate the database, load the master key, make sure a root token
 * exists, optionally apply a config file, seed the demo workspace, open the
 * rate and spend counters (Redis with `REDIS_URL`, else in memory), and build
 * the app with the limit hooks.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { EnvConfig } from './config/env.js';
import { migrate, openOrm, type Orm } from './db/orm.js';
import { startWalCheckpointer, type WalCheckpointer } from './db/wal-checkpointer.js';
import { ProviderEntity } from './db/entities.js';
import { createSecretBox, loadOrCreateMasterKey } from './security/secret-box.js';
import { ensureRootToken } from './services/admin-auth.js';
import type { ServiceDeps } from './services/store.js';
import { seedDemoWorkspace } from './demo.js';
import { SnapshotStore } from './config/snapshot-store.js';
import type { PipelineHooks } from './policy/pipeline.js';
import { createMemoryCounterStore, createRedisCounterStore, type CounterStore } from './policy/counters/index.js';
import { createLimitHooks, throttled } from './policy/limits/index.js';
import type { ProxyContext } from './policy/context.js';
import { startTelemetry, type Telemetry } from './observability/metrics/telemetry.js';
import { createLogPlane, defaultSpillDir, type LogPlane } from './observability/logs/index.js';

/** How long start-up waits for Redis before serving anyway (limits then follow `on_store_failure`). */
const REDIS_READY_TIMEOUT_MS = 1000;

/** Where start-up messages go (stdout for the CLI, a buffer in tests). */
export type Announce = (line: string) => void;

export interface Sluice {
  app: FastifyInstance;
  deps: ServiceDeps;
  snapshots: SnapshotStore;
  /** The rate-limit and budget counters the pipeline uses. */
  counters: CounterStore;
  /** The request log and MCP call log pipeline. */
  logs: LogPlane;
  /** Metrics rollups, `/metrics` and trace export. */
  telemetry: Telemetry;
  /** Closes the HTTP server, then flushes the logs, then closes the counters and the database. */
  close(): Promise<void>;
}

/**
 * Opens the counters (Redis when `env.redisUrl` is set, else in memory): a Redis that does not
 * answer within a second is reported and the process starts anyway, reconnecting in the
 * background. Connection errors are logged at most every 10 s.
 */
async function openCounters(env: EnvConfig, announce: Announce, logger: () => FastifyBaseLogger | undefined, now?: () => number): Promise<CounterStore> {
  if (!env.redisUrl) return createMemoryCounterStore({ now });
  const where = new URL(env.redisUrl).host;
  const onConnectionError = throttled(10_000, (suppressed: number, err: Error) => {
    const log = logger();
    if (log) log.warn({ err, suppressed }, `counters: Redis ${where} connection error`);
    else announce(`counters: Redis ${where} connection error: ${err.message}`);
  });
  const store = createRedisCounterStore({ url: env.redisUrl, onConnectionError });
  try {
    await store.whenReady(REDIS_READY_TIMEOUT_MS);
    announce(`counters: Redis ${where}`);
  } catch {
    announce(`counters: Redis ${where} is not reachable yet; limits follow their on_store_failure setting until it is`);
  }
  return store;
}

/** Process-wide options of `startSluice` that tests set. */
export interface StartOptions {
  /**
   * Clock (epoch ms) for spend periods, the memory counter store and the usage RPCs; default
   * `Date.now`. The Redis store times rate windows and holds by the Redis server's clock.
   */
  now?: () => number;
}

/**
 * Opens storage and builds the app; `afterDeps` runs before the app is built (config-file apply).
 * The pipeline enforces the snapshot's rate limits and budgets; `hooks` replaces the `rateLimit` or
 * `spendLimit` hook it sets, and its `settle` replaces the request log that runs after settlement.
 */
export async function startSluice(
  env: EnvConfig,
  announce: Announce,
  afterDeps?: (deps: ServiceDeps) => Promise<void>,
  hooks?: PipelineHooks,
  options: StartOptions = {},
): Promise<Sluice> {
  const orm: Orm = await openOrm(env.database);
  let counters: CounterStore | undefined;
  let telemetry: Telemetry | undefined;
  let logs: LogPlane | undefined;
  let checkpointer: WalCheckpointer | undefined;
  try {
    const applied = await migrate(orm);
    if (applied.length) announce(`database: applied migrations ${applied.join(', ')}`);
    if (env.database.dialect === 'sqlite' && env.database.path !== ':memory:') {
      // After the migrations (they may rebuild tables); SQLite's own checkpoints would stall the event loop.
      checkpointer = await startWalCheckpointer(orm, env.database.path, { onProblem: (line) => announce(`database: ${line}`) });
    }
    const embedded = env.database.dialect === 'sqlite';
    const master = loadOrCreateMasterKey(env.masterKey, embedded ? join(env.dataDir, 'master.key') : undefined);
    if (master.source === 'generated') announce(`master key: generated ${join(env.dataDir, 'master.key')} (mode 0600); back it up with the database`);
    const secrets = createSecretBox(master.key);
    // On PostgreSQL other replicas' changes arrive by LISTEN/NOTIFY, with a version check as the safety net.
    const listenUrl = env.database.dialect === 'postgresql' ? env.database.url : undefined;
    const snapshots = new SnapshotStore({ orm, secrets, listenUrl, onProblem: (line) => announce(`config: ${line}`) });
    // Changes made through this process reach the data plane at once.
    const deps: ServiceDeps = { orm, secrets, now: options.now, onConfigChange: () => void snapshots.refresh() };

    const root = await ensureRootToken(deps, env.adminToken);
    if (root.generated) {
      announce(`admin token (shown once): ${root.generated}`);
      if (embedded) {
        const file = join(env.dataDir, 'admin-token');
        writeFileSync(file, root.generated + '\n', { mode: 0o600 });
        announce(`admin token also written to ${file} (mode 0600)`);
      }
    }
    await afterDeps?.(deps);
    if (env.demo === 'auto' && (await orm.em.fork().count(ProviderEntity, {})) === 0) {
      const demo = await seedDemoWorkspace(deps);
      for (const line of demo) announce(line);
    }
    await snapshots.load();
    let appLog: FastifyBaseLogger | undefined;
    const store = (counters = await openCounters(env, announce, () => appLog, options.now));
    deps.counters = store;
    const logPlane = (logs = createLogPlane({
      orm,
      spillDir: env.logSpillDir ?? defaultSpillDir(env.dataDir),
      retentionDays: env.logRetentionDays,
      onEvent: (e) => {
        const log = appLog;
        if (log) log.warn({ event: e }, `request log: ${e.kind}`);
        else announce(`request log: ${e.kind}`);
      },
    }));
    const tele = (telemetry = startTelemetry({
      orm,
      flushIntervalMs: env.metricsFlushMs,
      labelValueCap: env.metricsLabelCap,
      retentionDays: env.logRetentionDays,
      otel: env.otel,
      warn: (err, what) => {
        if (appLog) appLog.warn({ err }, what);
        else announce(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      },
    }));
    const app = await buildApp({
      deps,
      snapshots,
      logLevel: env.logLevel,
      prometheus: { metrics: tele.prometheus, token: env.metricsToken },
      mcpCalls: logPlane.mcpCalls,
      hooks: (log) => {
        appLog = log;
        // Observers of every settled request, in order; each must not throw or block.
        const observers: ((ctx: ProxyContext) => void)[] = [hooks?.settle ?? logPlane.observe, tele.observe];
        const limits = createLimitHooks({ store, log, now: options.now, next: (ctx) => { for (const observe of observers) observe(ctx); } });
        return { rateLimit: hooks?.rateLimit ?? limits.rateLimit, spendLimit: hooks?.spendLimit ?? limits.spendLimit, settle: limits.settle };
      },
    });
    return {
      app,
      deps,
      snapshots,
      counters: store,
      telemetry: tele,
      logs: logPlane,
      async close() {
        await snapshots.stop();
        await app.close();
        await tele.close();
        // After the server: every in-flight request has settled into the log by now.
        await logPlane.close();
        await store.close();
        await checkpointer?.close();
        await orm.close(true);
      },
    };
  } catch (err) {
    await telemetry?.close();
    await logs?.close();
    await counters?.close();
    await checkpointer?.close();
    await orm.close(true);
    throw err;
  }
}

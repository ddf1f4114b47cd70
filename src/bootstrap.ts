/**
 * Process start-up shared by `sluice serve` and the end-to-end tests: open
 * and migrate the database, load the master key, make sure a root token
 * exists, optionally apply a config file, seed the demo workspace, and build
 * the app.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { EnvConfig } from './config/env.js';
import { migrate, openOrm, type Orm } from './db/orm.js';
import { ProviderEntity } from './db/entities.js';
import { createSecretBox, loadOrCreateMasterKey } from './security/secret-box.js';
import { ensureRootToken } from './services/admin-auth.js';
import type { ServiceDeps } from './services/store.js';
import { seedDemoWorkspace } from './demo.js';
import { SnapshotStore } from './config/snapshot-store.js';
import type { PipelineHooks } from './policy/pipeline.js';

/** Where start-up messages go (stdout for the CLI, a buffer in tests). */
export type Announce = (line: string) => void;

export interface Sluice {
  app: FastifyInstance;
  deps: ServiceDeps;
  snapshots: SnapshotStore;
  /** Closes the HTTP server, then the database. */
  close(): Promise<void>;
}

/** Opens storage and builds the app; `afterDeps` runs before the app is built (config-file apply). */
export async function startSluice(
  env: EnvConfig,
  announce: Announce,
  afterDeps?: (deps: ServiceDeps) => Promise<void>,
  hooks?: PipelineHooks,
): Promise<Sluice> {
  const orm: Orm = await openOrm(env.database);
  try {
    const applied = await migrate(orm);
    if (applied.length) announce(`database: applied migrations ${applied.join(', ')}`);
    const embedded = env.database.dialect === 'sqlite';
    const master = loadOrCreateMasterKey(env.masterKey, embedded ? join(env.dataDir, 'master.key') : undefined);
    if (master.source === 'generated') announce(`master key: generated ${join(env.dataDir, 'master.key')} (mode 0600); back it up with the database`);
    const secrets = createSecretBox(master.key);
    const snapshots = new SnapshotStore({ orm, secrets, onProblem: (line) => announce(`config: ${line}`) });
    // Changes made through this process reach the data plane at once; other replicas' changes by polling.
    const deps: ServiceDeps = { orm, secrets, onConfigChange: () => void snapshots.refresh() };

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
    const app = await buildApp({ deps, snapshots, logLevel: env.logLevel, hooks });
    return {
      app,
      deps,
      snapshots,
      async close() {
        snapshots.stop();
        await app.close();
        await orm.close(true);
      },
    };
  } catch (err) {
    await orm.close(true);
    throw err;
  }
}

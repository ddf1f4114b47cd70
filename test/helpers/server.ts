/**
 * A real Sluice listening on a loopback port, on a fresh SQLite or PostgreSQL
 * database, started through the same `startSluice` as `sluice serve`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startSluice, type Sluice, type StartOptions } from '../../src/bootstrap.js';
import type { EnvConfig } from '../../src/config/env.js';
import type { Dialect } from '../../src/db/orm.js';
import { createTestDatabase } from './database.js';
import type { PipelineHooks } from '../../src/policy/pipeline.js';

export interface RunningSluice {
  sluice: Sluice;
  baseUrl: string;
  rootToken: string;
  dataDir: string;
  announced: string[];
  close(): Promise<void>;
}

/** Starts Sluice on 127.0.0.1 with an ephemeral port. */
export async function startTestServer(dialect: Dialect, overrides: Partial<EnvConfig> = {}, hooks?: PipelineHooks, options?: StartOptions): Promise<RunningSluice> {
  const db = await createTestDatabase(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const rootToken = `sluice-root-test-${randomBytes(12).toString('hex')}`;
  const database = db.target.dialect === 'sqlite' ? { dialect: 'sqlite' as const, path: join(dataDir, 'sluice.db') } : db.target;
  const env: EnvConfig = {
    host: '127.0.0.1',
    port: 0,
    dataDir,
    database,
    adminToken: rootToken,
    masterKey: randomBytes(32).toString('hex'),
    logLevel: 'silent',
    demo: 'off',
    ...overrides,
  };
  const announced: string[] = [];
  const sluice = await startSluice(env, (line) => announced.push(line), undefined, hooks, options);
  const address = await sluice.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    sluice,
    baseUrl: address,
    rootToken,
    dataDir,
    announced,
    async close() {
      await sluice.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

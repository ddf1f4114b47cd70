/**
 * Test databases: a fresh in-memory SQLite, or a fresh PostgreSQL database
 * created on the server at SLUICE_TEST_POSTGRES_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
 * A PostgreSQL suite that cannot connect fails; it is never skipped silently.
 * Set SLUICE_TEST_SKIP_POSTGRES=1 to leave PostgreSQL out on purpose (not in CI).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openOrm, migrate, type DatabaseTarget, type Dialect, type Orm } from '../../src/db/orm.js';
import { createSecretBox } from '../../src/security/secret-box.js';
import type { ServiceDeps } from '../../src/services/store.js';
import type { CallContext } from '../../src/services/context.js';

export const POSTGRES_URL = process.env.SLUICE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Dialects every storage-backed suite runs on. */
export const DIALECTS: Dialect[] =
  process.env.SLUICE_TEST_SKIP_POSTGRES === '1' && process.env.CI !== 'true' ? ['sqlite'] : ['sqlite', 'postgresql'];

export interface TestDatabase {
  target: DatabaseTarget;
  drop(): Promise<void>;
}

/** Creates an empty database of the dialect. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') return { target: { dialect, path: ':memory:' }, drop: async () => {} };
  const name = `sluice_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (cause) {
    throw new Error(`PostgreSQL is required for this suite but unreachable at ${POSTGRES_URL}`, { cause });
  }
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    target: { dialect, url: url.toString() },
    async drop() {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface TestDeps {
  deps: ServiceDeps;
  orm: Orm;
  root: CallContext;
  close(): Promise<void>;
}

/** A migrated database with service dependencies and a root call context. */
export async function createTestDeps(dialect: Dialect): Promise<TestDeps> {
  const db = await createTestDatabase(dialect);
  const orm = await openOrm(db.target);
  await migrate(orm);
  const deps: ServiceDeps = { orm, secrets: createSecretBox(randomBytes(32)) };
  return {
    deps,
    orm,
    root: { principal: { kind: 'root', tokenId: 'rt_test' } },
    async close() {
      await orm.close(true);
      await db.drop();
    },
  };
}

/** A call context for a workspace token of `workspaceId`. */
export function workspaceCall(workspaceId: string): CallContext {
  return { principal: { kind: 'workspace', tokenId: 'wt_test', workspaceId } };
}

/**
 * Opens the database: SQLite (the embedded default, one file in the data
 * directory) or PostgreSQL (`DATABASE_URL`). Both run the same entities; each
 * dialect has its own versioned migrations under `migrations/<dialect>/`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MikroORM as SqliteOrm, BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { MikroORM as PostgresOrm, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { MikroORM, Options } from '@mikro-orm/core';
import { entities } from './entities.js';
import { sqliteMigrations } from './migrations/sqlite/index.js';
import { postgresqlMigrations } from './migrations/postgresql/index.js';

/** Where the data lives. */
export type DatabaseTarget = { dialect: 'sqlite'; path: string } | { dialect: 'postgresql'; url: string };

export type Dialect = DatabaseTarget['dialect'];

/** The ORM type the service layer sees (dialect-independent). */
export type Orm = MikroORM;

/** MikroORM options for a target; `migrationsPath` is only needed when creating new migrations. */
export function ormOptions(target: DatabaseTarget, migrationsPath?: string): Options {
  const migrations = {
    tableName: 'sluice_migrations',
    transactional: true,
    allOrNothing: true,
    emit: 'ts' as const,
    snapshot: false,
    silent: true,
    ...(migrationsPath
      ? { path: migrationsPath, pathTs: migrationsPath, glob: 'Migration*.{js,ts}' }
      : { migrationsList: target.dialect === 'sqlite' ? sqliteMigrations : postgresqlMigrations }),
  };
  const common: Options = {
    entities,
    extensions: [Migrator],
    migrations,
    debug: false,
    allowGlobalContext: false,
    forceUtcTimezone: true,
    discovery: { warnWhenNoEntities: true },
  };
  if (target.dialect === 'sqlite') {
    return { ...common, driver: BetterSqliteDriver, dbName: target.path };
  }
  return { ...common, driver: PostgreSqlDriver, clientUrl: target.url, pool: { min: 0, max: 10 } };
}

/** Opens the database without touching its schema. */
export async function openOrm(target: DatabaseTarget, migrationsPath?: string): Promise<Orm> {
  if (target.dialect === 'sqlite') {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true });
    const orm = await SqliteOrm.init(ormOptions(target, migrationsPath) as Parameters<typeof SqliteOrm.init>[0]);
    // WAL lets readers (the dashboard) run while the log pipeline writes.
    await orm.em.getConnection().execute('pragma journal_mode = wal');
    await orm.em.getConnection().execute('pragma busy_timeout = 5000');
    return orm as unknown as Orm;
  }
  const orm = await PostgresOrm.init(ormOptions(target, migrationsPath) as Parameters<typeof PostgresOrm.init>[0]);
  return orm as unknown as Orm;
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

/** The dialect of an open ORM. */
export function dialectOf(orm: Orm): Dialect {
  return orm.config.get('driver') === BetterSqliteDriver ? 'sqlite' : 'postgresql';
}

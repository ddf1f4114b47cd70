/**
 * The versioned migrations of each dialect produce exactly the schema the
 * entities describe. A change to `src/db/entities.ts` without a new migration
 * (`npm run db:migrations -- <name>`) fails here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openOrm, type Orm } from '../../src/db/orm.js';
import { sqliteMigrations } from '../../src/db/migrations/sqlite/index.js';
import { postgresqlMigrations } from '../../src/db/migrations/postgresql/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/database.js';

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  const opened: { orm: Orm; db: TestDatabase }[] = [];
  afterAll(async () => {
    for (const { orm, db } of opened) {
      await orm.close(true);
      await db.drop();
    }
  });

  it('apply from scratch and leave no difference to the entities', async () => {
    const db = await createTestDatabase(dialect);
    const orm = await openOrm(db.target);
    opened.push({ orm, db });
    const applied = await migrate(orm);
    const expected = (dialect === 'sqlite' ? sqliteMigrations : postgresqlMigrations).map((m) => m.name);
    expect(applied).toEqual(expected);
    const diff = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
    expect(await orm.getMigrator().checkMigrationNeeded()).toBe(false);
    // Re-running is a no-op.
    expect(await migrate(orm)).toEqual([]);
  });
});

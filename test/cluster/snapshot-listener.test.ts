/**
 * The snapshot store's PostgreSQL change listener on its own: two ORMs on one
 * database stand for two replicas; one mutates through the service layer, the
 * other's snapshot store (with polling OFF, so only notifications can move it)
 * must follow within a second. Also: a rolled-back mutation announces nothing,
 * the listener reconnects by itself after its connection is killed and catches
 * up on changes made meanwhile, and the periodic version check still works
 * when the listener cannot connect at all.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { create } from '@bufbuild/protobuf';
import { CreateWorkspaceRequestSchema } from '../../src/gen/sluice/v1/workspace_pb.js';
import { SnapshotStore } from '../../src/config/snapshot-store.js';
import { WorkspaceEntity } from '../../src/db/entities.js';
import { migrate, openOrm, type Orm } from '../../src/db/orm.js';
import { createSecretBox } from '../../src/security/secret-box.js';
import { CONFIG_CHANNEL, mutate, type ServiceDeps } from '../../src/services/store.js';
import { createWorkspaceService } from '../../src/services/workspace-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { until } from './cluster.js';

const root = { principal: { kind: 'root' as const, tokenId: 'rt_test' } };

describe('config change listener on PostgreSQL', () => {
  let db: TestDatabase;
  let url: string;
  let writer: Orm;
  let reader: Orm;
  let deps: ServiceDeps;
  const secrets = createSecretBox(randomBytes(32));
  const stores: SnapshotStore[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgresql');
    if (db.target.dialect !== 'postgresql') throw new Error('unreachable');
    url = db.target.url;
    writer = await openOrm(db.target);
    await migrate(writer);
    reader = await openOrm(db.target);
    deps = { orm: writer, secrets };
  });
  afterAll(async () => {
    for (const s of stores) await s.stop();
    await reader?.close(true);
    await writer?.close(true);
    await db?.drop();
  });

  async function store(options: { listenUrl?: string; pollMs: number }): Promise<SnapshotStore> {
    const s = new SnapshotStore({ orm: reader, secrets, ...options, onProblem: (line) => problems.push(line) });
    stores.push(s);
    await s.load();
    return s;
  }
  const names = (s: SnapshotStore) => [...s.current.workspaces.values()].map((w) => w.name);
  const createWorkspace = (name: string) => createWorkspaceService(deps).createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name } }), root);

  it('follows a change committed through another connection within a second, by notification alone', async () => {
    const s = await store({ listenUrl: url, pollMs: 0 });
    expect(s.listening).toBe(true);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      await createWorkspace(`notified-${i}`);
      latencies.push(await until(async () => names(s).includes(`notified-${i}`), 1000, 2));
    }
    expect(Math.max(...latencies)).toBeLessThan(1000);
    console.log(`notification → rebuilt snapshot: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`);
  });

  it('announces nothing for a rolled-back mutation, and the version in the payload for a committed one', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const payloads: string[] = [];
    client.on('notification', (m) => payloads.push(m.payload ?? ''));
    await client.query(`LISTEN ${CONFIG_CHANNEL}`);
    try {
      await expect(
        mutate(deps, async (em) => {
          em.create(WorkspaceEntity, { id: `ws_${randomBytes(6).toString('hex')}`, name: 'rolled-back' } as never);
          await em.flush();
          throw new Error('abort the transaction');
        }),
      ).rejects.toThrow('abort the transaction');
      await new Promise((r) => setTimeout(r, 300));
      expect(payloads).toEqual([]);
      await createWorkspace('committed');
      await until(async () => payloads.length === 1, 1000, 5);
      const version = await reader.em.fork().getConnection().execute('select version from config_state where id = 1');
      expect(payloads).toEqual([String((version as { version: string | number }[])[0]!.version)]);
    } finally {
      await client.end();
    }
  });

  it('reconnects by itself when its connection is killed and catches up on what changed meanwhile', async () => {
    const s = await store({ listenUrl: url, pollMs: 0 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const killed = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'sluice-config-listener'`,
      );
      expect(killed.rowCount).toBeGreaterThanOrEqual(1);
      await until(async () => !s.listening, 2000, 5);
      // Committed while the listener is down: no notification reaches it.
      await createWorkspace('while-down');
      await until(async () => s.listening, 5000, 10);
      // Caught up by the version check that follows every reconnection.
      await until(async () => names(s).includes('while-down'), 1000, 5);
      // And notifications flow again.
      await createWorkspace('after-reconnect');
      await until(async () => names(s).includes('after-reconnect'), 1000, 2);
      expect(problems.some((p) => p.startsWith('config listener: connection lost'))).toBe(true);
    } finally {
      await admin.end();
    }
  });

  it('still follows changes by the periodic version check when the listener cannot connect', async () => {
    const s = await store({ listenUrl: 'postgres://postgres@127.0.0.1:1/none', pollMs: 200 });
    expect(s.listening).toBe(false);
    await createWorkspace('polled');
    await until(async () => names(s).includes('polled'), 2000, 10);
  });
});

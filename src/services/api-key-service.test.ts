import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { FieldMaskSchema, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ApiKeyEntity, GatewayEntity } from '../db/entities.js';
import { SluiceError } from '../errors.js';
import {
  ApiKeySchema,
  CreateApiKeyRequestSchema,
  DeleteApiKeyRequestSchema,
  GetApiKeyRequestSchema,
  ListApiKeysRequestSchema,
  RevokeApiKeyRequestSchema,
  UpdateApiKeyRequestSchema,
} from '../gen/sluice/v1/api_key_pb.js';
import { CreateWorkspaceRequestSchema } from '../gen/sluice/v1/workspace_pb.js';
import { hashSecret, newId, publicPrefix } from '../security/tokens.js';
import { createTestDeps, DIALECTS, workspaceCall, type TestDeps } from '../../test/helpers/database.js';
import { createApiKeyService } from './api-key-service.js';
import type { CallContext } from './context.js';
import { configVersion } from './store.js';
import { createWorkspaceService } from './workspace-service.js';

function json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

async function rejection(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

function fields(err: SluiceError): string[] {
  return err.violations.map((v) => v.field);
}

function mask(...paths: string[]) {
  return create(FieldMaskSchema, { paths });
}

const inDays = (days: number) => timestampFromDate(new Date(Date.now() + days * 86_400_000));

/** A secret `hasEnoughEntropy` accepts. */
const IMPORTED = 'sk-sluice-Q3wErTy7UiOp9AsDfGh2JkLzXcVb';

describe.each(DIALECTS)('ApiKeyService on %s', (dialect) => {
  let t: TestDeps;
  let svc: ReturnType<typeof createApiKeyService>;
  beforeAll(async () => {
    t = await createTestDeps(dialect);
    svc = createApiKeyService(t.deps);
  });
  afterAll(async () => t?.close());

  async function workspace(name: string, ...gateways: string[]): Promise<string> {
    const res = await createWorkspaceService(t.deps).createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name } }), t.root);
    const id = res.workspace!.id!;
    const em = t.orm.em.fork();
    for (const gateway of gateways) {
      em.create(GatewayEntity, { id: newId('gw'), workspaceId: id, name: gateway, tags: [], models: [], mcp: { deferLoading: false, blockedTools: [], authorization: '' } });
    }
    await em.flush();
    return id;
  }

  async function key(workspaceId: string, apiKey: MessageInitShape<typeof ApiKeySchema>, call: CallContext = t.root) {
    const res = await svc.createApiKey(create(CreateApiKeyRequestSchema, { workspaceId, apiKey }), call);
    return { apiKey: create(ApiKeySchema, res.apiKey), secret: res.secret ?? '' };
  }

  const stored = (id: string) => t.orm.em.fork().findOneOrFail(ApiKeyEntity, { id });
  const count = (workspaceId: string) => t.orm.em.fork().count(ApiKeyEntity, { workspaceId });

  /** Every page of a list, as lists of key ids. */
  async function pages(req: MessageInitShape<typeof ListApiKeysRequestSchema>): Promise<string[][]> {
    const out: string[][] = [];
    let pageToken = '';
    do {
      const res = await svc.listApiKeys(create(ListApiKeysRequestSchema, { ...req, pageToken }), t.root);
      out.push(res.apiKeys?.map((k) => k.id ?? '') ?? []);
      pageToken = res.nextPageToken ?? '';
    } while (pageToken);
    return out;
  }

  it('creates a key whose generated secret is shown once, then gets, lists, updates, revokes and deletes it', async () => {
    const ws = await workspace('key-crud', 'edge', 'batch');
    const created = await svc.createApiKey(
      create(CreateApiKeyRequestSchema, { workspaceId: ws, apiKey: { name: 'app', metadata: { team: 'core' }, gateways: ['edge'] } }),
      t.root,
    );
    const secret = created.secret!;
    const app = create(ApiKeySchema, created.apiKey);
    expect(secret).toMatch(/^sk-sluice-[0-9A-Za-z]{32}$/);
    expect(app).toMatchObject({ workspaceId: ws, name: 'app', prefix: publicPrefix(secret), metadata: { team: 'core' }, gateways: ['edge'], defaultGateway: 'edge' });
    expect(app.id).toMatch(/^key_/);
    expect(app.expireTime).toBeUndefined();
    expect(json(app)).not.toContain(secret);
    const row = await stored(app.id);
    expect(row.hash).toBe(hashSecret(secret));
    expect(json(row)).not.toContain(secret);

    const got = await svc.getApiKey(create(GetApiKeyRequestSchema, { id: app.id }), t.root);
    expect(got.apiKey).toEqual(app);
    expect(json(got)).not.toContain(secret);

    const ci = (await key(ws, { name: 'ci' })).apiKey;
    expect(ci).toMatchObject({ gateways: [], defaultGateway: '' });
    const batch = (await key(ws, { name: 'batch', gateways: ['edge', 'batch'], defaultGateway: 'batch' })).apiKey;
    expect(batch.defaultGateway).toBe('batch');

    const listed = await pages({ workspaceId: ws, pageSize: 1 });
    expect(listed).toHaveLength(3);
    expect(listed.every((page) => page.length === 1)).toBe(true);
    expect(listed.flat().sort()).toEqual([app.id, ci.id, batch.id].sort());

    const expiry = inDays(30);
    const updated = await svc.updateApiKey(
      create(UpdateApiKeyRequestSchema, {
        apiKey: { id: app.id, name: 'ignored', metadata: { team: 'infra', tier: 'gold' }, gateways: ['batch'], expireTime: expiry },
        updateMask: mask('metadata', 'expire_time'),
      }),
      t.root,
    );
    expect(updated.apiKey).toMatchObject({ name: 'app', metadata: { team: 'infra', tier: 'gold' }, gateways: ['edge'], defaultGateway: 'edge' });
    expect(updated.apiKey?.expireTime?.seconds).toBe(expiry.seconds);
    const cleared = await svc.updateApiKey(create(UpdateApiKeyRequestSchema, { apiKey: { id: app.id }, updateMask: mask('expire_time') }), t.root);
    expect(cleared.apiKey?.expireTime).toBeUndefined();
    expect((await stored(app.id)).expiresAt).toBeNull();
    for (const path of ['name', 'prefix', 'revoke_time']) {
      const err = await rejection(svc.updateApiKey(create(UpdateApiKeyRequestSchema, { apiKey: { id: app.id, name: 'x' }, updateMask: mask(path) }), t.root));
      expect(err.kind).toBe('invalid_argument');
      expect(fields(err)).toEqual(['update_mask']);
    }

    const revoked = await svc.revokeApiKey(create(RevokeApiKeyRequestSchema, { id: app.id }), t.root);
    expect(revoked.apiKey?.revokeTime).toBeDefined();
    const again = await svc.revokeApiKey(create(RevokeApiKeyRequestSchema, { id: app.id }), t.root);
    expect(again.apiKey?.revokeTime).toEqual(revoked.apiKey?.revokeTime);
    expect((await pages({ workspaceId: ws })).flat().sort()).toEqual([ci.id, batch.id].sort());
    expect((await pages({ workspaceId: ws, showRevoked: true })).flat().sort()).toEqual([app.id, ci.id, batch.id].sort());

    await svc.deleteApiKey(create(DeleteApiKeyRequestSchema, { id: app.id }), t.root);
    expect((await rejection(svc.getApiKey(create(GetApiKeyRequestSchema, { id: app.id }), t.root))).kind).toBe('not_found');
    expect((await rejection(svc.deleteApiKey(create(DeleteApiKeyRequestSchema, { id: app.id }), t.root))).kind).toBe('not_found');
    expect(await count(ws)).toBe(2);
  });

  it('imports a known secret once and refuses weak or reused ones without echoing them', async () => {
    const ws = await workspace('key-import');
    const other = await workspace('key-import-other');
    const imported = await svc.createApiKey(create(CreateApiKeyRequestSchema, { workspaceId: ws, apiKey: { name: 'imported' }, secret: IMPORTED }), t.root);
    expect(imported.secret).toBe(IMPORTED);
    expect(imported.apiKey?.prefix).toBe('sk-sluice-Q3wErT');
    expect((await stored(imported.apiKey!.id!)).hash).toBe(hashSecret(IMPORTED));

    const reused = await rejection(svc.createApiKey(create(CreateApiKeyRequestSchema, { workspaceId: other, apiKey: { name: 'copy' }, secret: IMPORTED }), t.root));
    expect(reused.kind).toBe('already_exists');
    expect(reused.message).toContain('secret');
    for (const revealing of [IMPORTED, 'imported', ws]) expect(reused.message).not.toContain(revealing);

    const weak = ['sk-sluice-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'sk-other-Q3wErTy7UiOp9AsDfGh2JkLzXcVb', 'sk-sluice-short1234', 'sk-sluice-Q3wErTy7UiOp9AsDfGh2JkLz!!!!'];
    for (const secret of weak) {
      const err = await rejection(svc.createApiKey(create(CreateApiKeyRequestSchema, { workspaceId: other, apiKey: { name: 'weak' }, secret }), t.root));
      expect(err.kind).toBe('invalid_argument');
      expect(err.violations).toMatchObject([{ field: 'secret', reason: 'INVALID_FORMAT' }]);
      expect(json(err) + err.message).not.toContain(secret.slice('sk-sluice-'.length));
    }
    expect(await count(other)).toBe(0);
  });

  it('rejects invalid keys naming every field, and writes nothing', async () => {
    const ws = await workspace('key-invalid', 'edge', 'batch');
    await workspace('key-invalid-other', 'elsewhere');
    const before = await configVersion(t.deps);
    const reject = (req: MessageInitShape<typeof CreateApiKeyRequestSchema>) =>
      rejection(svc.createApiKey(create(CreateApiKeyRequestSchema, { workspaceId: ws, ...req }), t.root));

    const everything = await reject({
      apiKey: {
        name: 'Bad Name',
        metadata: { 'bad key': 'v', ok: 'x'.repeat(513) },
        gateways: ['edge', 'ghost', 'edge'],
        defaultGateway: 'nowhere',
        expireTime: inDays(-1),
      },
      secret: 'sk-sluice-weak',
    });
    expect(everything.kind).toBe('invalid_argument');
    expect(fields(everything)).toEqual([
      'api_key.name',
      'api_key.metadata["bad key"]',
      'api_key.metadata["ok"]',
      'api_key.expire_time',
      'secret',
      'api_key.gateways[1]',
      'api_key.gateways[2]',
      'api_key.default_gateway',
    ]);
    expect(everything.violations[5]).toMatchObject({ reason: 'UNKNOWN_REFERENCE', description: 'unknown gateway "ghost"' });
    expect(everything.violations[6]?.reason).toBe('DUPLICATE');
    expect(everything.violations[7]?.reason).toBe('UNKNOWN_REFERENCE');

    const metadata = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect((await reject({ apiKey: { name: 'many', metadata } })).violations).toMatchObject([{ field: 'api_key.metadata', reason: 'TOO_MANY' }]);
    expect(fields(await reject({ apiKey: { name: 'long-key', metadata: { ['k'.repeat(65)]: 'v' } } }))).toEqual([`api_key.metadata["${'k'.repeat(65)}"]`]);
    expect((await reject({ apiKey: { name: 'off-list', gateways: ['edge'], defaultGateway: 'batch' } })).violations).toMatchObject([
      { field: 'api_key.default_gateway', reason: 'INVALID' },
    ]);
    expect((await reject({ apiKey: { name: 'foreign', gateways: ['elsewhere'] } })).violations).toMatchObject([
      { field: 'api_key.gateways[0]', reason: 'UNKNOWN_REFERENCE', description: 'unknown gateway "elsewhere"' },
    ]);
    expect((await reject({ apiKey: { name: 'blank', gateways: [''] } })).violations).toMatchObject([{ field: 'api_key.gateways[0]', reason: 'REQUIRED' }]);
    expect((await reject({ apiKey: {} })).violations).toMatchObject([{ field: 'api_key.name', reason: 'REQUIRED' }]);
    expect(await count(ws)).toBe(0);
    expect(await configVersion(t.deps)).toBe(before);

    const { apiKey } = await key(ws, { name: 'app', metadata: { team: 'core' }, gateways: ['edge', 'batch'], defaultGateway: 'batch' });
    const duplicate = await reject({ apiKey: { name: 'app' } });
    expect(duplicate.kind).toBe('already_exists');
    expect(duplicate.message).toContain('api_key.name');

    const update = (init: object, ...paths: string[]) =>
      rejection(svc.updateApiKey(create(UpdateApiKeyRequestSchema, { apiKey: { id: apiKey.id, ...init }, updateMask: mask(...paths) }), t.root));
    expect((await update({ gateways: ['edge'] }, 'gateways')).violations).toMatchObject([
      { field: 'api_key.gateways', reason: 'INVALID', description: 'must include the default gateway "batch"' },
    ]);
    expect(fields(await update({ defaultGateway: 'ghost' }, 'default_gateway'))).toEqual(['api_key.default_gateway']);
    expect(fields(await update({ metadata: { 'no spaces': 'v' }, expireTime: inDays(-1), gateways: ['batch', 'edge', 'batch'] }, 'metadata', 'expire_time', 'gateways'))).toEqual([
      'api_key.metadata["no spaces"]',
      'api_key.expire_time',
      'api_key.gateways[2]',
    ]);
    const missingId = await rejection(svc.updateApiKey(create(UpdateApiKeyRequestSchema, { apiKey: {}, updateMask: mask('metadata') }), t.root));
    expect(fields(missingId)).toEqual(['api_key.id']);
    expect(await stored(apiKey.id)).toMatchObject({ metadata: { team: 'core' }, gateways: ['edge', 'batch'], defaultGateway: 'batch', expiresAt: null });

    // Narrowing to one gateway without naming a default makes it the default.
    const narrowed = await svc.updateApiKey(
      create(UpdateApiKeyRequestSchema, { apiKey: { id: apiKey.id, gateways: ['edge'], defaultGateway: '' }, updateMask: mask('gateways', 'default_gateway') }),
      t.root,
    );
    expect(narrowed.apiKey).toMatchObject({ gateways: ['edge'], defaultGateway: 'edge' });
    const opened = await svc.updateApiKey(create(UpdateApiKeyRequestSchema, { apiKey: { id: apiKey.id, gateways: [] }, updateMask: mask('gateways') }), t.root);
    expect(opened.apiKey).toMatchObject({ gateways: [], defaultGateway: 'edge' });
  });

  it('filters by gateway, name, query and revocation with exact pages', async () => {
    const ws = await workspace('key-filters', 'a', 'b');
    const ids: Record<string, string> = {};
    for (const [name, gateways] of [
      ['all', []],
      ['only-a', ['a']],
      ['only-b', ['b']],
      ['both', ['a', 'b']],
      ['gone-a', ['a']],
    ] as const) {
      ids[name] = (await key(ws, { name, gateways: [...gateways] })).apiKey.id;
    }
    await svc.revokeApiKey(create(RevokeApiKeyRequestSchema, { id: ids['gone-a'] }), t.root);
    const byId = (...names: string[]) => names.map((n) => ids[n]!).sort();

    const onA = await pages({ workspaceId: ws, gateway: 'a', pageSize: 1 });
    expect(onA).toEqual(byId('all', 'only-a', 'both').map((id) => [id]));
    expect((await pages({ workspaceId: ws, gateway: 'a', pageSize: 2 })).map((p) => p.length)).toEqual([2, 1]);
    expect((await pages({ workspaceId: ws, gateway: 'a', pageSize: 3 })).map((p) => p.length)).toEqual([3]);
    expect((await pages({ workspaceId: ws, gateway: 'a', showRevoked: true })).flat()).toEqual(byId('all', 'only-a', 'both', 'gone-a'));
    expect((await pages({ workspaceId: ws, gateway: 'unknown' })).flat()).toEqual(byId('all'));
    expect((await pages({ workspaceId: ws, name: 'only-b' })).flat()).toEqual(byId('only-b'));
    expect((await pages({ workspaceId: ws, query: 'OTH' })).flat()).toEqual(byId('both'));
    expect((await pages({ workspaceId: ws, query: 'only', gateway: 'b' })).flat()).toEqual(byId('only-b'));

    // A page token of one filter combination resumes the same scan.
    const first = await svc.listApiKeys(create(ListApiKeysRequestSchema, { workspaceId: ws, gateway: 'a', pageSize: 1 }), t.root);
    const bad = await rejection(svc.listApiKeys(create(ListApiKeysRequestSchema, { workspaceId: ws, pageToken: 'garbage' }), t.root));
    expect(fields(bad)).toEqual(['page_token']);
    const second = await svc.listApiKeys(create(ListApiKeysRequestSchema, { workspaceId: ws, gateway: 'a', pageSize: 1, pageToken: first.nextPageToken }), t.root);
    expect(second.apiKeys?.map((k) => k.id)).toEqual([byId('all', 'only-a', 'both')[1]]);
  });

  it('pages a gateway filter correctly across long runs of non-matching keys', async () => {
    const ws = await workspace('key-scan', 'a', 'b');
    const now = new Date();
    const row = (i: number, gateways: string[]) => ({
      id: `key_scan${String(i).padStart(6, '0')}`,
      workspaceId: ws,
      name: `k${i}`,
      prefix: 'sk-sluice-scan00',
      hash: hashSecret(`scan-${i}`),
      metadata: {},
      gateways,
      defaultGateway: '',
      expiresAt: null,
      revokedAt: null,
      createdAt: now,
      updatedAt: now,
    });
    // Two matches, 2,100 keys for another gateway (more than two scan batches), two more matches.
    const rows = [row(0, ['a']), row(1, ['a']), ...Array.from({ length: 2100 }, (_, i) => row(i + 2, ['b'])), row(2102, ['a']), row(2103, [])];
    await t.orm.em.fork().insertMany(ApiKeyEntity, rows);
    const matching = [rows[0]!.id, rows[1]!.id, rows[2102]!.id, rows[2103]!.id];

    expect(await pages({ workspaceId: ws, gateway: 'a', pageSize: 2 })).toEqual([matching.slice(0, 2), matching.slice(2)]);
    expect(await pages({ workspaceId: ws, gateway: 'a', pageSize: 3 })).toEqual([matching.slice(0, 3), matching.slice(3)]);
    expect(await pages({ workspaceId: ws, gateway: 'a', pageSize: 4 })).toEqual([matching]);
    expect((await pages({ workspaceId: ws, gateway: 'b', pageSize: 1000 })).map((p) => p.length)).toEqual([1000, 1000, 101]);
  });

  it('never lets a workspace token reach another workspace', async () => {
    const a = await workspace('key-tenant-a', 'edge');
    const b = await workspace('key-tenant-b', 'edge', 'b-only');
    const asA = workspaceCall(a);
    const mine = (await key('', { name: 'mine', gateways: ['edge'] }, asA)).apiKey;
    expect(mine.workspaceId).toBe(a);
    const theirs = (await key(b, { name: 'theirs', metadata: { owner: 'b' } })).apiKey;

    const hidden = await Promise.all([
      rejection(svc.getApiKey(create(GetApiKeyRequestSchema, { id: theirs.id }), asA)),
      rejection(svc.updateApiKey(create(UpdateApiKeyRequestSchema, { apiKey: { id: theirs.id, metadata: {} }, updateMask: mask('metadata') }), asA)),
      rejection(svc.revokeApiKey(create(RevokeApiKeyRequestSchema, { id: theirs.id }), asA)),
      rejection(svc.deleteApiKey(create(DeleteApiKeyRequestSchema, { id: theirs.id }), asA)),
    ]);
    expect(hidden.map((e) => e.kind)).toEqual(Array(4).fill('not_found'));
    const denied = await Promise.all([
      rejection(svc.createApiKey(create(CreateApiKeyRequestSchema, { workspaceId: b, apiKey: { name: 'sneaky' } }), asA)),
      rejection(svc.listApiKeys(create(ListApiKeysRequestSchema, { workspaceId: b }), asA)),
    ]);
    expect(denied.map((e) => e.kind)).toEqual(['permission_denied', 'permission_denied']);
    const foreignGateway = await rejection(svc.createApiKey(create(CreateApiKeyRequestSchema, { apiKey: { name: 'x', gateways: ['b-only'] } }), asA));
    expect(fields(foreignGateway)).toEqual(['api_key.gateways[0]']);

    const own = await svc.listApiKeys(create(ListApiKeysRequestSchema, {}), asA);
    expect(own.apiKeys?.map((k) => k.id)).toEqual([mine.id]);
    expect((await rejection(svc.listApiKeys(create(ListApiKeysRequestSchema, { workspaceId: 'ws_missing' }), t.root))).kind).toBe('not_found');
    expect((await rejection(svc.createApiKey(create(CreateApiKeyRequestSchema, { apiKey: { name: 'x' } }), t.root))).violations).toMatchObject([
      { field: 'workspace_id', reason: 'REQUIRED' },
    ]);

    expect(await count(b)).toBe(1);
    expect(await stored(theirs.id)).toMatchObject({ metadata: { owner: 'b' }, revokedAt: null });
  });
});

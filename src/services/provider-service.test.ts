import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import {
  GatewayEntity,
  ModelEntity,
  ProviderCredentialEntity,
  ProviderEntity,
  RouteEntity,
  type PoolDoc,
} from '../db/entities.js';
import { SluiceError } from '../errors.js';
import {
  CreateModelRequestSchema,
  CreateProviderCredentialRequestSchema,
  CreateProviderRequestSchema,
  CredentialKind,
  DeleteModelRequestSchema,
  DeleteProviderCredentialRequestSchema,
  DeleteProviderRequestSchema,
  GetModelRequestSchema,
  GetProviderCredentialRequestSchema,
  GetProviderRequestSchema,
  ListModelsRequestSchema,
  ListProviderCredentialsRequestSchema,
  ListProvidersRequestSchema,
  ProviderType,
  UpdateModelRequestSchema,
  UpdateProviderCredentialRequestSchema,
  UpdateProviderRequestSchema,
  ModelSchema,
  ProviderSchema,
} from '../gen/sluice/v1/provider_pb.js';
import { CreateWorkspaceRequestSchema } from '../gen/sluice/v1/workspace_pb.js';
import { newId } from '../security/tokens.js';
import { createTestDeps, DIALECTS, workspaceCall, type TestDeps } from '../../test/helpers/database.js';
import type { CallContext } from './context.js';
import { createProviderService } from './provider-service.js';
import { configVersion } from './store.js';
import { createWorkspaceService } from './workspace-service.js';

/** JSON of a response, bigints included, to search it for leaked secrets. */
function json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** The SluiceError a call rejects with. */
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

/** Every page of a list, following next_page_token. */
async function pages<T>(fetch: (token: string) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[][]> {
  const out: T[][] = [];
  let token = '';
  do {
    const page = await fetch(token);
    out.push(page.items ?? []);
    token = page.next ?? '';
  } while (token);
  return out;
}

const SECRET = 'sk-upstream-SECRET-abcdef123456wxyz';

describe.each(DIALECTS)('ProviderService on %s', (dialect) => {
  let t: TestDeps;
  let svc: ReturnType<typeof createProviderService>;
  beforeAll(async () => {
    t = await createTestDeps(dialect);
    svc = createProviderService(t.deps);
  });
  afterAll(async () => t?.close());

  async function workspace(name: string): Promise<string> {
    const res = await createWorkspaceService(t.deps).createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name } }), t.root);
    return res.workspace!.id!;
  }

  async function provider(workspaceId: string, init: MessageInitShape<typeof ProviderSchema>, call: CallContext = t.root) {
    const res = await svc.createProvider(create(CreateProviderRequestSchema, { workspaceId, provider: init }), call);
    return create(ProviderSchema, res.provider);
  }

  async function model(providerId: string, name: string) {
    const res = await svc.createModel(create(CreateModelRequestSchema, { providerId, model: { name, enabled: true } }), t.root);
    return create(ModelSchema, res.model);
  }

  async function counts(workspaceId: string) {
    const em = t.orm.em.fork();
    return {
      providers: await em.count(ProviderEntity, { workspaceId }),
      credentials: await em.count(ProviderCredentialEntity, { workspaceId }),
      models: await em.count(ModelEntity, { workspaceId }),
    };
  }

  /** Inserts a gateway with one route using `pool` and `fallbacks`, as the gateway service would store it. */
  async function insertRoute(workspaceId: string, gatewayName: string, pool: PoolDoc['members'], fallbacks: PoolDoc['members'][] = []) {
    const em = t.orm.em.fork();
    const doc = (members: PoolDoc['members']): PoolDoc => ({ strategy: 'priority', members, fallbackOn: [], attemptTimeoutMs: 0 });
    const gateway = em.create(GatewayEntity, {
      id: newId('gw'),
      workspaceId,
      name: gatewayName,
      tags: [],
      models: [],
      mcp: { deferLoading: false, blockedTools: [], authorization: '' },
    });
    const route = em.create(RouteEntity, { id: newId('rt'), workspaceId, gatewayId: gateway.id, name: 'main', pool: doc(pool), fallbacks: fallbacks.map(doc) });
    await em.flush();
    return route.id;
  }

  it('creates, gets, lists page by page, updates with a mask and deletes providers', async () => {
    const ws = await workspace('prv-crud');
    const openai = await provider(ws, { name: 'openai', type: ProviderType.OPENAI, enabled: true });
    const azure = await provider(ws, {
      name: 'azure',
      type: ProviderType.AZURE_OPENAI,
      enabled: true,
      baseUrl: 'https://acme.openai.azure.com',
      azureApiVersion: '2024-10-21',
      timeoutMs: 30_000,
      recordBodies: true,
    });
    const mock = await provider(ws, { name: 'mock', type: ProviderType.MOCK, mock: { latencyMs: 20, completionTokens: 8 } });
    expect(openai).toMatchObject({ workspaceId: ws, name: 'openai', type: ProviderType.OPENAI, baseUrl: '', enabled: true, credentials: [] });
    expect(azure).toMatchObject({ type: ProviderType.AZURE_OPENAI, azureApiVersion: '2024-10-21', timeoutMs: 30_000, recordBodies: true });
    expect(mock.mock).toMatchObject({ latencyMs: 20, completionTokens: 8 });
    expect(openai.id).toMatch(/^prv_/);
    expect((await t.orm.em.fork().findOneOrFail(ProviderEntity, { id: azure.id })).type).toBe('azure_openai');

    const got = (await svc.getProvider(create(GetProviderRequestSchema, { id: azure.id }), t.root)).provider!;
    expect(got).toEqual(azure);

    const listed = await pages(async (pageToken) => {
      const res = await svc.listProviders(create(ListProvidersRequestSchema, { workspaceId: ws, pageSize: 1, pageToken }), t.root);
      return { items: res.providers?.map((p) => p.name), next: res.nextPageToken };
    });
    expect(listed).toHaveLength(3);
    expect(listed.every((page) => page.length === 1)).toBe(true);
    expect(listed.flat().sort()).toEqual(['azure', 'mock', 'openai']);

    const list = async (filter: object) =>
      (await svc.listProviders(create(ListProvidersRequestSchema, { workspaceId: ws, ...filter }), t.root)).providers?.map((p) => p.name);
    expect(await list({ type: ProviderType.MOCK })).toEqual(['mock']);
    expect(await list({ name: 'azure' })).toEqual(['azure']);
    expect((await list({ query: 'OC' }))?.sort()).toEqual(['mock']);
    expect((await list({ query: 'a' }))?.sort()).toEqual(['azure', 'openai']);

    const updated = (
      await svc.updateProvider(
        create(UpdateProviderRequestSchema, {
          provider: { id: azure.id, timeoutMs: 5_000, enabled: false, baseUrl: 'https://ignored.example.com' },
          updateMask: mask('timeout_ms', 'enabled'),
        }),
        t.root,
      )
    ).provider!;
    expect(updated).toMatchObject({ timeoutMs: 5_000, enabled: false, baseUrl: 'https://acme.openai.azure.com', recordBodies: true });

    const all = (
      await svc.updateProvider(
        create(UpdateProviderRequestSchema, {
          provider: { id: mock.id, baseUrl: 'http://localhost:9999', mock: { latencyMs: 1, completionTokens: 2 } },
          updateMask: mask('*'),
        }),
        t.root,
      )
    ).provider!;
    expect(all).toMatchObject({ baseUrl: 'http://localhost:9999', enabled: true, mock: { latencyMs: 1, completionTokens: 2 } });

    for (const path of ['name', 'type']) {
      const err = await rejection(
        svc.updateProvider(create(UpdateProviderRequestSchema, { provider: { id: openai.id, name: 'renamed' }, updateMask: mask(path) }), t.root),
      );
      expect(err.kind).toBe('invalid_argument');
      expect(fields(err)).toEqual(['update_mask']);
    }
    const noMask = await rejection(svc.updateProvider(create(UpdateProviderRequestSchema, { provider: { id: openai.id } }), t.root));
    expect(noMask.violations).toMatchObject([{ field: 'update_mask', reason: 'REQUIRED' }]);

    await svc.deleteProvider(create(DeleteProviderRequestSchema, { id: openai.id }), t.root);
    expect((await rejection(svc.getProvider(create(GetProviderRequestSchema, { id: openai.id }), t.root))).kind).toBe('not_found');
    expect((await rejection(svc.deleteProvider(create(DeleteProviderRequestSchema, { id: openai.id }), t.root))).kind).toBe('not_found');
    expect((await counts(ws)).providers).toBe(2);
  });

  it('rejects invalid providers naming every field, and writes nothing', async () => {
    const ws = await workspace('prv-invalid');
    const before = await configVersion(t.deps);
    const reject = (req: object) => rejection(svc.createProvider(create(CreateProviderRequestSchema, { workspaceId: ws, ...req }), t.root));

    const everything = await reject({
      provider: { name: 'Bad Name', baseUrl: 'ftp://example.com', timeoutMs: 3_600_001, mock: { latencyMs: 600_001, completionTokens: 100_001 } },
      credentials: [{ source: { case: 'envVar', value: 'lower_case' } }, { source: { case: 'value', value: '' } }, {}],
    });
    expect(everything.kind).toBe('invalid_argument');
    expect(fields(everything)).toEqual([
      'provider.name',
      'provider.type',
      'provider.base_url',
      'provider.timeout_ms',
      'provider.mock.latency_ms',
      'provider.mock.completion_tokens',
      'credentials[0].env_var',
      'credentials[1].value',
      'credentials[2]',
    ]);

    const azure = await reject({ provider: { name: 'az', type: ProviderType.AZURE_OPENAI } });
    expect(azure.violations).toMatchObject([
      { field: 'provider.base_url', reason: 'REQUIRED' },
      { field: 'provider.azure_api_version', reason: 'REQUIRED' },
    ]);
    const compatible = await reject({ provider: { name: 'vllm', type: ProviderType.OPENAI_COMPATIBLE } });
    expect(compatible.violations).toMatchObject([{ field: 'provider.base_url', reason: 'REQUIRED' }]);
    const unknownType = await reject({ provider: { name: 'x', type: 99 } });
    expect(unknownType.violations).toMatchObject([{ field: 'provider.type', reason: 'INVALID_ENUM' }]);
    const metadata = await reject({ provider: { name: 'x', type: ProviderType.OPENAI, baseUrl: 'http://169.254.169.254/v1', timeoutMs: -1 } });
    expect(metadata.violations).toMatchObject([
      { field: 'provider.base_url', reason: 'FORBIDDEN_ADDRESS' },
      { field: 'provider.timeout_ms', reason: 'OUT_OF_RANGE' },
    ]);

    // A valid provider with one bad credential is refused whole, without quoting the secret.
    const leak = `LEAKED-${'z'.repeat(8200)}`;
    const badSecret = await reject({
      provider: { name: 'openai', type: ProviderType.OPENAI },
      credentials: [{ source: { case: 'value', value: SECRET } }, { source: { case: 'value', value: leak } }],
    });
    expect(badSecret.violations).toMatchObject([{ field: 'credentials[1].value', reason: 'TOO_LONG' }]);
    expect(json(badSecret) + badSecret.message).not.toContain('LEAKED');
    expect(badSecret.message).not.toContain(SECRET);

    expect(await counts(ws)).toEqual({ providers: 0, credentials: 0, models: 0 });
    expect(await configVersion(t.deps)).toBe(before);

    await provider(ws, { name: 'openai', type: ProviderType.OPENAI });
    const duplicate = await reject({ provider: { name: 'openai', type: ProviderType.ANTHROPIC } });
    expect(duplicate.kind).toBe('already_exists');
    expect(duplicate.message).toContain('provider.name');
    expect((await counts(ws)).providers).toBe(1);

    const missing = await rejection(
      svc.createProvider(create(CreateProviderRequestSchema, { workspaceId: 'ws_missing', provider: { name: 'p', type: ProviderType.OPENAI } }), t.root),
    );
    expect(missing.kind).toBe('not_found');
    const unnamed = await rejection(svc.createProvider(create(CreateProviderRequestSchema, { provider: { name: 'p', type: ProviderType.OPENAI } }), t.root));
    expect(fields(unnamed)).toEqual(['workspace_id']);
  });

  it('validates updates against the stored type and leaves the row unchanged when refusing', async () => {
    const ws = await workspace('prv-update');
    const azure = await provider(ws, { name: 'azure', type: ProviderType.AZURE_OPENAI, baseUrl: 'https://a.example.com', azureApiVersion: '2024-10-21' });
    const vllm = await provider(ws, { name: 'vllm', type: ProviderType.OPENAI_COMPATIBLE, baseUrl: 'http://vllm:8000/v1' });
    const update = (provider: object, ...paths: string[]) =>
      rejection(svc.updateProvider(create(UpdateProviderRequestSchema, { provider, updateMask: mask(...paths) }), t.root));

    const azureErr = await update({ id: azure.id, azureApiVersion: '', baseUrl: '', timeoutMs: 3_600_001 }, 'azure_api_version', 'base_url', 'timeout_ms');
    expect(azureErr.kind).toBe('invalid_argument');
    expect(fields(azureErr)).toEqual(['provider.base_url', 'provider.timeout_ms', 'provider.azure_api_version']);
    expect(fields(await update({ id: vllm.id, baseUrl: '' }, 'base_url'))).toEqual(['provider.base_url']);
    expect(fields(await update({ id: vllm.id, mock: { latencyMs: -1 } }, 'mock'))).toEqual(['provider.mock.latency_ms']);
    expect(fields(await update({ timeoutMs: 1 }, 'timeout_ms'))).toEqual(['provider.id']);

    const row = await t.orm.em.fork().findOneOrFail(ProviderEntity, { id: azure.id });
    expect(row).toMatchObject({ azureApiVersion: '2024-10-21', baseUrl: 'https://a.example.com', timeoutMs: 0 });
    const cleared = await svc.updateProvider(
      create(UpdateProviderRequestSchema, { provider: { id: vllm.id, azureApiVersion: '' }, updateMask: mask('azure_api_version') }),
      t.root,
    );
    expect(cleared.provider?.azureApiVersion).toBe('');
  });

  it('keeps credential secrets write-only and sealed at rest', async () => {
    const ws = await workspace('prv-creds');
    const created = await svc.createProvider(
      create(CreateProviderRequestSchema, {
        workspaceId: ws,
        provider: { name: 'openai', type: ProviderType.OPENAI, enabled: true },
        credentials: [{ source: { case: 'envVar', value: 'OPENAI_API_KEY' } }, { source: { case: 'value', value: SECRET } }, { source: { case: 'value', value: 'short-1234' } }],
      }),
      t.root,
    );
    const p = created.provider!;
    expect(json(created)).not.toContain(SECRET);
    expect(json(created)).not.toContain('short-1234');
    const creds = p.credentials ?? [];
    expect(creds.map((c) => [c.kind, c.envVar, c.hint, c.enabled]).sort()).toEqual(
      [
        [CredentialKind.ENV_VAR, 'OPENAI_API_KEY', '', true],
        [CredentialKind.ENCRYPTED, '', '…wxyz', true],
        [CredentialKind.ENCRYPTED, '', '', true],
      ].sort(),
    );

    const em = t.orm.em.fork();
    const rows = await em.find(ProviderCredentialEntity, { providerId: p.id });
    expect(rows).toHaveLength(3);
    const envRow = rows.find((r) => r.kind === 'env_var');
    expect(envRow).toMatchObject({ envVar: 'OPENAI_API_KEY', ciphertext: '' });
    const sealed = rows.filter((r) => r.kind === 'encrypted');
    expect(sealed.map((r) => t.deps.secrets.open(r.ciphertext)).sort()).toEqual([SECRET, 'short-1234'].sort());
    expect(json(rows)).not.toContain(SECRET);

    const got = await svc.getProvider(create(GetProviderRequestSchema, { id: p.id }), t.root);
    expect(got.provider?.credentials).toHaveLength(3);
    expect(json(got)).not.toContain(SECRET);

    const added = await svc.createProviderCredential(
      create(CreateProviderCredentialRequestSchema, { providerId: p.id, name: 'backup', source: { source: { case: 'value', value: 'sk-second-secret-9876' } } }),
      t.root,
    );
    const backup = added.credential!;
    expect(backup).toMatchObject({ providerId: p.id, name: 'backup', kind: CredentialKind.ENCRYPTED, hint: '…9876', enabled: true });
    expect(backup.id).toMatch(/^cred_/);
    expect(json(added)).not.toContain('sk-second-secret');
    const backupRow = () => t.orm.em.fork().findOneOrFail(ProviderCredentialEntity, { id: backup.id });
    expect(t.deps.secrets.open((await backupRow()).ciphertext)).toBe('sk-second-secret-9876');

    const listed = await pages(async (pageToken) => {
      const res = await svc.listProviderCredentials(create(ListProviderCredentialsRequestSchema, { providerId: p.id, pageSize: 1, pageToken }), t.root);
      expect(json(res)).not.toContain(SECRET);
      return { items: res.credentials?.map((c) => c.id), next: res.nextPageToken };
    });
    expect(listed).toHaveLength(4);
    expect(listed.flat().sort()).toEqual([...rows.map((r) => r.id), backup.id].sort());

    const rotated = await svc.updateProviderCredential(
      create(UpdateProviderCredentialRequestSchema, {
        id: backup.id,
        name: 'primary',
        enabled: false,
        source: { source: { case: 'value', value: 'sk-rotated-secret-5555' } },
        updateMask: mask('source', 'enabled'),
      }),
      t.root,
    );
    expect(rotated.credential).toMatchObject({ name: 'backup', enabled: false, hint: '…5555', kind: CredentialKind.ENCRYPTED });
    expect(json(rotated)).not.toContain('sk-rotated-secret');
    expect(t.deps.secrets.open((await backupRow()).ciphertext)).toBe('sk-rotated-secret-5555');

    const toEnv = await svc.updateProviderCredential(
      create(UpdateProviderCredentialRequestSchema, { id: backup.id, name: 'env', source: { source: { case: 'envVar', value: 'BACKUP_KEY' } }, updateMask: mask('source', 'name') }),
      t.root,
    );
    expect(toEnv.credential).toMatchObject({ name: 'env', kind: CredentialKind.ENV_VAR, envVar: 'BACKUP_KEY', hint: '' });
    expect(await backupRow()).toMatchObject({ kind: 'env_var', ciphertext: '', hint: '' });

    const one = await svc.getProviderCredential(create(GetProviderCredentialRequestSchema, { id: backup.id }), t.root);
    expect(one.credential?.envVar).toBe('BACKUP_KEY');
    await svc.deleteProviderCredential(create(DeleteProviderCredentialRequestSchema, { id: backup.id }), t.root);
    expect((await rejection(svc.getProviderCredential(create(GetProviderCredentialRequestSchema, { id: backup.id }), t.root))).kind).toBe('not_found');
  });

  it('rejects invalid credentials without quoting them', async () => {
    const ws = await workspace('prv-creds-invalid');
    const p = await provider(ws, { name: 'openai', type: ProviderType.OPENAI });
    const before = await counts(ws);
    const createCred = (req: object) => rejection(svc.createProviderCredential(create(CreateProviderCredentialRequestSchema, { providerId: p.id, ...req }), t.root));

    expect((await createCred({})).violations).toMatchObject([{ field: 'source', reason: 'REQUIRED' }]);
    const badEnv = await createCred({ name: 'n'.repeat(64), source: { source: { case: 'envVar', value: '1-NOT-AN-ENV' } } });
    expect(badEnv.kind).toBe('invalid_argument');
    expect(fields(badEnv)).toEqual(['name', 'source.env_var']);
    expect(badEnv.message).not.toContain('1-NOT-AN-ENV');
    expect(fields(await createCred({ providerId: '', source: { source: { case: 'envVar', value: 'OK' } } }))).toEqual(['provider_id']);

    const huge = `TOP-SECRET-${'q'.repeat(8192)}`;
    const tooLong = await createCred({ source: { source: { case: 'value', value: huge } } });
    expect(tooLong.violations).toMatchObject([{ field: 'source.value', reason: 'TOO_LONG' }]);
    expect(json(tooLong) + tooLong.message).not.toContain('TOP-SECRET');

    const cred = (await svc.createProviderCredential(create(CreateProviderCredentialRequestSchema, { providerId: p.id, source: { source: { case: 'envVar', value: 'K' } } }), t.root))
      .credential!;
    const updateErr = await rejection(
      svc.updateProviderCredential(
        create(UpdateProviderCredentialRequestSchema, { id: cred.id, source: { source: { case: 'value', value: huge } }, updateMask: mask('source') }),
        t.root,
      ),
    );
    expect(fields(updateErr)).toEqual(['source.value']);
    expect(updateErr.message).not.toContain('TOP-SECRET');
    const wrongPath = await rejection(
      svc.updateProviderCredential(create(UpdateProviderCredentialRequestSchema, { id: cred.id, updateMask: mask('kind') }), t.root),
    );
    expect(fields(wrongPath)).toEqual(['update_mask']);
    expect(await t.orm.em.fork().findOneOrFail(ProviderCredentialEntity, { id: cred.id! })).toMatchObject({ kind: 'env_var', envVar: 'K', ciphertext: '' });
    expect((await counts(ws)).credentials).toBe(before.credentials + 1);
  });

  it('manages models with public names and price overrides', async () => {
    const ws = await workspace('prv-models');
    const openai = await provider(ws, { name: 'openai', type: ProviderType.OPENAI });
    const anthropic = await provider(ws, { name: 'anthropic', type: ProviderType.ANTHROPIC });
    const groq = await provider(ws, { name: 'groq', type: ProviderType.OPENAI_COMPATIBLE, baseUrl: 'https://api.groq.com/openai/v1' });

    const priced = await svc.createModel(
      create(CreateModelRequestSchema, {
        providerId: openai.id,
        model: { name: 'gpt-4o', enabled: true, price: { inputPerMtokMicros: 2_500_000n, outputPerMtokMicros: 10_000_000n, cachedInputPerMtokMicros: 0n } },
      }),
      t.root,
    );
    const gpt4o = priced.model!;
    expect(gpt4o).toMatchObject({ workspaceId: ws, providerId: openai.id, name: 'gpt-4o', publicName: 'openai/gpt-4o', enabled: true });
    expect(gpt4o.id).toMatch(/^mdl_/);
    expect(gpt4o.price).toMatchObject({ inputPerMtokMicros: 2_500_000n, outputPerMtokMicros: 10_000_000n, cachedInputPerMtokMicros: 0n });
    expect(gpt4o.price?.cacheWritePerMtokMicros).toBeUndefined();
    const row = () => t.orm.em.fork().findOneOrFail(ModelEntity, { id: gpt4o.id! });
    expect((await row()).price).toEqual({ inputPerMtokMicros: '2500000', outputPerMtokMicros: '10000000', cachedInputPerMtokMicros: '0' });

    const emptyPrice = await svc.createModel(create(CreateModelRequestSchema, { providerId: openai.id, model: { name: 'gpt-4o-mini', price: {} } }), t.root);
    expect(emptyPrice.model?.price).toBeUndefined();
    expect(emptyPrice.model?.enabled).toBe(true);
    expect((await t.orm.em.fork().findOneOrFail(ModelEntity, { id: emptyPrice.model!.id! })).price).toBeNull();
    await model(openai.id, 'o3');
    await model(anthropic.id, 'claude-sonnet-4');
    await model(groq.id, 'meta-llama/llama-3.3-70b');

    expect((await svc.getModel(create(GetModelRequestSchema, { id: gpt4o.id }), t.root)).model).toEqual(gpt4o);

    const byProvider = await pages(async (pageToken) => {
      const res = await svc.listModels(create(ListModelsRequestSchema, { providerId: openai.id, pageSize: 1, pageToken }), t.root);
      return { items: res.models?.map((m) => m.publicName), next: res.nextPageToken };
    });
    expect(byProvider).toHaveLength(3);
    expect(byProvider.flat().sort()).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini', 'openai/o3']);

    const list = async (filter: object) =>
      (await svc.listModels(create(ListModelsRequestSchema, { workspaceId: ws, ...filter }), t.root)).models?.map((m) => m.publicName).sort();
    expect(await list({})).toHaveLength(5);
    expect(await list({ name: 'o3' })).toEqual(['openai/o3']);
    expect(await list({ query: 'openai/gpt' })).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini']);
    expect(await list({ query: 'AI/GPT-4O-' })).toEqual(['openai/gpt-4o-mini']);
    expect(await list({ query: 'anthro' })).toEqual(['anthropic/claude-sonnet-4']);
    expect(await list({ query: 'q/meta-llama/' })).toEqual(['groq/meta-llama/llama-3.3-70b']);
    expect(await list({ query: 'llama/llama' })).toEqual(['groq/meta-llama/llama-3.3-70b']);
    expect(await list({ query: 'openai/' })).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini', 'openai/o3']);
    expect(await list({ query: 'nothing' })).toEqual([]);
    expect(await list({ providerId: anthropic.id, query: 'o' })).toEqual(['anthropic/claude-sonnet-4']);
    const neither = await rejection(svc.listModels(create(ListModelsRequestSchema, {}), t.root));
    expect(fields(neither)).toEqual(['workspace_id']);

    const updated = await svc.updateModel(
      create(UpdateModelRequestSchema, { model: { id: gpt4o.id, enabled: false, price: { outputPerMtokMicros: 8_000_000n } }, updateMask: mask('price') }),
      t.root,
    );
    expect(updated.model).toMatchObject({ enabled: true, publicName: 'openai/gpt-4o' });
    expect(updated.model?.price?.inputPerMtokMicros).toBeUndefined();
    expect((await row()).price).toEqual({ outputPerMtokMicros: '8000000' });
    await svc.updateModel(create(UpdateModelRequestSchema, { model: { id: gpt4o.id }, updateMask: mask('price', 'enabled') }), t.root);
    expect(await row()).toMatchObject({ price: null, enabled: true });
    const immutable = await rejection(svc.updateModel(create(UpdateModelRequestSchema, { model: { id: gpt4o.id, name: 'x' }, updateMask: mask('name') }), t.root));
    expect(fields(immutable)).toEqual(['update_mask']);

    await svc.deleteModel(create(DeleteModelRequestSchema, { id: gpt4o.id }), t.root);
    expect((await rejection(svc.getModel(create(GetModelRequestSchema, { id: gpt4o.id }), t.root))).kind).toBe('not_found');
    expect((await counts(ws)).models).toBe(4);
  });

  it('rejects invalid models naming every field, and writes nothing', async () => {
    const ws = await workspace('prv-models-invalid');
    const p = await provider(ws, { name: 'openai', type: ProviderType.OPENAI });
    await model(p.id, 'gpt-4o');
    const before = await configVersion(t.deps);
    const reject = (req: object) => rejection(svc.createModel(create(CreateModelRequestSchema, { providerId: p.id, ...req }), t.root));

    const bad = await reject({ model: { name: 'gpt 4o', price: { inputPerMtokMicros: -1n, outputPerMtokMicros: 1_000_000_000_000n, cacheWritePerMtokMicros: 1_000_000_000_001n } } });
    expect(bad.kind).toBe('invalid_argument');
    expect(bad.violations).toMatchObject([
      { field: 'model.name', reason: 'INVALID_FORMAT' },
      { field: 'model.price.input_per_mtok_micros', reason: 'OUT_OF_RANGE' },
      { field: 'model.price.cache_write_per_mtok_micros', reason: 'OUT_OF_RANGE' },
    ]);
    expect((await reject({ model: {} })).violations).toMatchObject([{ field: 'model.name', reason: 'REQUIRED' }]);
    expect((await reject({ model: { name: 'm'.repeat(256) } })).violations).toMatchObject([{ field: 'model.name', reason: 'TOO_LONG' }]);
    expect(fields(await reject({ providerId: '', model: { name: 'ok' } }))).toEqual(['provider_id']);
    const updateBad = await rejection(
      svc.updateModel(create(UpdateModelRequestSchema, { model: { price: { cachedInputPerMtokMicros: -5n } }, updateMask: mask('price') }), t.root),
    );
    expect(fields(updateBad)).toEqual(['model.id', 'model.price.cached_input_per_mtok_micros']);
    expect(await counts(ws)).toMatchObject({ models: 1 });
    expect(await configVersion(t.deps)).toBe(before);

    const duplicate = await reject({ model: { name: 'gpt-4o' } });
    expect(duplicate.kind).toBe('already_exists');
    expect(duplicate.message).toContain('model.name');
    expect((await reject({ providerId: 'prv_missing', model: { name: 'x' } })).kind).toBe('not_found');
  });

  it('refuses to delete providers and models that routes still name', async () => {
    const ws = await workspace('prv-routes');
    const other = await workspace('prv-routes-other');
    const openai = await provider(ws, { name: 'openai', type: ProviderType.OPENAI });
    const anthropic = await provider(ws, { name: 'anthropic', type: ProviderType.ANTHROPIC });
    const mistral = await provider(ws, { name: 'mistral', type: ProviderType.OPENAI_COMPATIBLE, baseUrl: 'https://api.mistral.ai/v1' });
    const gpt4o = await model(openai.id, 'gpt-4o');
    const o3 = await model(openai.id, 'o3');
    const claude = await model(anthropic.id, 'claude');
    await model(mistral.id, 'large');
    await svc.createProviderCredential(create(CreateProviderCredentialRequestSchema, { providerId: mistral.id, source: { source: { case: 'envVar', value: 'MISTRAL_KEY' } } }), t.root);
    const routeId = await insertRoute(ws, 'edge', [{ provider: 'openai', model: 'gpt-4o', weight: 1 }], [[{ provider: 'anthropic', model: 'claude', weight: 1 }]]);
    // The same provider name in another workspace must not block anything here.
    await insertRoute(other, 'edge', [{ provider: 'mistral', model: 'large', weight: 1 }]);

    const blocked = await rejection(svc.deleteProvider(create(DeleteProviderRequestSchema, { id: openai.id }), t.root));
    expect(blocked.kind).toBe('failed_precondition');
    expect(blocked.message).toContain('"edge/main"');
    const byFallback = await rejection(svc.deleteProvider(create(DeleteProviderRequestSchema, { id: anthropic.id }), t.root));
    expect(byFallback.kind).toBe('failed_precondition');
    expect((await rejection(svc.deleteModel(create(DeleteModelRequestSchema, { id: gpt4o.id }), t.root))).kind).toBe('failed_precondition');
    expect((await rejection(svc.deleteModel(create(DeleteModelRequestSchema, { id: claude.id }), t.root))).kind).toBe('failed_precondition');
    expect(await counts(ws)).toEqual({ providers: 3, credentials: 1, models: 4 });

    await svc.deleteModel(create(DeleteModelRequestSchema, { id: o3.id }), t.root);
    await svc.deleteProvider(create(DeleteProviderRequestSchema, { id: mistral.id }), t.root);
    expect(await counts(ws)).toEqual({ providers: 2, credentials: 0, models: 2 });

    await t.orm.em.fork().nativeDelete(RouteEntity, { id: routeId });
    await svc.deleteProvider(create(DeleteProviderRequestSchema, { id: openai.id }), t.root);
    await svc.deleteModel(create(DeleteModelRequestSchema, { id: claude.id }), t.root);
    expect(await counts(ws)).toEqual({ providers: 1, credentials: 0, models: 0 });
  });

  it('never lets a workspace token reach another workspace', async () => {
    const a = await workspace('prv-tenant-a');
    const b = await workspace('prv-tenant-b');
    const asA = workspaceCall(a);
    const mine = await provider(a, { name: 'openai', type: ProviderType.OPENAI }, asA);
    expect(mine.workspaceId).toBe(a);
    await model(mine.id, 'gpt-4o');
    const theirs = await provider(b, { name: 'openai', type: ProviderType.OPENAI });
    const theirModel = await model(theirs.id, 'gpt-4o');
    const theirCred = (
      await svc.createProviderCredential(create(CreateProviderCredentialRequestSchema, { providerId: theirs.id, source: { source: { case: 'value', value: SECRET } } }), t.root)
    ).credential!;
    const before = await counts(b);

    const kinds = await Promise.all([
      rejection(svc.getProvider(create(GetProviderRequestSchema, { id: theirs.id }), asA)),
      rejection(svc.updateProvider(create(UpdateProviderRequestSchema, { provider: { id: theirs.id, enabled: false }, updateMask: mask('enabled') }), asA)),
      rejection(svc.deleteProvider(create(DeleteProviderRequestSchema, { id: theirs.id }), asA)),
      rejection(svc.createProviderCredential(create(CreateProviderCredentialRequestSchema, { providerId: theirs.id, source: { source: { case: 'envVar', value: 'X' } } }), asA)),
      rejection(svc.getProviderCredential(create(GetProviderCredentialRequestSchema, { id: theirCred.id }), asA)),
      rejection(svc.updateProviderCredential(create(UpdateProviderCredentialRequestSchema, { id: theirCred.id, enabled: false, updateMask: mask('enabled') }), asA)),
      rejection(svc.deleteProviderCredential(create(DeleteProviderCredentialRequestSchema, { id: theirCred.id }), asA)),
      rejection(svc.listProviderCredentials(create(ListProviderCredentialsRequestSchema, { providerId: theirs.id }), asA)),
      rejection(svc.createModel(create(CreateModelRequestSchema, { providerId: theirs.id, model: { name: 'x' } }), asA)),
      rejection(svc.getModel(create(GetModelRequestSchema, { id: theirModel.id }), asA)),
      rejection(svc.updateModel(create(UpdateModelRequestSchema, { model: { id: theirModel.id }, updateMask: mask('enabled') }), asA)),
      rejection(svc.deleteModel(create(DeleteModelRequestSchema, { id: theirModel.id }), asA)),
      rejection(svc.listModels(create(ListModelsRequestSchema, { providerId: theirs.id }), asA)),
    ]);
    expect(kinds.map((e) => e.kind)).toEqual(Array(13).fill('not_found'));
    expect(kinds.every((e) => !e.message.includes(SECRET))).toBe(true);

    const denied = await Promise.all([
      rejection(svc.createProvider(create(CreateProviderRequestSchema, { workspaceId: b, provider: { name: 'sneaky', type: ProviderType.OPENAI } }), asA)),
      rejection(svc.listProviders(create(ListProvidersRequestSchema, { workspaceId: b }), asA)),
      rejection(svc.listModels(create(ListModelsRequestSchema, { workspaceId: b }), asA)),
      rejection(svc.listModels(create(ListModelsRequestSchema, { workspaceId: b, providerId: mine.id }), asA)),
    ]);
    expect(denied.map((e) => e.kind)).toEqual(Array(4).fill('permission_denied'));
    // A provider outside the named workspace is not found, even for root.
    expect((await rejection(svc.listModels(create(ListModelsRequestSchema, { workspaceId: a, providerId: theirs.id }), t.root))).kind).toBe('not_found');

    const ownProviders = await svc.listProviders(create(ListProvidersRequestSchema, {}), asA);
    expect(ownProviders.providers?.map((p) => p.id)).toEqual([mine.id]);
    const ownModels = await svc.listModels(create(ListModelsRequestSchema, {}), asA);
    expect(ownModels.models?.map((m) => m.workspaceId)).toEqual([a]);

    expect(await counts(b)).toEqual(before);
    const theirRow = await t.orm.em.fork().findOneOrFail(ProviderCredentialEntity, { id: theirCred.id! });
    expect(theirRow.enabled).toBe(true);
  });
});

/**
 * Providers, their write-only credentials, and the models they serve.
 *
 * Credential secrets are sealed with the master key before they reach the
 * database and are never read back by this service: responses carry only
 * metadata (kind, env-var name, a four-character hint), and no error message
 * quotes a submitted value.
 */
import { create } from '@bufbuild/protobuf';
import type { EntityManager } from '@mikro-orm/core';
import {
  GatewayEntity,
  ModelEntity,
  ProviderCredentialEntity,
  ProviderEntity,
  RouteEntity,
  WorkspaceEntity,
  type ModelRow,
  type PriceOverride,
  type ProviderCredentialRow,
  type ProviderRow,
} from '../db/entities.js';
import { dialectOf, type Orm } from '../db/orm.js';
import { SluiceError } from '../errors.js';
import {
  CredentialKind,
  CredentialKindSchema,
  ModelSchema,
  PriceSchema,
  ProviderCredentialSchema,
  ProviderSchema,
  ProviderService,
  ProviderType,
  ProviderTypeSchema,
  type CredentialSource,
  type Model,
  type Price,
  type Provider,
  type ProviderCredential,
} from '../gen/sluice/v1/provider_pb.js';
import type { SecretBox } from '../security/secret-box.js';
import { newId } from '../security/tokens.js';
import { resolveWorkspaceId, visibleOr404, type CallContext } from './context.js';
import { enumFromSlug, enumSlug } from './enums.js';
import type { DomainService } from './service-kit.js';
import { containsText, listById, mutate, read, ts, type ServiceDeps } from './store.js';
import { maskPaths, Violations } from './validation.js';

const PROVIDER_MUTABLE = ['base_url', 'enabled', 'timeout_ms', 'record_bodies', 'azure_api_version', 'mock'] as const;
const CREDENTIAL_MUTABLE = ['name', 'enabled', 'source'] as const;
const MODEL_MUTABLE = ['enabled', 'price'] as const;

/** Provider types without a usable default endpoint. */
const NEEDS_BASE_URL: ReadonlySet<ProviderType> = new Set([ProviderType.AZURE_OPENAI, ProviderType.OPENAI_COMPATIBLE]);
const MAX_TIMEOUT_MS = 3_600_000;
const MAX_MOCK_LATENCY_MS = 600_000;
const MAX_MOCK_COMPLETION_TOKENS = 100_000;

const ENV_VAR_PATTERN = /^[A-Z_][A-Z0-9_]*$/;
const MAX_SECRET_LENGTH = 8192;
/** Secrets shorter than this get no hint: four characters would give away too much of them. */
const MIN_HINTED_SECRET_LENGTH = 12;

const MAX_PRICE_MICROS = 1_000_000_000_000n;
/** Price fields as [message field, proto path segment]; the stored JSON uses the message field names. */
const PRICE_FIELDS = [
  ['inputPerMtokMicros', 'input_per_mtok_micros'],
  ['outputPerMtokMicros', 'output_per_mtok_micros'],
  ['cachedInputPerMtokMicros', 'cached_input_per_mtok_micros'],
  ['cacheWritePerMtokMicros', 'cache_write_per_mtok_micros'],
] as const satisfies readonly (readonly [keyof PriceOverride & keyof Price, string])[];

/** The public metadata of a stored credential; the ciphertext never leaves the database. */
export function toCredential(row: ProviderCredentialRow): ProviderCredential {
  return create(ProviderCredentialSchema, {
    id: row.id,
    providerId: row.providerId,
    name: row.name,
    kind: enumFromSlug(CredentialKindSchema, row.kind) ?? CredentialKind.UNSPECIFIED,
    envVar: row.envVar,
    hint: row.hint,
    enabled: row.enabled,
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

/** A stored provider with the metadata of its credentials. */
export function toProvider(row: ProviderRow, credentials: readonly ProviderCredentialRow[]): Provider {
  return create(ProviderSchema, {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    type: enumFromSlug(ProviderTypeSchema, row.type) ?? ProviderType.UNSPECIFIED,
    baseUrl: row.baseUrl,
    enabled: row.enabled,
    timeoutMs: row.timeoutMs,
    recordBodies: row.recordBodies,
    azureApiVersion: row.azureApiVersion,
    mock: { latencyMs: row.mockLatencyMs, completionTokens: row.mockCompletionTokens },
    credentials: credentials.map(toCredential),
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

/** A stored model; `providerName` makes its public name `<provider>/<model>`. */
export function toModel(row: ModelRow, providerName: string): Model {
  return create(ModelSchema, {
    id: row.id,
    workspaceId: row.workspaceId,
    providerId: row.providerId,
    name: row.name,
    publicName: `${providerName}/${row.name}`,
    enabled: row.enabled,
    price: fromPriceDoc(row.price),
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

function fromPriceDoc(doc: PriceOverride | null | undefined): Price | undefined {
  if (!doc) return undefined;
  const price = create(PriceSchema);
  for (const [key] of PRICE_FIELDS) {
    const value = doc[key];
    if (value !== undefined) price[key] = BigInt(value);
  }
  return price;
}

/** The stored form of a price override: decimal strings, or null when no field is set. */
function toPriceDoc(price: Price | undefined): PriceOverride | null {
  const doc: PriceOverride = {};
  for (const [key] of PRICE_FIELDS) {
    const value = price?.[key];
    if (value !== undefined) doc[key] = value.toString();
  }
  return Object.keys(doc).length > 0 ? doc : null;
}

/** Checks the provider fields selected by `paths`; `type` decides which are required. */
function checkProvider(v: Violations, p: Provider, type: ProviderType, paths: ReadonlySet<string>): void {
  if (paths.has('base_url')) {
    v.url('provider.base_url', p.baseUrl, NEEDS_BASE_URL.has(type));
    v.maxLength('provider.base_url', p.baseUrl, 2048);
  }
  if (paths.has('timeout_ms')) v.range('provider.timeout_ms', p.timeoutMs, 0, MAX_TIMEOUT_MS);
  if (paths.has('azure_api_version')) {
    if (type === ProviderType.AZURE_OPENAI) v.required('provider.azure_api_version', p.azureApiVersion);
    v.maxLength('provider.azure_api_version', p.azureApiVersion, 64);
  }
  if (paths.has('mock')) {
    v.range('provider.mock.latency_ms', p.mock?.latencyMs ?? 0, 0, MAX_MOCK_LATENCY_MS);
    v.range('provider.mock.completion_tokens', p.mock?.completionTokens ?? 0, 0, MAX_MOCK_COMPLETION_TOKENS);
  }
}

type StoredSource = Pick<ProviderCredentialRow, 'kind' | 'envVar' | 'ciphertext' | 'hint'>;

/**
 * Validates a credential source under `field` and returns its stored form (a
 * sealed secret or an env-var reference), or undefined when it is invalid.
 * Descriptions never quote the submitted value.
 */
function storedSource(v: Violations, field: string, source: CredentialSource | undefined, secrets: SecretBox): StoredSource | undefined {
  const s = source?.source;
  if (s?.case === 'envVar') {
    const path = `${field}.env_var`;
    if (!v.required(path, s.value)) return undefined;
    if (!ENV_VAR_PATTERN.test(s.value) || s.value.length > 255) {
      v.add(path, 'must be an environment variable name: uppercase letters, digits and "_", not starting with a digit, at most 255 characters', 'INVALID_FORMAT');
      return undefined;
    }
    return { kind: enumSlug(CredentialKindSchema, CredentialKind.ENV_VAR), envVar: s.value, ciphertext: '', hint: '' };
  }
  if (s?.case === 'value') {
    const path = `${field}.value`;
    if (!v.required(path, s.value)) return undefined;
    if (s.value.length > MAX_SECRET_LENGTH) {
      v.add(path, `must be at most ${MAX_SECRET_LENGTH} characters`, 'TOO_LONG');
      return undefined;
    }
    return {
      kind: enumSlug(CredentialKindSchema, CredentialKind.ENCRYPTED),
      envVar: '',
      ciphertext: secrets.seal(s.value),
      hint: s.value.length >= MIN_HINTED_SECRET_LENGTH ? `…${s.value.slice(-4)}` : '',
    };
  }
  v.add(field, 'required: set env_var or value', 'REQUIRED');
  return undefined;
}

function checkModelName(v: Violations, name: string): void {
  if (!v.required('model.name', name)) return;
  v.maxLength('model.name', name, 255);
  if (/\s/.test(name)) v.add('model.name', 'must not contain whitespace', 'INVALID_FORMAT');
}

function checkPrice(v: Violations, price: Price | undefined): void {
  for (const [key, path] of PRICE_FIELDS) {
    const value = price?.[key];
    if (value !== undefined) v.range(`model.price.${path}`, value, 0n, MAX_PRICE_MICROS);
  }
}

function requiredId(field: string, id: string): void {
  if (!id) throw SluiceError.invalid([{ field, description: 'required', reason: 'REQUIRED' }]);
}

async function requireWorkspace(em: EntityManager, id: string): Promise<void> {
  if (!(await em.count(WorkspaceEntity, { id }))) throw SluiceError.notFound('workspace', id);
}

async function loadProvider(em: EntityManager, call: CallContext, id: string, field = 'id'): Promise<ProviderRow> {
  requiredId(field, id);
  return visibleOr404(call, await em.findOne(ProviderEntity, { id }), 'provider', id);
}

async function loadCredential(em: EntityManager, call: CallContext, id: string): Promise<ProviderCredentialRow> {
  requiredId('id', id);
  return visibleOr404(call, await em.findOne(ProviderCredentialEntity, { id }), 'provider credential', id);
}

async function loadModel(em: EntityManager, call: CallContext, id: string, field = 'id'): Promise<ModelRow> {
  requiredId(field, id);
  return visibleOr404(call, await em.findOne(ModelEntity, { id }), 'model', id);
}

async function credentialsOf(em: EntityManager, providerIds: string[]): Promise<ProviderCredentialRow[]> {
  if (providerIds.length === 0) return [];
  return em.find(ProviderCredentialEntity, { providerId: { $in: providerIds } }, { orderBy: { id: 'asc' } });
}

async function providerOf(em: EntityManager, model: ModelRow): Promise<ProviderRow> {
  return em.findOneOrFail(ProviderEntity, { id: model.providerId, workspaceId: model.workspaceId });
}

/**
 * The routes of a workspace whose primary or fallback pools name `provider`
 * (and `model`, when given), as `gateway/route`.
 */
async function routesUsing(em: EntityManager, workspaceId: string, provider: string, model?: string): Promise<string[]> {
  const routes = await em.find(RouteEntity, { workspaceId }, { orderBy: { id: 'asc' } });
  const hits = routes.filter((r) =>
    [r.pool, ...r.fallbacks].some((pool) => pool.members.some((m) => m.provider === provider && (model === undefined || m.model === model))),
  );
  if (hits.length === 0) return [];
  const gateways = await em.find(GatewayEntity, { id: { $in: [...new Set(hits.map((r) => r.gatewayId))] } });
  const gatewayNames = new Map(gateways.map((g) => [g.id, g.name]));
  return hits.map((r) => `${gatewayNames.get(r.gatewayId) ?? r.gatewayId}/${r.name}`);
}

function stillRouted(what: string, routes: string[]): SluiceError {
  const names = routes.map((r) => `"${r}"`).join(', ');
  return new SluiceError('failed_precondition', `${what} is used by routes ${names}; remove it from their pools first`);
}

/** A case-insensitive prefix filter, escaped like `containsText`. */
function startsWithText(orm: Orm, text: string): Record<string, string> {
  if (dialectOf(orm) === 'postgresql') return { $ilike: `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%` };
  return { $like: `${text.replace(/[%_]/g, '')}%` };
}

/**
 * Model filters equivalent to "`<provider>/<name>` contains `query`"
 * (case-insensitive). Provider names are slugs without "/", so a match lies
 * inside the model name, inside the provider name, or across the separator:
 * the query's part before its first "/" ends the provider name and the rest
 * starts the model name.
 */
function publicNameMatches(orm: Orm, providers: readonly ProviderRow[], query: string): Record<string, unknown>[] {
  const q = query.toLowerCase();
  const filters: Record<string, unknown>[] = [{ name: containsText(orm, query) }];
  const slash = q.indexOf('/');
  if (slash < 0) {
    const ids = providers.filter((p) => p.name.includes(q)).map((p) => p.id);
    if (ids.length > 0) filters.push({ providerId: { $in: ids } });
  } else {
    const ids = providers.filter((p) => p.name.endsWith(q.slice(0, slash))).map((p) => p.id);
    if (ids.length > 0) filters.push({ providerId: { $in: ids }, name: startsWithText(orm, query.slice(slash + 1)) });
  }
  return filters;
}

/** The provider service over storage. */
export function createProviderService(deps: ServiceDeps): DomainService<typeof ProviderService> {
  return {
    async createProvider(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const p = req.provider ?? create(ProviderSchema);
      const v = new Violations();
      v.slug('provider.name', p.name);
      v.enumValue('provider.type', p.type, ProviderType);
      checkProvider(v, p, p.type, new Set(PROVIDER_MUTABLE));
      const sources: StoredSource[] = [];
      req.credentials.forEach((c, i) => {
        const stored = storedSource(v, `credentials[${i}]`, c, deps.secrets);
        if (stored) sources.push(stored);
      });
      v.throwIfAny();
      const { row, credentials } = await mutate(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        if (await em.count(ProviderEntity, { workspaceId, name: p.name })) {
          throw new SluiceError('already_exists', `provider.name: provider "${p.name}" already exists in this workspace`);
        }
        const row = em.create(ProviderEntity, {
          id: newId('prv'),
          workspaceId,
          name: p.name,
          type: enumSlug(ProviderTypeSchema, p.type),
          baseUrl: p.baseUrl,
          enabled: p.enabled ?? true,
          timeoutMs: p.timeoutMs,
          recordBodies: p.recordBodies,
          azureApiVersion: p.azureApiVersion,
          mockLatencyMs: p.mock?.latencyMs ?? 0,
          mockCompletionTokens: p.mock?.completionTokens ?? 0,
        });
        const credentials = sources.map((source) =>
          em.create(ProviderCredentialEntity, { id: newId('cred'), workspaceId, providerId: row.id, name: '', enabled: true, ...source }),
        );
        return { row, credentials };
      });
      return { provider: toProvider(row, credentials) };
    },

    async getProvider(req, call) {
      return read(deps, async (em) => {
        const row = await loadProvider(em, call, req.id);
        return { provider: toProvider(row, await credentialsOf(em, [row.id])) };
      });
    },

    async listProviders(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      if (req.type !== ProviderType.UNSPECIFIED) {
        const v = new Violations();
        v.enumValue('type', req.type, ProviderType);
        v.throwIfAny();
      }
      return read(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const filters: Record<string, unknown>[] = [{ workspaceId }];
        if (req.name) filters.push({ name: req.name });
        if (req.type !== ProviderType.UNSPECIFIED) filters.push({ type: enumSlug(ProviderTypeSchema, req.type) });
        if (req.query) filters.push({ name: containsText(deps.orm, req.query) });
        const where: Record<string, unknown> = { $and: filters };
        const page = await listById(em, ProviderEntity, where, req, 'ListProviders');
        const credentials = await credentialsOf(em, page.rows.map((r) => r.id));
        return {
          providers: page.rows.map((r) => toProvider(r, credentials.filter((c) => c.providerId === r.id))),
          nextPageToken: page.nextPageToken,
        };
      });
    },

    async updateProvider(req, call) {
      const p = req.provider ?? create(ProviderSchema);
      const paths = maskPaths(req.updateMask, PROVIDER_MUTABLE);
      requiredId('provider.id', p.id);
      const { row, credentials } = await mutate(deps, async (em) => {
        const row = await loadProvider(em, call, p.id, 'provider.id');
        // The type is immutable, so the stored one decides which fields are required.
        const v = new Violations();
        checkProvider(v, p, enumFromSlug(ProviderTypeSchema, row.type) ?? ProviderType.UNSPECIFIED, paths);
        v.throwIfAny();
        if (paths.has('base_url')) row.baseUrl = p.baseUrl;
        if (paths.has('enabled')) row.enabled = p.enabled ?? true;
        if (paths.has('timeout_ms')) row.timeoutMs = p.timeoutMs;
        if (paths.has('record_bodies')) row.recordBodies = p.recordBodies;
        if (paths.has('azure_api_version')) row.azureApiVersion = p.azureApiVersion;
        if (paths.has('mock')) {
          row.mockLatencyMs = p.mock?.latencyMs ?? 0;
          row.mockCompletionTokens = p.mock?.completionTokens ?? 0;
        }
        return { row, credentials: await credentialsOf(em, [row.id]) };
      });
      return { provider: toProvider(row, credentials) };
    },

    async deleteProvider(req, call) {
      await mutate(deps, async (em) => {
        const row = await loadProvider(em, call, req.id);
        const routes = await routesUsing(em, row.workspaceId, row.name);
        if (routes.length > 0) throw stillRouted(`provider "${row.name}"`, routes);
        await em.nativeDelete(ModelEntity, { workspaceId: row.workspaceId, providerId: row.id });
        await em.nativeDelete(ProviderCredentialEntity, { workspaceId: row.workspaceId, providerId: row.id });
        em.remove(row);
      });
      return {};
    },

    async createProviderCredential(req, call) {
      const v = new Violations();
      v.required('provider_id', req.providerId);
      v.maxLength('name', req.name, 63);
      const source = storedSource(v, 'source', req.source, deps.secrets);
      if (!source || !v.ok) throw SluiceError.invalid(v.list);
      const row = await mutate(deps, async (em) => {
        const provider = await loadProvider(em, call, req.providerId, 'provider_id');
        return em.create(ProviderCredentialEntity, {
          id: newId('cred'),
          workspaceId: provider.workspaceId,
          providerId: provider.id,
          name: req.name,
          enabled: true,
          ...source,
        });
      });
      return { credential: toCredential(row) };
    },

    async getProviderCredential(req, call) {
      return read(deps, async (em) => ({ credential: toCredential(await loadCredential(em, call, req.id)) }));
    },

    async listProviderCredentials(req, call) {
      return read(deps, async (em) => {
        const provider = await loadProvider(em, call, req.providerId, 'provider_id');
        const where = { workspaceId: provider.workspaceId, providerId: provider.id };
        const page = await listById(em, ProviderCredentialEntity, where, req, 'ListProviderCredentials');
        return { credentials: page.rows.map(toCredential), nextPageToken: page.nextPageToken };
      });
    },

    async updateProviderCredential(req, call) {
      const paths = maskPaths(req.updateMask, CREDENTIAL_MUTABLE);
      const v = new Violations();
      v.required('id', req.id);
      if (paths.has('name')) v.maxLength('name', req.name, 63);
      const source = paths.has('source') ? storedSource(v, 'source', req.source, deps.secrets) : undefined;
      v.throwIfAny();
      const row = await mutate(deps, async (em) => {
        const row = await loadCredential(em, call, req.id);
        if (paths.has('name')) row.name = req.name;
        if (paths.has('enabled')) row.enabled = req.enabled ?? true;
        if (source) Object.assign(row, source);
        return row;
      });
      return { credential: toCredential(row) };
    },

    async deleteProviderCredential(req, call) {
      await mutate(deps, async (em) => {
        em.remove(await loadCredential(em, call, req.id));
      });
      return {};
    },

    async createModel(req, call) {
      const m = req.model ?? create(ModelSchema);
      const v = new Violations();
      v.required('provider_id', req.providerId);
      checkModelName(v, m.name);
      checkPrice(v, m.price);
      v.throwIfAny();
      const { row, provider } = await mutate(deps, async (em) => {
        const provider = await loadProvider(em, call, req.providerId, 'provider_id');
        if (await em.count(ModelEntity, { providerId: provider.id, name: m.name })) {
          throw new SluiceError('already_exists', `model.name: model "${m.name}" already exists on provider "${provider.name}"`);
        }
        const row = em.create(ModelEntity, {
          id: newId('mdl'),
          workspaceId: provider.workspaceId,
          providerId: provider.id,
          name: m.name,
          enabled: m.enabled ?? true,
          price: toPriceDoc(m.price),
        });
        return { row, provider };
      });
      return { model: toModel(row, provider.name) };
    },

    async getModel(req, call) {
      return read(deps, async (em) => {
        const row = await loadModel(em, call, req.id);
        return { model: toModel(row, (await providerOf(em, row)).name) };
      });
    },

    async listModels(req, call) {
      // A provider alone scopes the list to its own workspace.
      const named = req.workspaceId || !req.providerId ? resolveWorkspaceId(call, req.workspaceId, 'workspace_id') : '';
      return read(deps, async (em) => {
        let providers: ProviderRow[];
        const filters: Record<string, unknown>[] = [];
        if (req.providerId) {
          const provider = await loadProvider(em, call, req.providerId, 'provider_id');
          if (named && named !== provider.workspaceId) throw SluiceError.notFound('provider', req.providerId);
          providers = [provider];
          filters.push({ workspaceId: provider.workspaceId, providerId: provider.id });
        } else {
          await requireWorkspace(em, named);
          providers = await em.find(ProviderEntity, { workspaceId: named });
          filters.push({ workspaceId: named });
        }
        if (req.name) filters.push({ name: req.name });
        if (req.query) filters.push({ $or: publicNameMatches(deps.orm, providers, req.query) });
        const where: Record<string, unknown> = { $and: filters };
        const page = await listById(em, ModelEntity, where, req, 'ListModels');
        const providerNames = new Map(providers.map((p) => [p.id, p.name]));
        return {
          models: page.rows.map((r) => toModel(r, providerNames.get(r.providerId) ?? '')),
          nextPageToken: page.nextPageToken,
        };
      });
    },

    async updateModel(req, call) {
      const m = req.model ?? create(ModelSchema);
      const paths = maskPaths(req.updateMask, MODEL_MUTABLE);
      const v = new Violations();
      v.required('model.id', m.id);
      if (paths.has('price')) checkPrice(v, m.price);
      v.throwIfAny();
      const { row, provider } = await mutate(deps, async (em) => {
        const row = await loadModel(em, call, m.id, 'model.id');
        if (paths.has('enabled')) row.enabled = m.enabled ?? true;
        if (paths.has('price')) row.price = toPriceDoc(m.price);
        return { row, provider: await providerOf(em, row) };
      });
      return { model: toModel(row, provider.name) };
    },

    async deleteModel(req, call) {
      await mutate(deps, async (em) => {
        const row = await loadModel(em, call, req.id);
        const provider = await providerOf(em, row);
        const routes = await routesUsing(em, row.workspaceId, provider.name, row.name);
        if (routes.length > 0) throw stillRouted(`model "${provider.name}/${row.name}"`, routes);
        em.remove(row);
      });
      return {};
    },
  };
}

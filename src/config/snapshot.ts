/**
 * The runtime snapshot: the whole data-plane config, compiled once per config
 * change into lookup tables (keys by hash, gateways by name, models by public
 * name, routes with compiled CEL, credentials resolved). The request path
 * only reads it and never waits on the database.
 */
import type { EntityManager } from '@mikro-orm/core';
import {
  ApiKeyEntity,
  GatewayEntity,
  ModelEntity,
  ProviderCredentialEntity,
  ProviderEntity,
  RateLimitEntity,
  RouteEntity,
  SpendLimitEntity,
  WorkspaceEntity,
  type PoolDoc,
  type PriceOverride,
} from '../db/entities.js';
import type { Pool, PoolStrategy, FallbackTrigger } from '../llm/pool/types.js';
import { compileCel, type CompiledCel } from '../policy/cel.js';
import { costPerMtokMicros } from '../observability/pricing/cost.js';
import { priceFor, type ModelPrice } from '../observability/pricing/price-catalogue.js';
import { limitsReadBody, toRuntimeRateLimit, toRuntimeSpendLimit, type RuntimeRateLimit, type RuntimeSpendLimit } from '../policy/limits/config.js';
import type { SecretBox } from '../security/secret-box.js';

/** Provider types, as stored. */
export type ProviderKind = 'openai' | 'anthropic' | 'google' | 'azure_openai' | 'openai_compatible' | 'mock';

export interface RuntimeCredential {
  id: string;
  /** The secret, resolved from its env var or decrypted; '' when the env var is unset. */
  secret: string;
}

export interface RuntimeProvider {
  id: string;
  name: string;
  kind: ProviderKind;
  baseUrl: string;
  timeoutMs: number;
  recordBodies: boolean;
  azureApiVersion: string;
  mock: { latencyMs: number; completionTokens: number };
  credentials: RuntimeCredential[];
}

export interface RuntimeModel {
  /** `<provider>/<model>`. */
  publicName: string;
  /** Upstream model id. */
  name: string;
  provider: RuntimeProvider;
  price?: PriceOverride;
  /** Catalogue price with overrides applied; undefined when neither knows the model. */
  modelPrice?: ModelPrice;
  createdAt: number;
}

export interface RuntimeRoute {
  id: string;
  name: string;
  condition?: CompiledCel;
  pools: Pool[];
}

export interface RuntimeGateway {
  id: string;
  name: string;
  workspace: RuntimeWorkspace;
  /** Model names this gateway serves (public names and unambiguous bare names) → model. */
  models: Map<string, RuntimeModel>;
  /** Public names in listing order. */
  modelList: RuntimeModel[];
  modelSelector?: CompiledCel;
  routes: RuntimeRoute[];
  /** Whether any expression of the gateway (limit scopes included) reads the request body. */
  readsBody: boolean;
  rateLimits: RuntimeRateLimit[];
  /** This gateway's budgets (the workspace-wide ones are on `workspace`). */
  spendLimits: RuntimeSpendLimit[];
  /** Every model a request on this gateway can be served by (its models and its routes' members), by public name: for pricing. */
  pricedModels: Map<string, RuntimeModel>;
  /** Record headers and bodies of every request (and MCP call inputs/outputs) on this gateway. */
  recordBodies: boolean;
}

export interface RuntimeWorkspace {
  id: string;
  name: string;
  gateways: Map<string, RuntimeGateway>;
  providers: Map<string, RuntimeProvider>;
  /** Workspace-wide budgets (no gateway), applying to every gateway's requests. */
  spendLimits: RuntimeSpendLimit[];
}

export interface RuntimeApiKey {
  id: string;
  name: string;
  prefix: string;
  workspace: RuntimeWorkspace;
  metadata: Record<string, string>;
  /** Allowed gateway names; empty means every gateway of the workspace. */
  gateways: ReadonlySet<string>;
  defaultGateway: string;
  expiresAt?: number;
  revoked: boolean;
}

/** One immutable view of the config. */
export interface RuntimeSnapshot {
  version: bigint;
  keysByHash: ReadonlyMap<string, RuntimeApiKey>;
  workspaces: ReadonlyMap<string, RuntimeWorkspace>;
  /** Expressions that failed to compile (kept out of routing, reported). */
  problems: string[];
}

/** Reads every config table and compiles the snapshot. */
export async function buildSnapshot(em: EntityManager, secrets: SecretBox, version: bigint, env: NodeJS.ProcessEnv = process.env): Promise<RuntimeSnapshot> {
  const [workspaces, providers, credentials, models, gateways, routes, keys, rateLimits, spendLimits] = await Promise.all([
    em.find(WorkspaceEntity, {}),
    em.find(ProviderEntity, {}),
    em.find(ProviderCredentialEntity, { enabled: true }, { orderBy: { id: 'asc' } }),
    em.find(ModelEntity, { enabled: true }, { orderBy: { id: 'asc' } }),
    em.find(GatewayEntity, {}),
    em.find(RouteEntity, { enabled: true }),
    em.find(ApiKeyEntity, {}),
    em.find(RateLimitEntity, {}, { orderBy: { id: 'asc' } }),
    em.find(SpendLimitEntity, {}, { orderBy: { id: 'asc' } }),
  ]);
  const problems: string[] = [];
  const wsById = new Map<string, RuntimeWorkspace>();
  for (const w of workspaces) wsById.set(w.id, { id: w.id, name: w.name, gateways: new Map(), providers: new Map(), spendLimits: [] });

  const providerById = new Map<string, RuntimeProvider>();
  for (const p of providers) {
    const ws = wsById.get(p.workspaceId);
    if (!ws || !p.enabled) continue;
    const rp: RuntimeProvider = {
      id: p.id,
      name: p.name,
      kind: p.type as ProviderKind,
      baseUrl: p.baseUrl,
      timeoutMs: p.timeoutMs || 600_000,
      recordBodies: p.recordBodies,
      azureApiVersion: p.azureApiVersion,
      mock: { latencyMs: p.mockLatencyMs, completionTokens: p.mockCompletionTokens || 16 },
      credentials: [],
    };
    providerById.set(p.id, rp);
    ws.providers.set(p.name, rp);
  }
  for (const c of credentials) {
    const provider = providerById.get(c.providerId);
    if (!provider) continue;
    let secret = '';
    if (c.kind === 'env_var') secret = env[c.envVar] ?? '';
    else {
      try {
        secret = secrets.open(c.ciphertext);
      } catch {
        problems.push(`provider ${provider.name}: credential ${c.id} cannot be decrypted with this master key`);
        continue;
      }
    }
    provider.credentials.push({ id: c.id, secret });
  }

  const modelsByWorkspace = new Map<string, RuntimeModel[]>();
  for (const m of models) {
    const provider = providerById.get(m.providerId);
    if (!provider) continue;
    const list = modelsByWorkspace.get(m.workspaceId) ?? [];
    let modelPrice: ModelPrice | undefined;
    try {
      modelPrice = priceFor({ providerKind: provider.kind, upstreamModel: m.name, baseUrl: provider.baseUrl, override: m.price ?? undefined });
    } catch (err) {
      problems.push(`model ${provider.name}/${m.name}: ${(err as Error).message}`);
    }
    list.push({ publicName: `${provider.name}/${m.name}`, name: m.name, provider, price: m.price ?? undefined, modelPrice, createdAt: Math.floor(m.createdAt.getTime() / 1000) });
    modelsByWorkspace.set(m.workspaceId, list);
  }

  const routesByGateway = new Map<string, typeof routes>();
  for (const r of routes) routesByGateway.set(r.gatewayId, [...(routesByGateway.get(r.gatewayId) ?? []), r]);
  const wsNameById = new Map(workspaces.map((w) => [w.id, w.name]));
  const limitCompiler = (where: string) => (what: string, source: string): CompiledCel | undefined => {
    try {
      return compileCel(source);
    } catch (err) {
      problems.push(`${where} ${what}: ${(err as Error).message.split('\n')[0]}`);
      return undefined;
    }
  };
  const rateLimitsByGateway = new Map<string, RuntimeRateLimit[]>();
  for (const row of rateLimits) {
    const limit = toRuntimeRateLimit(row, limitCompiler(`workspace ${wsNameById.get(row.workspaceId)}`));
    if (typeof limit === 'string') {
      if (limit) problems.push(limit);
    } else rateLimitsByGateway.set(row.gatewayId, [...(rateLimitsByGateway.get(row.gatewayId) ?? []), limit]);
  }
  const spendLimitsByGateway = new Map<string, RuntimeSpendLimit[]>();
  for (const row of spendLimits) {
    const budget = toRuntimeSpendLimit(row, limitCompiler(`workspace ${wsNameById.get(row.workspaceId)}`));
    if (typeof budget === 'string') {
      if (budget) problems.push(budget);
    } else if (row.gatewayId) spendLimitsByGateway.set(row.gatewayId, [...(spendLimitsByGateway.get(row.gatewayId) ?? []), budget]);
    else wsById.get(row.workspaceId)?.spendLimits.push(budget);
  }

  for (const g of gateways) {
    const ws = wsById.get(g.workspaceId);
    if (!ws) continue;
    const all = modelsByWorkspace.get(g.workspaceId) ?? [];
    const allowed = g.models.length ? all.filter((m) => g.models.includes(m.publicName)) : all;
    /** Compiles an expression; `null` when it does not compile (reported in `problems`). */
    const compile = <T>(what: string, source: string, build: (source: string) => T): T | undefined | null => {
      if (!source.trim()) return undefined;
      try {
        return build(source);
      } catch (err) {
        problems.push(`gateway ${ws.name}/${g.name} ${what}: ${(err as Error).message.split('\n')[0]}`);
        return null;
      }
    };
    const gwRoutes: RuntimeRoute[] = (routesByGateway.get(g.id) ?? [])
      .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .flatMap((r) => {
        const condition = compile(`route ${r.name}`, r.condition, (src) => compileCel(src, 'bool'));
        // A condition that no longer compiles must never match: the route drops out.
        if (condition === null) return [];
        return [{ id: r.id, name: r.name, condition, pools: [r.pool, ...r.fallbacks].map((doc, i) => toPool(`${r.id}#${i}`, doc, ws, all)) }];
      });
    // A selector that no longer compiles is ignored: requests keep the model they asked for.
    const modelSelector = compile('model_selector', g.modelSelector, (src) => compileCel(src, 'string')) ?? undefined;
    const gwRateLimits = rateLimitsByGateway.get(g.id) ?? [];
    const gwSpendLimits = spendLimitsByGateway.get(g.id) ?? [];
    const pricedModels = new Map(allowed.map((m) => [m.publicName, m]));
    for (const member of gwRoutes.flatMap((r) => r.pools.flatMap((p) => p.members))) {
      const model = all.find((m) => m.provider.name === member.provider && m.name === member.model);
      if (model) pricedModels.set(model.publicName, model);
    }
    ws.gateways.set(g.name, {
      id: g.id,
      name: g.name,
      workspace: ws,
      models: modelIndex(allowed),
      modelList: allowed,
      modelSelector,
      routes: gwRoutes,
      readsBody: Boolean(
        modelSelector?.readsBody || gwRoutes.some((r) => r.condition?.readsBody) || limitsReadBody([...gwRateLimits, ...gwSpendLimits, ...ws.spendLimits]),
      ),
      rateLimits: gwRateLimits,
      spendLimits: gwSpendLimits,
      pricedModels,
      recordBodies: g.recordBodies,
    });
  }

  const keysByHash = new Map<string, RuntimeApiKey>();
  for (const k of keys) {
    const ws = wsById.get(k.workspaceId);
    if (!ws) continue;
    keysByHash.set(k.hash, {
      id: k.id,
      name: k.name,
      prefix: k.prefix,
      workspace: ws,
      metadata: k.metadata,
      gateways: new Set(k.gateways),
      defaultGateway: k.defaultGateway,
      expiresAt: k.expiresAt?.getTime(),
      revoked: k.revokedAt !== null && k.revokedAt !== undefined,
    });
  }
  return { version, keysByHash, workspaces: new Map([...wsById.values()].map((w) => [w.id, w])), problems };
}

/** Public names, plus bare model names where exactly one provider serves them. */
function modelIndex(models: RuntimeModel[]): Map<string, RuntimeModel> {
  const index = new Map<string, RuntimeModel>();
  const bare = new Map<string, RuntimeModel[]>();
  for (const m of models) {
    index.set(m.publicName, m);
    bare.set(m.name, [...(bare.get(m.name) ?? []), m]);
  }
  for (const [name, list] of bare) if (list.length === 1 && !index.has(name)) index.set(name, list[0]!);
  return index;
}

function toPool(id: string, doc: PoolDoc, ws: RuntimeWorkspace, models: RuntimeModel[]): Pool {
  return {
    id,
    strategy: doc.strategy as PoolStrategy,
    attemptTimeoutMs: doc.attemptTimeoutMs,
    fallbackOn: doc.fallbackOn as FallbackTrigger[],
    members: doc.members.flatMap((m) => {
      const provider = ws.providers.get(m.provider);
      const model = models.find((x) => x.provider.name === m.provider && x.name === m.model);
      // Members on disabled providers or models drop out of the pool.
      if (!provider || !model) return [];
      const cost = model.modelPrice ? Number(costPerMtokMicros(model.modelPrice)) : undefined;
      return [{ key: `${provider.id}/${m.model}`, provider: m.provider, model: m.model, weight: m.weight || 1, costPerMtokMicros: cost }];
    }),
  };
}

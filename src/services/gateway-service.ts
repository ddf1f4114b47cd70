/**
 * Gateways and what hangs off them: routes with their pools, rate limits and
 * spend limits. The pool and scope validators are exported so that the
 * config-file loader checks the same documents with the same rules.
 *
 * Writes validate inside their transaction (references to providers, models
 * and gateways are checked against the same snapshot they are written to) and
 * throw every violation together before anything is written.
 */
import { create } from '@bufbuild/protobuf';
import type { EntityManager, EntityName, FilterQuery } from '@mikro-orm/core';
import {
  ApiKeyEntity,
  GatewayEntity,
  McpServerEntity,
  ModelEntity,
  ProviderEntity,
  RateLimitEntity,
  RouteEntity,
  SpendLimitEntity,
  WorkspaceEntity,
  type GatewayRow,
  type PoolDoc,
  type RateLimitRow,
  type RouteRow,
  type ScopeDoc,
  type SpendLimitRow,
} from '../db/entities.js';
import { SluiceError } from '../errors.js';
import {
  FallbackTrigger,
  FallbackTriggerSchema,
  GatewaySchema,
  GatewayService,
  LimitScopeSchema,
  McpRateLimitScope,
  McpRateLimitScopeSchema,
  PoolSchema,
  PoolStrategy,
  PoolStrategySchema,
  RateLimitSchema,
  RateLimitUnit,
  RateLimitUnitSchema,
  RateLimitWindow,
  RateLimitWindowSchema,
  RouteSchema,
  SpendEnforcement,
  SpendEnforcementSchema,
  SpendLimitSchema,
  SpendPeriod,
  SpendPeriodSchema,
  StoreFailureMode,
  StoreFailureModeSchema,
  type Gateway,
  type LimitScope,
  type Pool,
  type RateLimit,
  type Route,
  type SpendLimit,
} from '../gen/sluice/v1/gateway_pb.js';
import { checkCel, formatCelProblem, MAX_CEL_LENGTH, MAX_KEY_EXPR_LENGTH, type CelExpected, type CelSurface } from '../policy/cel.js';
import { newId } from '../security/tokens.js';
import { checkExpression, evaluateExpression } from './cel-expressions.js';
import { resolveWorkspaceId, visibleOr404, type CallContext } from './context.js';
import { gatewayUsage, loadUsageKey, MAX_SCOPE_VALUE_LENGTH } from './limit-usage.js';
import { enumFromSlug, enumSlug } from './enums.js';
import { decodeCursor, encodeCursor, pageSize } from './pagination.js';
import type { DomainService } from './service-kit.js';
import { containsText, listById, mutate, read, ts, type ServiceDeps } from './store.js';
import { maskPaths, Violations } from './validation.js';

const GATEWAY_MUTABLE = ['description', 'tags', 'models', 'model_selector', 'mcp', 'record_bodies'] as const;
const ROUTE_MUTABLE = ['priority', 'condition', 'pool', 'fallbacks', 'enabled'] as const;
const RATE_LIMIT_MUTABLE = ['unit', 'limit', 'window', 'burst', 'scope', 'on_store_failure'] as const;
const SPEND_LIMIT_MUTABLE = ['amount_micros', 'period', 'enforcement', 'warn_at', 'scope', 'on_store_failure'] as const;

const MAX_TAGS = 32;
const MAX_BLOCKED_TOOLS = 256;
const MAX_MCP_RATE_LIMITS = 8;
const MAX_ROUTES = 256;
const MAX_FALLBACKS = 8;
const MAX_POOL_MEMBERS = 64;
const MAX_RATE = 1_000_000_000_000n;
const MAX_AMOUNT_MICROS = 1_000_000_000_000_000n;

/** Gateway-level blocked-tool patterns: `server:tool`, `server:*`, `*:tool`. */
const BLOCKED_TOOL_PATTERN = /^([a-z0-9][a-z0-9-]{0,62}|\*):([A-Za-z0-9_.\-*]{1,128})$/;

const RATE_LIMIT_SCOPES: readonly ScopeDoc['kind'][] = ['gateway', 'key', 'expr'];
const WORKSPACE_BUDGET_SCOPES: readonly ScopeDoc['kind'][] = ['workspace', 'key', 'expr'];
const GATEWAY_BUDGET_SCOPES: readonly ScopeDoc['kind'][] = ['gateway', 'key', 'expr'];

/** Tables whose rows belong to one gateway, removed with it. */
const GATEWAY_CHILDREN = [RouteEntity, RateLimitEntity, SpendLimitEntity, McpServerEntity] as unknown as EntityName<{
  workspaceId: string;
  gatewayId: string;
}>[];

/** Provider name → the names of its models: what pool members and gateway model lists may reference. */
export type KnownModels = ReadonlyMap<string, ReadonlySet<string>>;

/** The stored form of a validated pool: enums as slugs, weight 0 stored as 1. */
export function toPoolDoc(pool: Pool): PoolDoc {
  return {
    strategy: enumSlug(PoolStrategySchema, pool.strategy),
    members: pool.members.map((m) => ({ provider: m.provider, model: m.model, weight: m.weight === 0 ? 1 : m.weight })),
    fallbackOn: pool.fallbackOn.map((t) => enumSlug(FallbackTriggerSchema, t)),
    attemptTimeoutMs: pool.attemptTimeoutMs,
  };
}

function toPool(doc: PoolDoc): Pool {
  return create(PoolSchema, {
    strategy: enumFromSlug(PoolStrategySchema, doc.strategy) ?? PoolStrategy.UNSPECIFIED,
    members: doc.members.map((m) => ({ ...m })),
    fallbackOn: doc.fallbackOn.map((t) => enumFromSlug(FallbackTriggerSchema, t) ?? FallbackTrigger.UNSPECIFIED),
    attemptTimeoutMs: doc.attemptTimeoutMs,
  });
}

/** The stored form of a validated scope. */
export function toScopeDoc(scope: LimitScope | undefined): ScopeDoc {
  const kind = scope?.kind;
  if (kind?.case === 'expr') return { kind: 'expr', expr: kind.value };
  if (kind?.case === undefined) throw new SluiceError('internal', 'a limit scope must be validated before it is stored');
  return { kind: kind.case };
}

function toScope(doc: ScopeDoc): LimitScope {
  return create(LimitScopeSchema, {
    kind: doc.kind === 'expr' ? { case: 'expr', value: doc.expr ?? '' } : { case: doc.kind, value: true },
  });
}

/** Maps a stored gateway to its API message. */
export function toGateway(row: GatewayRow): Gateway {
  return create(GatewaySchema, {
    id: row.id,
    workspaceId: row.workspaceId,
    name: row.name,
    description: row.description,
    tags: [...row.tags],
    models: [...row.models],
    modelSelector: row.modelSelector,
    recordBodies: row.recordBodies,
    mcp: {
      deferLoading: row.mcp.deferLoading,
      blockedTools: [...row.mcp.blockedTools],
      authorization: row.mcp.authorization,
      rateLimits: (row.mcp.rateLimits ?? []).map((l) => ({
        scope: enumFromSlug(McpRateLimitScopeSchema, l.scope) ?? McpRateLimitScope.UNSPECIFIED,
        limit: BigInt(l.limit),
        window: enumFromSlug(RateLimitWindowSchema, l.window) ?? RateLimitWindow.UNSPECIFIED,
        onStoreFailure: enumFromSlug(StoreFailureModeSchema, l.onStoreFailure) ?? StoreFailureMode.UNSPECIFIED,
      })),
    },
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

/** Maps a stored route to its API message. */
export function toRoute(row: RouteRow): Route {
  return create(RouteSchema, {
    id: row.id,
    gatewayId: row.gatewayId,
    name: row.name,
    priority: row.priority,
    condition: row.condition,
    pool: toPool(row.pool),
    fallbacks: row.fallbacks.map(toPool),
    enabled: row.enabled,
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

/** Maps a stored rate limit to its API message. */
export function toRateLimit(row: RateLimitRow): RateLimit {
  return create(RateLimitSchema, {
    id: row.id,
    gatewayId: row.gatewayId,
    name: row.name,
    unit: enumFromSlug(RateLimitUnitSchema, row.unit) ?? RateLimitUnit.UNSPECIFIED,
    limit: BigInt(row.limit),
    window: enumFromSlug(RateLimitWindowSchema, row.window) ?? RateLimitWindow.UNSPECIFIED,
    burst: BigInt(row.burst),
    scope: toScope(row.scope),
    onStoreFailure: enumFromSlug(StoreFailureModeSchema, row.onStoreFailure) ?? StoreFailureMode.UNSPECIFIED,
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

/** Maps a stored spend limit to its API message. */
export function toSpendLimit(row: SpendLimitRow): SpendLimit {
  return create(SpendLimitSchema, {
    id: row.id,
    workspaceId: row.workspaceId,
    gatewayId: row.gatewayId,
    name: row.name,
    amountMicros: BigInt(row.amountMicros),
    period: enumFromSlug(SpendPeriodSchema, row.period) ?? SpendPeriod.UNSPECIFIED,
    enforcement: enumFromSlug(SpendEnforcementSchema, row.enforcement) ?? SpendEnforcement.UNSPECIFIED,
    // `p.double()` may load as a string (MikroORM keeps doubles exact by default).
    warnAt: Number(row.warnAt),
    scope: toScope(row.scope),
    onStoreFailure: enumFromSlug(StoreFailureModeSchema, row.onStoreFailure) ?? StoreFailureMode.UNSPECIFIED,
    createTime: ts(row.createdAt),
    updateTime: ts(row.updatedAt),
  });
}

/** Evaluation order of routes: priority ascending, then name by code unit (the same on every database). */
export function compareRoutes(a: Pick<RouteRow, 'priority' | 'name'>, b: Pick<RouteRow, 'priority' | 'name'>): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function flagDuplicates(v: Violations, field: string, values: readonly (string | number)[]): void {
  values.forEach((value, i) => {
    if (values.indexOf(value) !== i) v.add(`${field}[${i}]`, `duplicate of ${field}[${values.indexOf(value)}]`, 'DUPLICATE');
  });
}

function maxItems(v: Violations, field: string, values: readonly unknown[], max: number): void {
  if (values.length > max) v.add(field, `at most ${max} entries`, 'TOO_MANY');
}

/** Optional enums: 0 (UNSPECIFIED) takes the default, unknown numbers are rejected. */
function optionalEnum(v: Violations, field: string, value: number, names: Record<number, string>): void {
  if (value !== 0 && !(value in names)) v.add(field, `unknown value ${value}`, 'INVALID_ENUM');
}

/**
 * Checks a CEL expression as it will be compiled: within `maxLength`, then
 * parsed and type-checked for `expected` (see `checkCel`). A blank optional
 * expression means "none" and passes. A failure is one `INVALID_CEL`
 * violation at `field`, described as `line:column: reason`.
 */
function validateCel(
  v: Violations,
  field: string,
  source: string,
  expected: CelExpected,
  options: { maxLength: number; surface?: CelSurface },
): void {
  if (source.length > options.maxLength) {
    v.maxLength(field, source, options.maxLength);
    return;
  }
  if (!source.trim()) return;
  const checked = checkCel(source, expected, options.surface);
  if (!checked.ok) v.add(field, formatCelProblem(checked), 'INVALID_CEL');
}

/**
 * Checks a pool (`pool` may be undefined: it is then reported as required at
 * `prefix`). Members must name a provider of `known` and one of its models.
 * Violations are added under `prefix`, e.g. `route.pool.members[0].provider`.
 */
export function validatePool(v: Violations, prefix: string, pool: Pool | undefined, known: KnownModels): void {
  if (!pool) {
    v.add(prefix, 'required', 'REQUIRED');
    return;
  }
  v.enumValue(`${prefix}.strategy`, pool.strategy, PoolStrategy);
  if (pool.members.length === 0) v.add(`${prefix}.members`, 'at least one member is required', 'REQUIRED');
  maxItems(v, `${prefix}.members`, pool.members, MAX_POOL_MEMBERS);
  pool.members.forEach((m, i) => {
    const at = `${prefix}.members[${i}]`;
    if (v.required(`${at}.provider`, m.provider)) {
      const models = known.get(m.provider);
      if (!models) v.add(`${at}.provider`, `unknown provider "${m.provider}"`, 'UNKNOWN_REFERENCE');
      else if (v.required(`${at}.model`, m.model) && !models.has(m.model)) {
        v.add(`${at}.model`, `provider "${m.provider}" has no model "${m.model}"`, 'UNKNOWN_REFERENCE');
      }
    }
    v.range(`${at}.weight`, m.weight, 0, 1000);
  });
  pool.fallbackOn.forEach((t, i) => v.enumValue(`${prefix}.fallback_on[${i}]`, t, FallbackTrigger));
  flagDuplicates(v, `${prefix}.fallback_on`, pool.fallbackOn);
  v.range(`${prefix}.attempt_timeout_ms`, pool.attemptTimeoutMs, 0, 3_600_000);
}

/**
 * Checks a limit scope against the kinds allowed where it is used (rate
 * limits: gateway/key/expr; budgets add workspace). The scope itself is
 * reported at `field`, an expression at `${field}.expr`, where it must
 * type-check as a limit key (a scalar; see `checkCel`).
 */
export function validateScope(v: Violations, field: string, scope: LimitScope | undefined, allowed: readonly ScopeDoc['kind'][]): void {
  const kind = scope?.kind;
  if (!kind || kind.case === undefined) {
    v.add(field, `required; set one of ${allowed.join(', ')}`, 'REQUIRED');
  } else if (!allowed.includes(kind.case)) {
    v.add(field, `scope "${kind.case}" is not allowed here; use one of ${allowed.join(', ')}`, 'INVALID');
  } else if (kind.case === 'expr') {
    if (v.required(`${field}.expr`, kind.value.trim())) validateCel(v, `${field}.expr`, kind.value, 'key', { maxLength: MAX_KEY_EXPR_LENGTH });
  } else if (!kind.value) {
    v.add(`${field}.${kind.case}`, 'must be true to select this scope', 'INVALID');
  }
}

function isKnownModel(known: KnownModels, publicName: string): boolean {
  // Provider names are slugs, so the first "/" separates provider and model.
  const slash = publicName.indexOf('/');
  return slash > 0 && (known.get(publicName.slice(0, slash))?.has(publicName.slice(slash + 1)) ?? false);
}

function checkGateway(v: Violations, g: Gateway, paths: ReadonlySet<string>, known: KnownModels): void {
  if (paths.has('description')) v.maxLength('gateway.description', g.description, 4000);
  if (paths.has('tags')) {
    maxItems(v, 'gateway.tags', g.tags, MAX_TAGS);
    g.tags.forEach((tag, i) => v.slug(`gateway.tags[${i}]`, tag));
    flagDuplicates(v, 'gateway.tags', g.tags);
  }
  if (paths.has('models')) {
    g.models.forEach((name, i) => {
      if (!isKnownModel(known, name)) {
        v.add(`gateway.models[${i}]`, `unknown model "${name}"; name a model of this workspace as "<provider>/<model>"`, 'UNKNOWN_REFERENCE');
      }
    });
    flagDuplicates(v, 'gateway.models', g.models);
  }
  if (paths.has('model_selector')) validateCel(v, 'gateway.model_selector', g.modelSelector, 'string', { maxLength: MAX_CEL_LENGTH });
  if (paths.has('mcp') && g.mcp) {
    maxItems(v, 'gateway.mcp.blocked_tools', g.mcp.blockedTools, MAX_BLOCKED_TOOLS);
    g.mcp.blockedTools.forEach((pattern, i) => {
      if (!BLOCKED_TOOL_PATTERN.test(pattern)) {
        v.add(`gateway.mcp.blocked_tools[${i}]`, 'must be "server:tool", "server:*" or "*:tool"', 'INVALID_FORMAT');
      }
    });
    validateCel(v, 'gateway.mcp.authorization', g.mcp.authorization, 'bool', { maxLength: MAX_CEL_LENGTH, surface: 'mcp' });
    maxItems(v, 'gateway.mcp.rate_limits', g.mcp.rateLimits, MAX_MCP_RATE_LIMITS);
    g.mcp.rateLimits.forEach((l, i) => {
      const at = `gateway.mcp.rate_limits[${i}]`;
      v.enumValue(`${at}.scope`, l.scope, McpRateLimitScope);
      v.range(`${at}.limit`, l.limit, 1n, MAX_RATE);
      v.enumValue(`${at}.window`, l.window, RateLimitWindow);
      optionalEnum(v, `${at}.on_store_failure`, l.onStoreFailure, StoreFailureMode);
    });
  }
}

function gatewayColumns(g: Gateway, paths: ReadonlySet<string>): Partial<GatewayRow> {
  const out: Partial<GatewayRow> = {};
  if (paths.has('description')) out.description = g.description;
  if (paths.has('tags')) out.tags = [...g.tags];
  if (paths.has('models')) out.models = [...g.models];
  if (paths.has('model_selector')) out.modelSelector = g.modelSelector;
  if (paths.has('record_bodies')) out.recordBodies = g.recordBodies;
  if (paths.has('mcp')) {
    out.mcp = {
      deferLoading: g.mcp?.deferLoading ?? false,
      blockedTools: [...(g.mcp?.blockedTools ?? [])],
      authorization: g.mcp?.authorization ?? '',
      rateLimits: (g.mcp?.rateLimits ?? []).map((l) => ({
        scope: enumSlug(McpRateLimitScopeSchema, l.scope),
        limit: Number(l.limit),
        window: enumSlug(RateLimitWindowSchema, l.window),
        onStoreFailure: storeFailureSlug(l.onStoreFailure),
      })),
    };
  }
  return out;
}

function checkRoute(v: Violations, r: Route, paths: ReadonlySet<string>, known: KnownModels): void {
  if (paths.has('priority')) v.range('route.priority', r.priority, -1_000_000, 1_000_000);
  if (paths.has('condition')) validateCel(v, 'route.condition', r.condition, 'bool', { maxLength: MAX_CEL_LENGTH });
  if (paths.has('pool')) validatePool(v, 'route.pool', r.pool, known);
  if (paths.has('fallbacks')) {
    maxItems(v, 'route.fallbacks', r.fallbacks, MAX_FALLBACKS);
    r.fallbacks.forEach((pool, i) => validatePool(v, `route.fallbacks[${i}]`, pool, known));
  }
}

function routeColumns(r: Route, paths: ReadonlySet<string>): Partial<RouteRow> {
  const out: Partial<RouteRow> = {};
  if (paths.has('priority')) out.priority = r.priority;
  if (paths.has('condition')) out.condition = r.condition;
  if (paths.has('pool') && r.pool) out.pool = toPoolDoc(r.pool);
  if (paths.has('fallbacks')) out.fallbacks = r.fallbacks.map(toPoolDoc);
  if (paths.has('enabled')) out.enabled = r.enabled ?? true;
  return out;
}

function checkRateLimit(v: Violations, l: RateLimit, paths: ReadonlySet<string>): void {
  if (paths.has('unit')) v.enumValue('rate_limit.unit', l.unit, RateLimitUnit);
  if (paths.has('limit')) v.range('rate_limit.limit', l.limit, 1n, MAX_RATE);
  if (paths.has('window')) v.enumValue('rate_limit.window', l.window, RateLimitWindow);
  if (paths.has('burst')) v.range('rate_limit.burst', l.burst, 0n, MAX_RATE);
  if (paths.has('scope')) validateScope(v, 'rate_limit.scope', l.scope, RATE_LIMIT_SCOPES);
  if (paths.has('on_store_failure')) optionalEnum(v, 'rate_limit.on_store_failure', l.onStoreFailure, StoreFailureMode);
}

function storeFailureSlug(mode: StoreFailureMode): string {
  return enumSlug(StoreFailureModeSchema, mode || StoreFailureMode.FAIL_OPEN);
}

function rateLimitColumns(l: RateLimit, paths: ReadonlySet<string>): Partial<RateLimitRow> {
  const out: Partial<RateLimitRow> = {};
  if (paths.has('unit')) out.unit = enumSlug(RateLimitUnitSchema, l.unit);
  if (paths.has('limit')) out.limit = l.limit;
  if (paths.has('window')) out.window = enumSlug(RateLimitWindowSchema, l.window);
  if (paths.has('burst')) out.burst = l.burst;
  if (paths.has('scope')) out.scope = toScopeDoc(l.scope);
  if (paths.has('on_store_failure')) out.onStoreFailure = storeFailureSlug(l.onStoreFailure);
  return out;
}

function checkSpendLimit(v: Violations, s: SpendLimit, paths: ReadonlySet<string>, gatewayLevel: boolean): void {
  if (paths.has('amount_micros')) v.range('spend_limit.amount_micros', s.amountMicros, 1n, MAX_AMOUNT_MICROS);
  if (paths.has('period')) v.enumValue('spend_limit.period', s.period, SpendPeriod);
  if (paths.has('enforcement')) v.enumValue('spend_limit.enforcement', s.enforcement, SpendEnforcement);
  if (paths.has('warn_at') && !(s.warnAt === 0 || (s.warnAt > 0 && s.warnAt < 1))) {
    v.add('spend_limit.warn_at', 'must be 0 (no warning) or a fraction strictly between 0 and 1', 'OUT_OF_RANGE');
  }
  if (paths.has('scope')) validateScope(v, 'spend_limit.scope', s.scope, gatewayLevel ? GATEWAY_BUDGET_SCOPES : WORKSPACE_BUDGET_SCOPES);
  if (paths.has('on_store_failure')) optionalEnum(v, 'spend_limit.on_store_failure', s.onStoreFailure, StoreFailureMode);
}

function spendLimitColumns(s: SpendLimit, paths: ReadonlySet<string>): Partial<SpendLimitRow> {
  const out: Partial<SpendLimitRow> = {};
  if (paths.has('amount_micros')) out.amountMicros = s.amountMicros;
  if (paths.has('period')) out.period = enumSlug(SpendPeriodSchema, s.period);
  if (paths.has('enforcement')) out.enforcement = enumSlug(SpendEnforcementSchema, s.enforcement);
  if (paths.has('warn_at')) out.warnAt = s.warnAt;
  if (paths.has('scope')) out.scope = toScopeDoc(s.scope);
  if (paths.has('on_store_failure')) out.onStoreFailure = storeFailureSlug(s.onStoreFailure);
  return out;
}

async function loadKnownModels(em: EntityManager, workspaceId: string): Promise<KnownModels> {
  const [providers, models] = await Promise.all([em.find(ProviderEntity, { workspaceId }), em.find(ModelEntity, { workspaceId })]);
  const byId = new Map(providers.map((p) => [p.id, new Set<string>()]));
  for (const m of models) byId.get(m.providerId)?.add(m.name);
  return new Map(providers.map((p) => [p.name, byId.get(p.id) ?? new Set<string>()]));
}

const NO_MODELS: KnownModels = new Map();

async function loadVisible<T extends { id: string; workspaceId: string }>(
  em: EntityManager,
  call: CallContext,
  entity: EntityName<T>,
  what: string,
  id: string,
  field: string,
): Promise<T> {
  if (!id) throw SluiceError.invalid([{ field, description: 'required', reason: 'REQUIRED' }]);
  return visibleOr404(call, await em.findOne(entity, { id } as FilterQuery<T>), what, id);
}

/**
 * Loads the gateway `id` if the caller may see it; a missing or foreign
 * gateway is `not_found`, an empty id `invalid_argument` on `field`.
 */
export async function loadGateway(em: EntityManager, call: CallContext, id: string, field = 'id'): Promise<GatewayRow> {
  return loadVisible(em, call, GatewayEntity, 'gateway', id, field);
}

async function requireWorkspace(em: EntityManager, id: string): Promise<void> {
  if (!(await em.count(WorkspaceEntity, { id }))) throw SluiceError.notFound('workspace', id);
}

async function assertNameFree<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  field: string,
  what: string,
  name: string,
): Promise<void> {
  if (await em.count(entity, where)) throw new SluiceError('already_exists', `${field}: ${what} "${name}" already exists`);
}

/** Creates the GatewayService implementation over `deps`. */
export function createGatewayService(deps: ServiceDeps): DomainService<typeof GatewayService> {
  return {
    async createGateway(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const g = req.gateway ?? create(GatewaySchema);
      const row = await mutate(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const v = new Violations();
        v.slug('gateway.name', g.name);
        checkGateway(v, g, new Set(GATEWAY_MUTABLE), g.models.length ? await loadKnownModels(em, workspaceId) : NO_MODELS);
        v.throwIfAny();
        await assertNameFree(em, GatewayEntity, { workspaceId, name: g.name }, 'gateway.name', 'gateway', g.name);
        return em.create(GatewayEntity, {
          id: newId('gw'),
          workspaceId,
          name: g.name,
          tags: [],
          models: [],
          mcp: { deferLoading: false, blockedTools: [], authorization: '' },
          ...gatewayColumns(g, new Set(GATEWAY_MUTABLE)),
        });
      });
      return { gateway: toGateway(row) };
    },

    async getGateway(req, call) {
      return read(deps, async (em) => ({ gateway: toGateway(await loadGateway(em, call, req.id)) }));
    },

    async listGateways(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      return read(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const where: FilterQuery<GatewayRow> = { workspaceId };
        if (req.name) where.name = req.name;
        if (req.query) where.$or = [{ name: containsText(deps.orm, req.query) }, { description: containsText(deps.orm, req.query) }];
        if (req.tag) {
          // Tags are a JSON array; matching in memory keeps one query for both dialects.
          const all = await em.find(GatewayEntity, { workspaceId });
          where.id = { $in: all.filter((g) => g.tags.includes(req.tag)).map((g) => g.id) };
        }
        const page = await listById(em, GatewayEntity, where, req, 'ListGateways');
        return { gateways: page.rows.map(toGateway), nextPageToken: page.nextPageToken };
      });
    },

    async updateGateway(req, call) {
      const g = req.gateway ?? create(GatewaySchema);
      const paths = maskPaths(req.updateMask, GATEWAY_MUTABLE);
      const row = await mutate(deps, async (em) => {
        const row = await loadGateway(em, call, g.id, 'gateway.id');
        const v = new Violations();
        checkGateway(v, g, paths, paths.has('models') && g.models.length ? await loadKnownModels(em, row.workspaceId) : NO_MODELS);
        v.throwIfAny();
        return Object.assign(row, gatewayColumns(g, paths));
      });
      return { gateway: toGateway(row) };
    },

    /**
     * Removes the gateway with its routes, rate limits, spend limits and MCP
     * servers. With `force`, API keys naming it lose the name; a key whose
     * allow-list held only this gateway is revoked, because an empty list
     * would let it use every gateway of the workspace.
     */
    async deleteGateway(req, call) {
      await mutate(deps, async (em) => {
        const gw = await loadGateway(em, call, req.id);
        const keys = (await em.find(ApiKeyEntity, { workspaceId: gw.workspaceId })).filter(
          (k) => k.defaultGateway === gw.name || k.gateways.includes(gw.name),
        );
        if (keys.length > 0 && !req.force) {
          const names = keys.map((k) => `"${k.name}"`).join(', ');
          throw new SluiceError('failed_precondition', `gateway "${gw.name}" is used by API keys ${names}; remove it from them or pass force`);
        }
        for (const key of keys) {
          if (key.gateways.includes(gw.name)) {
            key.gateways = key.gateways.filter((name) => name !== gw.name);
            if (key.gateways.length === 0) key.revokedAt ??= new Date();
          }
          if (key.defaultGateway === gw.name) key.defaultGateway = '';
        }
        for (const entity of GATEWAY_CHILDREN) await em.nativeDelete(entity, { workspaceId: gw.workspaceId, gatewayId: gw.id });
        em.remove(gw);
      });
      return {};
    },

    async createRoute(req, call) {
      const r = req.route ?? create(RouteSchema);
      const row = await mutate(deps, async (em) => {
        const gw = await loadGateway(em, call, req.gatewayId, 'gateway_id');
        const v = new Violations();
        v.slug('route.name', r.name);
        checkRoute(v, r, new Set(ROUTE_MUTABLE), await loadKnownModels(em, gw.workspaceId));
        v.throwIfAny();
        await assertNameFree(em, RouteEntity, { gatewayId: gw.id, name: r.name }, 'route.name', 'route', r.name);
        if ((await em.count(RouteEntity, { gatewayId: gw.id })) >= MAX_ROUTES) {
          throw new SluiceError('failed_precondition', `gateway "${gw.name}" already has ${MAX_ROUTES} routes, the most it may hold`);
        }
        return em.create(RouteEntity, {
          id: newId('route'),
          workspaceId: gw.workspaceId,
          gatewayId: gw.id,
          name: r.name,
          pool: { strategy: '', members: [], fallbackOn: [], attemptTimeoutMs: 0 },
          fallbacks: [],
          ...routeColumns(r, new Set(ROUTE_MUTABLE)),
        });
      });
      return { route: toRoute(row) };
    },

    async getRoute(req, call) {
      return read(deps, async (em) => ({ route: toRoute(await loadVisible(em, call, RouteEntity, 'route', req.id, 'id')) }));
    },

    async listRoutes(req, call) {
      return read(deps, async (em) => {
        const gw = await loadGateway(em, call, req.gatewayId, 'gateway_id');
        const size = pageSize(req.pageSize);
        const offset = decodeCursor(req.pageToken, 'ListRoutes')?.offset ?? 0;
        if (!Number.isInteger(offset) || offset < 0) {
          throw SluiceError.invalid([{ field: 'page_token', description: 'is not a page token of this list', reason: 'INVALID_FORMAT' }]);
        }
        const where: FilterQuery<RouteRow> = { gatewayId: gw.id };
        if (req.name) where.name = req.name;
        // At most MAX_ROUTES rows: sorting here gives the same order on every database collation.
        const rows = (await em.find(RouteEntity, where)).sort(compareRoutes);
        const end = offset + size;
        return {
          routes: rows.slice(offset, end).map(toRoute),
          nextPageToken: end < rows.length ? encodeCursor({ m: 'ListRoutes', offset: end }) : '',
        };
      });
    },

    async updateRoute(req, call) {
      const r = req.route ?? create(RouteSchema);
      const paths = maskPaths(req.updateMask, ROUTE_MUTABLE);
      const row = await mutate(deps, async (em) => {
        const row = await loadVisible(em, call, RouteEntity, 'route', r.id, 'route.id');
        const v = new Violations();
        checkRoute(v, r, paths, paths.has('pool') || paths.has('fallbacks') ? await loadKnownModels(em, row.workspaceId) : NO_MODELS);
        v.throwIfAny();
        return Object.assign(row, routeColumns(r, paths));
      });
      return { route: toRoute(row) };
    },

    async deleteRoute(req, call) {
      await mutate(deps, async (em) => {
        em.remove(await loadVisible(em, call, RouteEntity, 'route', req.id, 'id'));
      });
      return {};
    },

    async createRateLimit(req, call) {
      const l = req.rateLimit ?? create(RateLimitSchema);
      const row = await mutate(deps, async (em) => {
        const gw = await loadGateway(em, call, req.gatewayId, 'gateway_id');
        const v = new Violations();
        v.slug('rate_limit.name', l.name);
        checkRateLimit(v, l, new Set(RATE_LIMIT_MUTABLE));
        v.throwIfAny();
        await assertNameFree(em, RateLimitEntity, { gatewayId: gw.id, name: l.name }, 'rate_limit.name', 'rate limit', l.name);
        return em.create(RateLimitEntity, {
          id: newId('rl'),
          workspaceId: gw.workspaceId,
          gatewayId: gw.id,
          name: l.name,
          unit: '',
          limit: 0n,
          window: '',
          scope: { kind: 'gateway' },
          onStoreFailure: '',
          ...rateLimitColumns(l, new Set(RATE_LIMIT_MUTABLE)),
        });
      });
      return { rateLimit: toRateLimit(row) };
    },

    async getRateLimit(req, call) {
      return read(deps, async (em) => ({ rateLimit: toRateLimit(await loadVisible(em, call, RateLimitEntity, 'rate limit', req.id, 'id')) }));
    },

    async listRateLimits(req, call) {
      return read(deps, async (em) => {
        const gw = await loadGateway(em, call, req.gatewayId, 'gateway_id');
        const page = await listById(em, RateLimitEntity, { gatewayId: gw.id }, req, 'ListRateLimits');
        return { rateLimits: page.rows.map(toRateLimit), nextPageToken: page.nextPageToken };
      });
    },

    async updateRateLimit(req, call) {
      const l = req.rateLimit ?? create(RateLimitSchema);
      const paths = maskPaths(req.updateMask, RATE_LIMIT_MUTABLE);
      const row = await mutate(deps, async (em) => {
        const row = await loadVisible(em, call, RateLimitEntity, 'rate limit', l.id, 'rate_limit.id');
        const v = new Violations();
        checkRateLimit(v, l, paths);
        v.throwIfAny();
        return Object.assign(row, rateLimitColumns(l, paths));
      });
      return { rateLimit: toRateLimit(row) };
    },

    async deleteRateLimit(req, call) {
      await mutate(deps, async (em) => {
        em.remove(await loadVisible(em, call, RateLimitEntity, 'rate limit', req.id, 'id'));
      });
      return {};
    },

    async createSpendLimit(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const s = req.spendLimit ?? create(SpendLimitSchema);
      const row = await mutate(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const v = new Violations();
        v.slug('spend_limit.name', s.name);
        if (s.gatewayId && !(await em.count(GatewayEntity, { id: s.gatewayId, workspaceId }))) {
          v.add('spend_limit.gateway_id', `unknown gateway "${s.gatewayId}" in this workspace`, 'UNKNOWN_REFERENCE');
        }
        checkSpendLimit(v, s, new Set(SPEND_LIMIT_MUTABLE), s.gatewayId !== '');
        v.throwIfAny();
        await assertNameFree(em, SpendLimitEntity, { workspaceId, gatewayId: s.gatewayId, name: s.name }, 'spend_limit.name', 'spend limit', s.name);
        return em.create(SpendLimitEntity, {
          id: newId('sl'),
          workspaceId,
          gatewayId: s.gatewayId,
          name: s.name,
          amountMicros: 0n,
          period: '',
          enforcement: '',
          scope: { kind: 'workspace' },
          onStoreFailure: '',
          ...spendLimitColumns(s, new Set(SPEND_LIMIT_MUTABLE)),
        });
      });
      return { spendLimit: toSpendLimit(row) };
    },

    async getSpendLimit(req, call) {
      return read(deps, async (em) => ({ spendLimit: toSpendLimit(await loadVisible(em, call, SpendLimitEntity, 'spend limit', req.id, 'id')) }));
    },

    async listSpendLimits(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      return read(deps, async (em) => {
        await requireWorkspace(em, workspaceId);
        const where: FilterQuery<SpendLimitRow> = { workspaceId };
        if (req.gatewayId) where.gatewayId = req.gatewayId;
        const page = await listById(em, SpendLimitEntity, where, req, 'ListSpendLimits');
        return { spendLimits: page.rows.map(toSpendLimit), nextPageToken: page.nextPageToken };
      });
    },

    async updateSpendLimit(req, call) {
      const s = req.spendLimit ?? create(SpendLimitSchema);
      const paths = maskPaths(req.updateMask, SPEND_LIMIT_MUTABLE);
      const row = await mutate(deps, async (em) => {
        const row = await loadVisible(em, call, SpendLimitEntity, 'spend limit', s.id, 'spend_limit.id');
        const v = new Violations();
        checkSpendLimit(v, s, paths, row.gatewayId !== '');
        v.throwIfAny();
        return Object.assign(row, spendLimitColumns(s, paths));
      });
      return { spendLimit: toSpendLimit(row) };
    },

    async deleteSpendLimit(req, call) {
      await mutate(deps, async (em) => {
        em.remove(await loadVisible(em, call, SpendLimitEntity, 'spend limit', req.id, 'id'));
      });
      return {};
    },

    async checkExpression(req) {
      return checkExpression(req);
    },

    async evaluateExpression(req) {
      return evaluateExpression(req);
    },

    async getGatewayUsage(req, call) {
      const v = new Violations();
      v.maxLength('scope_value', req.scopeValue, MAX_SCOPE_VALUE_LENGTH);
      v.throwIfAny();
      return read(deps, async (em) => {
        const gateway = await loadGateway(em, call, req.gatewayId, 'gateway_id');
        if (req.apiKeyId) await loadUsageKey(em, gateway.workspaceId, req.apiKeyId);
        return gatewayUsage(deps, em, gateway, { apiKeyId: req.apiKeyId || undefined, scopeValue: req.scopeValue || undefined });
      });
    },
  };
}

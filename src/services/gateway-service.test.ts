import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { FieldMaskSchema, type FieldMask } from '@bufbuild/protobuf/wkt';
import type { EntityName, FilterQuery } from '@mikro-orm/core';
import {
  ApiKeyEntity,
  GatewayEntity,
  McpServerEntity,
  ModelEntity,
  ProviderEntity,
  RateLimitEntity,
  RouteEntity,
  SpendLimitEntity,
} from '../db/entities.js';
import { SluiceError } from '../errors.js';
import {
  CreateGatewayRequestSchema,
  CreateRateLimitRequestSchema,
  CreateRouteRequestSchema,
  CreateSpendLimitRequestSchema,
  DeleteGatewayRequestSchema,
  DeleteRateLimitRequestSchema,
  DeleteRouteRequestSchema,
  DeleteSpendLimitRequestSchema,
  FallbackTrigger,
  GatewaySchema,
  GetGatewayRequestSchema,
  GetRateLimitRequestSchema,
  GetRouteRequestSchema,
  GetSpendLimitRequestSchema,
  LimitScopeSchema,
  ListGatewaysRequestSchema,
  ListRateLimitsRequestSchema,
  ListRoutesRequestSchema,
  ListSpendLimitsRequestSchema,
  PoolMemberSchema,
  PoolSchema,
  PoolStrategy,
  RateLimitUnit,
  RouteSchema,
  RateLimitWindow,
  SpendEnforcement,
  SpendPeriod,
  StoreFailureMode,
  UpdateGatewayRequestSchema,
  UpdateRateLimitRequestSchema,
  UpdateRouteRequestSchema,
  UpdateSpendLimitRequestSchema,
  type Gateway,
  type LimitScope,
} from '../gen/sluice/v1/gateway_pb.js';
import { CreateWorkspaceRequestSchema, WorkspaceSchema } from '../gen/sluice/v1/workspace_pb.js';
import { hashSecret, newId } from '../security/tokens.js';
import { createTestDeps, DIALECTS, workspaceCall, type TestDeps } from '../../test/helpers/database.js';
import type { CallContext } from './context.js';
import { createGatewayService, validatePool, validateScope } from './gateway-service.js';
import { Violations } from './validation.js';
import { createWorkspaceService } from './workspace-service.js';

/** The rejection of `promise`, which must be a SluiceError. */
async function rejection(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

/** The violation field paths of an `invalid_argument` rejection. */
async function invalidFields(promise: Promise<unknown>): Promise<string[]> {
  const err = await rejection(promise);
  expect(err.kind).toBe('invalid_argument');
  return err.violations.map((v) => v.field);
}

function mask(...paths: string[]): FieldMask {
  return create(FieldMaskSchema, { paths });
}

function member(provider: string, model: string, weight = 0): MessageInitShape<typeof PoolMemberSchema> {
  return { provider, model, weight };
}

function scopeOf(kind: 'workspace' | 'gateway' | 'key'): LimitScope {
  return create(LimitScopeSchema, { kind: { case: kind, value: true } });
}

function exprScope(expr: string): LimitScope {
  return create(LimitScopeSchema, { kind: { case: 'expr', value: expr } });
}

describe.each(DIALECTS)('GatewayService on %s', (dialect) => {
  let t: TestDeps;
  beforeAll(async () => {
    t = await createTestDeps(dialect);
  });
  afterAll(async () => t?.close());

  const svc = () => createGatewayService(t.deps);

  async function workspace(name: string): Promise<string> {
    const res = await createWorkspaceService(t.deps).createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name } }), t.root);
    return create(WorkspaceSchema, res.workspace).id;
  }

  /** Inserts a provider with models directly (the provider service is not under test here). */
  async function provider(workspaceId: string, name: string, models: string[]): Promise<void> {
    const em = t.orm.em.fork();
    const providerId = newId('prov');
    em.create(ProviderEntity, { id: providerId, workspaceId, name, type: 'mock' });
    for (const model of models) em.create(ModelEntity, { id: newId('model'), workspaceId, providerId, name: model, price: null });
    await em.flush();
  }

  async function gateway(
    workspaceId: string,
    name: string,
    call: CallContext = t.root,
    extra: Omit<MessageInitShape<typeof GatewaySchema>, 'name' | '$typeName'> = {},
  ): Promise<Gateway> {
    const res = await svc().createGateway(create(CreateGatewayRequestSchema, { workspaceId, gateway: { ...extra, name } }), call);
    return create(GatewaySchema, res.gateway);
  }

  async function route(gatewayId: string, name: string, priority = 0) {
    const res = await svc().createRoute(
      create(CreateRouteRequestSchema, {
        gatewayId,
        route: { name, priority, enabled: true, pool: { strategy: PoolStrategy.PRIORITY, members: [member('openai', 'gpt-4o')] } },
      }),
      t.root,
    );
    return create(RouteSchema, res.route);
  }

  async function count<T extends { workspaceId: string }>(entity: EntityName<T>, workspaceId: string): Promise<number> {
    return t.orm.em.fork().count(entity, { workspaceId } as FilterQuery<T>);
  }

  it('creates, gets, lists page by page, filters and updates gateways with a mask', async () => {
    const ws = await workspace('gw-crud');
    await provider(ws, 'openai', ['gpt-4o', 'gpt-4o-mini']);
    const prod = await gateway(ws, 'prod', t.root, {
      description: 'production traffic',
      tags: ['team-a', 'eu'],
      models: ['openai/gpt-4o', 'openai/gpt-4o-mini'],
      modelSelector: 'request.model',
      mcp: { deferLoading: true, blockedTools: ['github:delete_repo', 'fs:*', '*:exec'], authorization: 'key.name != ""' },
    });
    expect(prod.id).toMatch(/^gw_/);
    expect(prod.workspaceId).toBe(ws);
    expect(prod.models).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini']);
    expect(prod.mcp?.blockedTools).toEqual(['github:delete_repo', 'fs:*', '*:exec']);
    expect(prod.createTime).toBeDefined();
    await gateway(ws, 'staging', t.root, { tags: ['eu'] });
    await gateway(ws, 'dev', t.root, { description: 'Sandbox for experiments' });

    const got = await svc().getGateway(create(GetGatewayRequestSchema, { id: prod.id }), t.root);
    expect(got.gateway).toEqual(prod);

    const names: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await svc().listGateways(create(ListGatewaysRequestSchema, { workspaceId: ws, pageSize: 1, pageToken }), t.root);
      expect(page.gateways).toHaveLength(1);
      names.push(...(page.gateways ?? []).map((g) => g.name ?? ''));
      pageToken = page.nextPageToken ?? '';
      pages++;
    } while (pageToken && pages < 10);
    expect(pages).toBe(3);
    expect(names.sort()).toEqual(['dev', 'prod', 'staging']);

    const list = async (filter: { name?: string; tag?: string; query?: string }) =>
      (await svc().listGateways(create(ListGatewaysRequestSchema, { workspaceId: ws, ...filter }), t.root)).gateways!.map((g) => g.name).sort();
    expect(await list({ tag: 'eu' })).toEqual(['prod', 'staging']);
    expect(await list({ tag: 'team' })).toEqual([]);
    expect(await list({ name: 'dev' })).toEqual(['dev']);
    expect(await list({ query: 'sandbox' })).toEqual(['dev']);

    const updated = await svc().updateGateway(
      create(UpdateGatewayRequestSchema, {
        gateway: { id: prod.id, description: 'new', tags: ['ignored'], mcp: { blockedTools: ['*:rm'] } },
        updateMask: mask('description', 'mcp'),
      }),
      t.root,
    );
    expect(updated.gateway?.description).toBe('new');
    expect(updated.gateway?.tags).toEqual(['team-a', 'eu']);
    expect(updated.gateway?.mcp).toMatchObject({ deferLoading: false, blockedTools: ['*:rm'], authorization: '' });
    expect(updated.gateway?.models).toEqual(prod.models);

    const rename = create(UpdateGatewayRequestSchema, { gateway: { id: prod.id, name: 'renamed' }, updateMask: mask('name') });
    expect(await invalidFields(svc().updateGateway(rename, t.root))).toEqual(['update_mask']);
    expect((await rejection(gateway(ws, 'prod'))).kind).toBe('already_exists');
    expect((await rejection(gateway('ws_missing', 'x'))).kind).toBe('not_found');
  });

  it('rejects an invalid gateway with every field path and writes nothing', async () => {
    const ws = await workspace('gw-invalid');
    await provider(ws, 'openai', ['gpt-4o']);
    const fields = await invalidFields(
      gateway(ws, 'Bad Name', t.root, {
        description: 'x'.repeat(4001),
        tags: ['ok', 'Not Slug', 'ok'],
        models: ['openai/gpt-4o', 'openai/nope', 'gpt-4o'],
        modelSelector: 'x'.repeat(4097),
        mcp: { deferLoading: false, blockedTools: ['github:ok', 'no-colon', 'Bad:tool'], authorization: 'x'.repeat(4097) },
      }),
    );
    expect(fields).toEqual([
      'gateway.name',
      'gateway.description',
      'gateway.tags[1]',
      'gateway.tags[2]',
      'gateway.models[1]',
      'gateway.models[2]',
      'gateway.model_selector',
      'gateway.mcp.blocked_tools[1]',
      'gateway.mcp.blocked_tools[2]',
      'gateway.mcp.authorization',
    ]);
    const tooMany = Array.from({ length: 33 }, (_, i) => `t${i}`);
    expect(await invalidFields(gateway(ws, 'tagged', t.root, { tags: tooMany }))).toEqual(['gateway.tags']);
    const err = await rejection(gateway(ws, 'unknown-model', t.root, { models: ['anthropic/claude'] }));
    expect(err.violations[0]).toMatchObject({ field: 'gateway.models[0]', reason: 'UNKNOWN_REFERENCE' });
    expect(await count(GatewayEntity, ws)).toBe(0);

    const ok = await gateway(ws, 'ok');
    const badModels = create(UpdateGatewayRequestSchema, { gateway: { id: ok.id, models: ['openai/none'] }, updateMask: mask('models') });
    expect(await invalidFields(svc().updateGateway(badModels, t.root))).toEqual(['gateway.models[0]']);
    expect((await svc().getGateway(create(GetGatewayRequestSchema, { id: ok.id }), t.root)).gateway?.models).toEqual([]);
  });

  it('refuses to delete a gateway an API key names unless forced, then cascades', async () => {
    const ws = await workspace('gw-delete');
    await provider(ws, 'openai', ['gpt-4o']);
    const main = await gateway(ws, 'main');
    const other = await gateway(ws, 'other');
    await route(main.id, 'r1');
    const kept = await route(other.id, 'r1');
    await svc().createRateLimit(
      create(CreateRateLimitRequestSchema, {
        gatewayId: main.id,
        rateLimit: { name: 'rpm', unit: RateLimitUnit.REQUESTS, limit: 60n, window: RateLimitWindow.MINUTE, scope: scopeOf('gateway') },
      }),
      t.root,
    );
    const budget = (name: string, gatewayId: string, scope: 'workspace' | 'gateway') =>
      svc().createSpendLimit(
        create(CreateSpendLimitRequestSchema, {
          workspaceId: ws,
          spendLimit: { name, gatewayId, amountMicros: 1n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, scope: scopeOf(scope) },
        }),
        t.root,
      );
    await budget('daily', main.id, 'gateway');
    const workspaceBudget = (await budget('daily', '', 'workspace')).spendLimit!;

    const em = t.orm.em.fork();
    em.create(McpServerEntity, {
      id: newId('mcp'),
      workspaceId: ws,
      gatewayId: main.id,
      name: 'github',
      transport: 'streamable_http',
      url: 'https://mcp.example.com',
      args: [],
      envNames: [],
      authMode: 'none',
      deferLoading: 'inherit',
      blockedTools: [],
    });
    const key = (name: string, gateways: string[], defaultGateway: string) =>
      em.create(ApiKeyEntity, {
        id: newId('key'),
        workspaceId: ws,
        name,
        prefix: 'sk-sluice-abcdef',
        hash: hashSecret(`secret-${ws}-${name}`),
        metadata: {},
        gateways,
        defaultGateway,
        expiresAt: null,
        revokedAt: null,
      });
    const both = key('both', ['main', 'other'], 'other');
    const byDefault = key('by-default', [], 'main');
    const onlyMain = key('only-main', ['main'], 'main');
    await em.flush();

    const blocked = await rejection(svc().deleteGateway(create(DeleteGatewayRequestSchema, { id: main.id }), t.root));
    expect(blocked.kind).toBe('failed_precondition');
    expect(blocked.message).toContain('"both"');
    expect((await svc().getGateway(create(GetGatewayRequestSchema, { id: main.id }), t.root)).gateway?.name).toBe('main');
    expect(await count(RouteEntity, ws)).toBe(2);

    await svc().deleteGateway(create(DeleteGatewayRequestSchema, { id: main.id, force: true }), t.root);
    expect((await rejection(svc().getGateway(create(GetGatewayRequestSchema, { id: main.id }), t.root))).kind).toBe('not_found');
    const check = t.orm.em.fork();
    expect(await check.count(RouteEntity, { gatewayId: main.id })).toBe(0);
    expect((await check.find(RouteEntity, { workspaceId: ws })).map((r) => r.id)).toEqual([kept.id]);
    expect(await check.count(RateLimitEntity, { workspaceId: ws })).toBe(0);
    expect(await check.count(McpServerEntity, { workspaceId: ws })).toBe(0);
    expect((await check.find(SpendLimitEntity, { workspaceId: ws })).map((s) => s.id)).toEqual([workspaceBudget.id]);
    const keys = new Map((await check.find(ApiKeyEntity, { workspaceId: ws })).map((k) => [k.id, k]));
    expect(keys.get(both.id)).toMatchObject({ gateways: ['other'], defaultGateway: 'other', revokedAt: null });
    expect(keys.get(byDefault.id)).toMatchObject({ gateways: [], defaultGateway: '', revokedAt: null });
    // Its allow-list would be empty, which means every gateway: the key is revoked instead.
    expect(keys.get(onlyMain.id)).toMatchObject({ gateways: [], defaultGateway: '' });
    expect(keys.get(onlyMain.id)?.revokedAt).toBeInstanceOf(Date);

    const lonely = await gateway(ws, 'lonely');
    await svc().deleteGateway(create(DeleteGatewayRequestSchema, { id: lonely.id }), t.root);
    expect(await count(GatewayEntity, ws)).toBe(1);
  });

  it('creates routes, stores pools as slugs and lists them in evaluation order', async () => {
    const ws = await workspace('gw-routes');
    await provider(ws, 'openai', ['gpt-4o', 'gpt-4o-mini']);
    await provider(ws, 'anthropic', ['claude-sonnet']);
    const gw = await gateway(ws, 'main');
    const created = await svc().createRoute(
      create(CreateRouteRequestSchema, {
        gatewayId: gw.id,
        route: {
          name: 'b',
          priority: 10,
          condition: 'request.model == "fast"',
          enabled: true,
          pool: {
            strategy: PoolStrategy.ROUND_ROBIN,
            members: [member('openai', 'gpt-4o'), member('openai', 'gpt-4o-mini', 3)],
            fallbackOn: [FallbackTrigger.RATE_LIMITED, FallbackTrigger.SERVER_ERROR],
            attemptTimeoutMs: 5000,
          },
          fallbacks: [{ strategy: PoolStrategy.LOWEST_COST, members: [member('anthropic', 'claude-sonnet')] }],
        },
      }),
      t.root,
    );
    const r = create(RouteSchema, created.route);
    expect(r.id).toMatch(/^route_/);
    expect(r.gatewayId).toBe(gw.id);
    expect(r.pool?.strategy).toBe(PoolStrategy.ROUND_ROBIN);
    expect(r.pool?.members.map((m) => m.weight)).toEqual([1, 3]);
    expect(r.pool?.fallbackOn).toEqual([FallbackTrigger.RATE_LIMITED, FallbackTrigger.SERVER_ERROR]);
    expect(r.fallbacks.map((p) => p.strategy)).toEqual([PoolStrategy.LOWEST_COST]);

    const stored = await t.orm.em.fork().findOneOrFail(RouteEntity, { id: r.id });
    expect(stored.pool).toEqual({
      strategy: 'round_robin',
      members: [
        { provider: 'openai', model: 'gpt-4o', weight: 1 },
        { provider: 'openai', model: 'gpt-4o-mini', weight: 3 },
      ],
      fallbackOn: ['rate_limited', 'server_error'],
      attemptTimeoutMs: 5000,
    });
    expect(stored.fallbacks[0]?.strategy).toBe('lowest_cost');
    expect((await svc().getRoute(create(GetRouteRequestSchema, { id: r.id }), t.root)).route).toEqual(r);

    await route(gw.id, 'a', 10);
    await route(gw.id, 'first', -5);
    const last = await route(gw.id, 'last', 100);
    const order = async (pageSize: number) => {
      const names: string[] = [];
      let pageToken = '';
      for (let i = 0; i < 10; i++) {
        const page = await svc().listRoutes(create(ListRoutesRequestSchema, { gatewayId: gw.id, pageSize, pageToken }), t.root);
        names.push(...(page.routes ?? []).map((x) => x.name ?? ''));
        pageToken = page.nextPageToken ?? '';
        if (!pageToken) break;
      }
      return names;
    };
    expect(await order(1)).toEqual(['first', 'a', 'b', 'last']);
    expect(await order(3)).toEqual(['first', 'a', 'b', 'last']);

    const moved = await svc().updateRoute(
      create(UpdateRouteRequestSchema, { route: { id: last.id, priority: -10, condition: 'ignored' }, updateMask: mask('priority') }),
      t.root,
    );
    expect(moved.route).toMatchObject({ priority: -10, condition: '' });
    expect(await order(0)).toEqual(['last', 'first', 'a', 'b']);

    const repooled = await svc().updateRoute(
      create(UpdateRouteRequestSchema, {
        route: { id: r.id, enabled: false, pool: { strategy: PoolStrategy.WEIGHTED, members: [member('anthropic', 'claude-sonnet', 7)] } },
        updateMask: mask('pool', 'enabled'),
      }),
      t.root,
    );
    expect(repooled.route?.enabled).toBe(false);
    expect(repooled.route?.pool?.members).toEqual([expect.objectContaining({ provider: 'anthropic', model: 'claude-sonnet', weight: 7 })]);
    expect(repooled.route?.fallbacks).toHaveLength(1);

    const byName = await svc().listRoutes(create(ListRoutesRequestSchema, { gatewayId: gw.id, name: 'a' }), t.root);
    expect(byName.routes?.map((x) => x.name)).toEqual(['a']);
    const gatewaysToken = (await svc().listGateways(create(ListGatewaysRequestSchema, { workspaceId: ws, pageSize: 1 }), t.root)).nextPageToken;
    expect(gatewaysToken).toBe('');
    const foreignToken = Buffer.from(JSON.stringify({ m: 'ListGateways', offset: 1 })).toString('base64url');
    const replayed = create(ListRoutesRequestSchema, { gatewayId: gw.id, pageToken: foreignToken });
    expect(await invalidFields(svc().listRoutes(replayed, t.root))).toEqual(['page_token']);

    expect((await rejection(route(gw.id, 'a'))).kind).toBe('already_exists');
    await svc().deleteRoute(create(DeleteRouteRequestSchema, { id: last.id }), t.root);
    expect((await rejection(svc().getRoute(create(GetRouteRequestSchema, { id: last.id }), t.root))).kind).toBe('not_found');
  });

  it('rejects invalid routes with exact field paths and writes nothing', async () => {
    const ws = await workspace('gw-routes-invalid');
    const elsewhere = await workspace('gw-routes-elsewhere');
    await provider(ws, 'openai', ['gpt-4o']);
    await provider(elsewhere, 'foreign', ['m']);
    const gw = await gateway(ws, 'main');
    const createRoute = (routeInit: MessageInitShape<typeof RouteSchema>) =>
      svc().createRoute(create(CreateRouteRequestSchema, { gatewayId: gw.id, route: routeInit }), t.root);

    const err = await rejection(
      createRoute({
        name: 'x y',
        priority: 1_000_001,
        condition: 'x'.repeat(4097),
        pool: {
          strategy: PoolStrategy.UNSPECIFIED,
          members: [member('nope', 'm'), member('openai', 'nope', 1001), member('', ''), member('foreign', 'm')],
          fallbackOn: [99 as FallbackTrigger, FallbackTrigger.TIMEOUT, FallbackTrigger.TIMEOUT],
          attemptTimeoutMs: 3_600_001,
        },
        fallbacks: [
          { strategy: PoolStrategy.PRIORITY, members: [member('openai', 'gpt-4o')] },
          { strategy: PoolStrategy.UNSPECIFIED, members: [] },
        ],
      }),
    );
    expect(err.kind).toBe('invalid_argument');
    expect(err.violations.map((v) => v.field)).toEqual([
      'route.name',
      'route.priority',
      'route.condition',
      'route.pool.strategy',
      'route.pool.members[0].provider',
      'route.pool.members[1].model',
      'route.pool.members[1].weight',
      'route.pool.members[2].provider',
      'route.pool.members[3].provider',
      'route.pool.fallback_on[0]',
      'route.pool.fallback_on[2]',
      'route.pool.attempt_timeout_ms',
      'route.fallbacks[1].strategy',
      'route.fallbacks[1].members',
    ]);
    expect(err.violations[4]).toMatchObject({ reason: 'UNKNOWN_REFERENCE', description: 'unknown provider "nope"' });
    expect(err.violations[5]).toMatchObject({ reason: 'UNKNOWN_REFERENCE', description: 'provider "openai" has no model "nope"' });

    expect(await invalidFields(createRoute({ name: 'no-pool' }))).toEqual(['route.pool']);
    const nine = Array.from({ length: 9 }, () => ({ strategy: PoolStrategy.PRIORITY, members: [member('openai', 'gpt-4o')] }));
    expect(await invalidFields(createRoute({ name: 'many', pool: nine[0], fallbacks: nine }))).toEqual(['route.fallbacks']);
    expect(await count(RouteEntity, ws)).toBe(0);

    const ok = await route(gw.id, 'ok');
    const emptyPool = create(UpdateRouteRequestSchema, { route: { id: ok.id, pool: { strategy: PoolStrategy.PRIORITY } }, updateMask: mask('pool') });
    expect(await invalidFields(svc().updateRoute(emptyPool, t.root))).toEqual(['route.pool.members']);
    expect((await svc().getRoute(create(GetRouteRequestSchema, { id: ok.id }), t.root)).route?.pool).toEqual(ok.pool);
  });

  it('type-checks CEL on save: INVALID_CEL at the exact field, with position and reason', async () => {
    const ws = await workspace('gw-cel');
    await provider(ws, 'openai', ['gpt-4o', 'gpt-4o-mini']);
    const violations = async (promise: Promise<unknown>) => (await rejection(promise)).violations.map((v) => [v.field, v.reason, v.description]);

    // Gateway: a model selector of the wrong type and an MCP rule naming a variable MCP calls do not have.
    expect(
      await violations(gateway(ws, 'bad', t.root, { modelSelector: 'request.model + 1', mcp: { authorization: 'tool.name != "deploy" && request.model == "m"' } })),
    ).toEqual([
      ['gateway.model_selector', 'INVALID_CEL', '1:15: no such overload: string + int'],
      ['gateway.mcp.authorization', 'INVALID_CEL', '1:26: Unknown variable: request'],
    ]);
    const gw = await gateway(ws, 'main', t.root, {
      modelSelector: 'request.headers["x-tier"] == "free" ? "openai/gpt-4o-mini" : request.model',
      mcp: { authorization: 'key.metadata["team"] == "platform" || tool.name != "deploy"' },
    });
    const selector = create(UpdateGatewayRequestSchema, { gateway: { id: gw.id, modelSelector: 'request.headers["x-tier"] == "free"' }, updateMask: mask('model_selector') });
    expect(await violations(svc().updateGateway(selector, t.root))).toEqual([['gateway.model_selector', 'INVALID_CEL', "1:1: must evaluate to a string, got 'bool'"]]);

    // Routes: syntax error, wrong type, unknown variable; a valid A/B condition; the same checks on update.
    const pool = { strategy: PoolStrategy.PRIORITY, members: [member('openai', 'gpt-4o')] };
    const createRoute = (name: string, condition: string) => svc().createRoute(create(CreateRouteRequestSchema, { gatewayId: gw.id, route: { name, condition, pool } }), t.root);
    expect(await violations(createRoute('syntax', 'request.model =='))).toEqual([['route.condition', 'INVALID_CEL', '1:17: Unexpected token: EOF']]);
    expect(await violations(createRoute('typed', 'key.metadata.team > 3'))).toEqual([['route.condition', 'INVALID_CEL', '1:19: no such overload: string > int']]);
    expect(await violations(createRoute('unknown', 'user.tier == "gold"'))).toEqual([['route.condition', 'INVALID_CEL', '1:1: Unknown variable: user']]);
    expect(await violations(createRoute('regex', 'request.path.matches("(a+)+$")'))).toEqual([
      ['route.condition', 'INVALID_CEL', '1:14: matches() may backtrack catastrophically; use re_matches(text, pattern) (RE2 syntax, linear time)'],
    ]);
    const ab = (await createRoute('ab', 'bucket(request.headers["x-user-id"], 100) < 20')).route!;
    expect(ab.condition).toBe('bucket(request.headers["x-user-id"], 100) < 20');
    const retyped = create(UpdateRouteRequestSchema, { route: { id: ab.id, condition: 'request.model' }, updateMask: mask('condition') });
    expect(await violations(svc().updateRoute(retyped, t.root))).toEqual([['route.condition', 'INVALID_CEL', "1:1: must evaluate to a bool, got 'string'"]]);
    expect(await count(RouteEntity, ws)).toBe(1);

    // Limit scopes: key expressions must yield a scalar.
    const rate = (expr: string) =>
      svc().createRateLimit(
        create(CreateRateLimitRequestSchema, {
          gatewayId: gw.id,
          rateLimit: { name: 'per-user', unit: RateLimitUnit.REQUESTS, limit: 10n, window: RateLimitWindow.MINUTE, scope: exprScope(expr) },
        }),
        t.root,
      );
    expect(await violations(rate('request.headers'))).toEqual([
      ['rate_limit.scope.expr', 'INVALID_CEL', "1:1: must evaluate to a string, int, uint, double or bool (a limit key), got 'map<string, string>'"],
    ]);
    expect(await violations(rate('request.headers["x-user-id"'))).toEqual([['rate_limit.scope.expr', 'INVALID_CEL', '1:28: Expected RBRACKET, got EOF']]);
    const perUser = (await rate('request.headers["x-user-id"]')).rateLimit!;
    const rescoped = create(UpdateRateLimitRequestSchema, { rateLimit: { id: perUser.id, scope: exprScope('workspace.id') }, updateMask: mask('scope') });
    expect(await violations(svc().updateRateLimit(rescoped, t.root))).toEqual([['rate_limit.scope.expr', 'INVALID_CEL', '1:11: No such key: id']]);

    const spend = (expr: string) =>
      svc().createSpendLimit(
        create(CreateSpendLimitRequestSchema, {
          workspaceId: ws,
          spendLimit: { name: 'per-team', amountMicros: 1n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, scope: exprScope(expr) },
        }),
        t.root,
      );
    expect(await violations(spend('key.metadata["team"] + 1'))).toEqual([['spend_limit.scope.expr', 'INVALID_CEL', '1:22: no such overload: string + int']]);
    expect((await spend('key.metadata["team"] + ":" + request.model')).spendLimit?.scope?.kind).toEqual({ case: 'expr', value: 'key.metadata["team"] + ":" + request.model' });
  });

  it('caps a gateway at 256 routes', async () => {
    const ws = await workspace('gw-route-cap');
    await provider(ws, 'openai', ['gpt-4o']);
    const gw = await gateway(ws, 'full');
    const em = t.orm.em.fork();
    const pool = { strategy: 'priority', members: [{ provider: 'openai', model: 'gpt-4o', weight: 1 }], fallbackOn: [], attemptTimeoutMs: 0 };
    for (let i = 0; i < 256; i++) em.create(RouteEntity, { id: newId('route'), workspaceId: ws, gatewayId: gw.id, name: `r${i}`, pool, fallbacks: [] });
    await em.flush();
    expect((await rejection(route(gw.id, 'one-more'))).kind).toBe('failed_precondition');
    const all = await svc().listRoutes(create(ListRoutesRequestSchema, { gatewayId: gw.id, pageSize: 1000 }), t.root);
    expect(all.routes).toHaveLength(256);
    expect(all.nextPageToken).toBe('');
  });

  it('manages rate limits with bigint values and a default store-failure mode', async () => {
    const ws = await workspace('gw-rate');
    const gw = await gateway(ws, 'main');
    const perKey = (
      await svc().createRateLimit(
        create(CreateRateLimitRequestSchema, {
          gatewayId: gw.id,
          rateLimit: {
            name: 'per-key',
            unit: RateLimitUnit.TOKENS,
            limit: 1_000_000_000_000n,
            window: RateLimitWindow.MINUTE,
            burst: 5n,
            scope: scopeOf('key'),
          },
        }),
        t.root,
      )
    ).rateLimit!;
    expect(perKey).toMatchObject({ limit: 1_000_000_000_000n, burst: 5n, onStoreFailure: StoreFailureMode.FAIL_OPEN, gatewayId: gw.id });
    expect(perKey.id).toMatch(/^rl_/);
    const expr = 'request.headers["x-user-id"]';
    await svc().createRateLimit(
      create(CreateRateLimitRequestSchema, {
        gatewayId: gw.id,
        rateLimit: {
          name: 'per-user',
          unit: RateLimitUnit.REQUESTS,
          limit: 10n,
          window: RateLimitWindow.SECOND,
          scope: exprScope(expr),
          onStoreFailure: StoreFailureMode.FAIL_CLOSED,
        },
      }),
      t.root,
    );
    const em = t.orm.em.fork();
    expect(await em.findOneOrFail(RateLimitEntity, { id: perKey.id })).toMatchObject({
      unit: 'tokens',
      limit: 1_000_000_000_000n,
      window: 'minute',
      burst: 5n,
      scope: { kind: 'key' },
      onStoreFailure: 'fail_open',
    });
    expect((await em.findOneOrFail(RateLimitEntity, { gatewayId: gw.id, name: 'per-user' })).scope).toEqual({ kind: 'expr', expr });

    const got = (await svc().getRateLimit(create(GetRateLimitRequestSchema, { id: perKey.id }), t.root)).rateLimit;
    expect(got).toEqual(perKey);
    const first = await svc().listRateLimits(create(ListRateLimitsRequestSchema, { gatewayId: gw.id, pageSize: 1 }), t.root);
    const next = create(ListRateLimitsRequestSchema, { gatewayId: gw.id, pageSize: 1, pageToken: first.nextPageToken ?? '' });
    const second = await svc().listRateLimits(next, t.root);
    expect([...first.rateLimits!, ...second.rateLimits!].map((l) => l.name).sort()).toEqual(['per-key', 'per-user']);
    expect(second.nextPageToken).toBe('');

    const updated = await svc().updateRateLimit(
      create(UpdateRateLimitRequestSchema, {
        rateLimit: { id: perKey.id, limit: 10n, unit: RateLimitUnit.REQUESTS, scope: scopeOf('gateway') },
        updateMask: mask('limit', 'scope'),
      }),
      t.root,
    );
    expect(updated.rateLimit).toMatchObject({ limit: 10n, unit: RateLimitUnit.TOKENS, burst: 5n });
    expect(updated.rateLimit?.scope?.kind).toEqual({ case: 'gateway', value: true });

    const dup = svc().createRateLimit(
      create(CreateRateLimitRequestSchema, {
        gatewayId: gw.id,
        rateLimit: { name: 'per-key', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.DAY, scope: scopeOf('key') },
      }),
      t.root,
    );
    expect((await rejection(dup)).kind).toBe('already_exists');
    await svc().deleteRateLimit(create(DeleteRateLimitRequestSchema, { id: perKey.id }), t.root);
    expect((await rejection(svc().getRateLimit(create(GetRateLimitRequestSchema, { id: perKey.id }), t.root))).kind).toBe('not_found');
  });

  it('rejects invalid rate limits with exact field paths and writes nothing', async () => {
    const ws = await workspace('gw-rate-invalid');
    const gw = await gateway(ws, 'main');
    const valid = { name: 'ok', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.MINUTE, scope: scopeOf('key') };
    const attempt = (overrides: Record<string, unknown>) =>
      svc().createRateLimit(create(CreateRateLimitRequestSchema, { gatewayId: gw.id, rateLimit: { ...valid, ...overrides } }), t.root);
    expect(
      await invalidFields(
        attempt({
          name: '',
          unit: RateLimitUnit.UNSPECIFIED,
          limit: 0n,
          window: 99,
          burst: -1n,
          scope: scopeOf('workspace'),
          onStoreFailure: 99,
        }),
      ),
    ).toEqual([
      'rate_limit.name',
      'rate_limit.unit',
      'rate_limit.limit',
      'rate_limit.window',
      'rate_limit.burst',
      'rate_limit.scope',
      'rate_limit.on_store_failure',
    ]);
    expect(await invalidFields(attempt({ scope: undefined }))).toEqual(['rate_limit.scope']);
    expect(await invalidFields(attempt({ scope: exprScope(' ') }))).toEqual(['rate_limit.scope.expr']);
    expect(await invalidFields(attempt({ scope: exprScope('x'.repeat(1025)) }))).toEqual(['rate_limit.scope.expr']);
    expect(await invalidFields(attempt({ limit: 1_000_000_000_001n, burst: 1_000_000_000_001n }))).toEqual(['rate_limit.limit', 'rate_limit.burst']);
    expect(await count(RateLimitEntity, ws)).toBe(0);
  });

  it('manages workspace and gateway spend limits', async () => {
    const ws = await workspace('gw-spend');
    const gw = await gateway(ws, 'main');
    const make = (name: string, gatewayId: string, scope: 'workspace' | 'gateway' | 'key', warnAt = 0) =>
      svc().createSpendLimit(
        create(CreateSpendLimitRequestSchema, {
          workspaceId: ws,
          spendLimit: {
            name,
            gatewayId,
            amountMicros: 500_000_000n,
            period: SpendPeriod.MONTHLY,
            enforcement: SpendEnforcement.ALERT,
            warnAt,
            scope: scopeOf(scope),
          },
        }),
        t.root,
      );
    const monthly = (await make('monthly', '', 'workspace', 0.8)).spendLimit!;
    expect(monthly).toMatchObject({ workspaceId: ws, gatewayId: '', amountMicros: 500_000_000n, onStoreFailure: StoreFailureMode.FAIL_OPEN });
    expect(monthly.id).toMatch(/^sl_/);
    expect((await svc().getSpendLimit(create(GetSpendLimitRequestSchema, { id: monthly.id }), t.root)).spendLimit).toEqual(monthly);
    expect((await t.orm.em.fork().findOneOrFail(SpendLimitEntity, { id: monthly.id })).scope).toEqual({ kind: 'workspace' });
    // The same name may be used once among workspace budgets and once per gateway.
    await make('monthly', gw.id, 'gateway');
    await make('per-key', gw.id, 'key');
    expect((await rejection(make('monthly', '', 'key'))).kind).toBe('already_exists');

    const seen: string[] = [];
    let pageToken = '';
    for (let i = 0; i < 10; i++) {
      const page = await svc().listSpendLimits(create(ListSpendLimitsRequestSchema, { workspaceId: ws, pageSize: 1, pageToken }), t.root);
      seen.push(...page.spendLimits!.map((s) => `${s.gatewayId ? 'gw' : 'ws'}:${s.name}`));
      pageToken = page.nextPageToken ?? '';
      if (!pageToken) break;
    }
    expect(seen.sort()).toEqual(['gw:monthly', 'gw:per-key', 'ws:monthly']);
    const ofGateway = await svc().listSpendLimits(create(ListSpendLimitsRequestSchema, { workspaceId: ws, gatewayId: gw.id }), t.root);
    expect(ofGateway.spendLimits?.map((s) => s.name).sort()).toEqual(['monthly', 'per-key']);

    const updated = await svc().updateSpendLimit(
      create(UpdateSpendLimitRequestSchema, {
        spendLimit: { id: monthly.id, amountMicros: 7n, warnAt: 0.5, period: SpendPeriod.DAILY },
        updateMask: mask('amount_micros', 'warn_at'),
      }),
      t.root,
    );
    expect(updated.spendLimit).toMatchObject({ amountMicros: 7n, warnAt: 0.5, period: SpendPeriod.MONTHLY });
    const rescope = create(UpdateSpendLimitRequestSchema, { spendLimit: { id: monthly.id, scope: scopeOf('gateway') }, updateMask: mask('scope') });
    expect(await invalidFields(svc().updateSpendLimit(rescope, t.root))).toEqual(['spend_limit.scope']);

    await svc().deleteSpendLimit(create(DeleteSpendLimitRequestSchema, { id: monthly.id }), t.root);
    expect((await rejection(svc().getSpendLimit(create(GetSpendLimitRequestSchema, { id: monthly.id }), t.root))).kind).toBe('not_found');
  });

  it('rejects invalid spend limits with exact field paths and writes nothing', async () => {
    const ws = await workspace('gw-spend-invalid');
    const elsewhere = await workspace('gw-spend-elsewhere');
    const gw = await gateway(ws, 'main');
    const foreign = await gateway(elsewhere, 'main');
    const attempt = (overrides: Record<string, unknown>) =>
      svc().createSpendLimit(
        create(CreateSpendLimitRequestSchema, {
          workspaceId: ws,
          spendLimit: {
            name: 'ok',
            amountMicros: 1n,
            period: SpendPeriod.WEEKLY,
            enforcement: SpendEnforcement.BLOCK,
            scope: scopeOf('workspace'),
            ...overrides,
          },
        }),
        t.root,
      );
    const bad = { name: 'Bad', amountMicros: 0n, period: SpendPeriod.UNSPECIFIED, enforcement: SpendEnforcement.UNSPECIFIED, warnAt: 1, onStoreFailure: 7 };
    expect(await invalidFields(attempt(bad))).toEqual([
      'spend_limit.name',
      'spend_limit.amount_micros',
      'spend_limit.period',
      'spend_limit.enforcement',
      'spend_limit.warn_at',
      'spend_limit.on_store_failure',
    ]);
    const tooMuch = attempt({ amountMicros: 1_000_000_000_000_001n, warnAt: -0.1 });
    expect(await invalidFields(tooMuch)).toEqual(['spend_limit.amount_micros', 'spend_limit.warn_at']);
    expect(await invalidFields(attempt({ warnAt: Number.NaN }))).toEqual(['spend_limit.warn_at']);
    expect(await invalidFields(attempt({ scope: scopeOf('gateway') }))).toEqual(['spend_limit.scope']);
    expect(await invalidFields(attempt({ gatewayId: gw.id }))).toEqual(['spend_limit.scope']);
    expect(await invalidFields(attempt({ scope: undefined }))).toEqual(['spend_limit.scope']);
    const unknown = await rejection(attempt({ gatewayId: foreign.id, scope: scopeOf('gateway') }));
    expect(unknown.violations).toEqual([expect.objectContaining({ field: 'spend_limit.gateway_id', reason: 'UNKNOWN_REFERENCE' })]);
    expect(await count(SpendLimitEntity, ws)).toBe(0);
  });

  it('keeps each workspace token inside its workspace', async () => {
    const a = await workspace('gw-tenant-a');
    const b = await workspace('gw-tenant-b');
    await provider(a, 'openai', ['gpt-4o']);
    const asA = workspaceCall(a);
    const asB = workspaceCall(b);
    // A workspace token may omit workspace_id: it defaults to its own.
    const gwA = create(GatewaySchema, (await svc().createGateway(create(CreateGatewayRequestSchema, { gateway: { name: 'a-main' } }), asA)).gateway);
    expect(gwA.workspaceId).toBe(a);
    await gateway(b, 'b-main', asB);
    const routeA = await route(gwA.id, 'r');
    const rlA = (
      await svc().createRateLimit(
        create(CreateRateLimitRequestSchema, {
          gatewayId: gwA.id,
          rateLimit: { name: 'rl', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.DAY, scope: scopeOf('key') },
        }),
        asA,
      )
    ).rateLimit!;
    const slA = (
      await svc().createSpendLimit(
        create(CreateSpendLimitRequestSchema, {
          spendLimit: { name: 'sl', amountMicros: 1n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, scope: scopeOf('key') },
        }),
        asA,
      )
    ).spendLimit!;

    const kind = async (p: Promise<unknown>) => (await rejection(p)).kind;
    expect(await kind(svc().getGateway(create(GetGatewayRequestSchema, { id: gwA.id }), asB))).toBe('not_found');
    const describeA = create(UpdateGatewayRequestSchema, { gateway: { id: gwA.id }, updateMask: mask('description') });
    expect(await kind(svc().updateGateway(describeA, asB))).toBe('not_found');
    expect(await kind(svc().deleteGateway(create(DeleteGatewayRequestSchema, { id: gwA.id, force: true }), asB))).toBe('not_found');
    expect(await kind(svc().createRoute(create(CreateRouteRequestSchema, { gatewayId: gwA.id, route: { name: 'x' } }), asB))).toBe('not_found');
    expect(await kind(svc().listRoutes(create(ListRoutesRequestSchema, { gatewayId: gwA.id }), asB))).toBe('not_found');
    expect(await kind(svc().getRoute(create(GetRouteRequestSchema, { id: routeA.id }), asB))).toBe('not_found');
    expect(await kind(svc().deleteRoute(create(DeleteRouteRequestSchema, { id: routeA.id }), asB))).toBe('not_found');
    expect(await kind(svc().listRateLimits(create(ListRateLimitsRequestSchema, { gatewayId: gwA.id }), asB))).toBe('not_found');
    expect(await kind(svc().getRateLimit(create(GetRateLimitRequestSchema, { id: rlA.id }), asB))).toBe('not_found');
    const burstA = create(UpdateRateLimitRequestSchema, { rateLimit: { id: rlA.id }, updateMask: mask('burst') });
    expect(await kind(svc().updateRateLimit(burstA, asB))).toBe('not_found');
    expect(await kind(svc().getSpendLimit(create(GetSpendLimitRequestSchema, { id: slA.id }), asB))).toBe('not_found');
    expect(await kind(svc().deleteSpendLimit(create(DeleteSpendLimitRequestSchema, { id: slA.id }), asB))).toBe('not_found');
    expect(await kind(gateway(a, 'sneaky', asB))).toBe('permission_denied');
    expect(await kind(svc().listGateways(create(ListGatewaysRequestSchema, { workspaceId: a }), asB))).toBe('permission_denied');
    expect(await kind(svc().listSpendLimits(create(ListSpendLimitsRequestSchema, { workspaceId: a }), asB))).toBe('permission_denied');
    const listed = await svc().listGateways(create(ListGatewaysRequestSchema, {}), asB);
    expect(listed.gateways?.map((g) => g.name)).toEqual(['b-main']);
    expect((await svc().listSpendLimits(create(ListSpendLimitsRequestSchema, {}), asB)).spendLimits).toEqual([]);
    // B's provider list is empty, so A's provider is unknown in B even though it exists.
    const gwB = (await svc().listGateways(create(ListGatewaysRequestSchema, {}), asB)).gateways![0]!;
    const pool = { strategy: PoolStrategy.PRIORITY, members: [member('openai', 'gpt-4o')] };
    const err = await rejection(svc().createRoute(create(CreateRouteRequestSchema, { gatewayId: gwB.id, route: { name: 'r', pool } }), asB));
    expect(err.violations.map((v) => v.field)).toEqual(['route.pool.members[0].provider']);
    expect((await svc().getGateway(create(GetGatewayRequestSchema, { id: gwA.id }), asA)).gateway?.name).toBe('a-main');
  });

  it('exports the pool and scope validators for reuse without a database', () => {
    const known = new Map([['openai', new Set(['gpt-4o'])]]);
    const v = new Violations();
    validatePool(v, 'gateways[0].routes[1].pool', create(PoolSchema, { strategy: PoolStrategy.WEIGHTED, members: [member('openai', 'gpt-5')] }), known);
    validatePool(v, 'gateways[0].routes[2].pool', undefined, known);
    validateScope(v, 'limits[0].scope', create(LimitScopeSchema, { kind: { case: 'key', value: false } }), ['key']);
    validateScope(v, 'limits[1].scope', create(LimitScopeSchema, { kind: { case: 'expr', value: 'key.name' } }), ['expr']);
    validateScope(v, 'limits[2].scope', create(LimitScopeSchema, { kind: { case: 'expr', value: 'key.nope' } }), ['expr']);
    expect(v.list.map((x) => x.field)).toEqual([
      'gateways[0].routes[1].pool.members[0].model',
      'gateways[0].routes[2].pool',
      'limits[0].scope.key',
      'limits[2].scope.expr',
    ]);
    expect(v.list[3]).toEqual({ field: 'limits[2].scope.expr', description: '1:5: No such key: nope', reason: 'INVALID_CEL' });
  });
});

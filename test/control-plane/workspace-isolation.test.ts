/**
 * A workspace token can neither read nor change another workspace's
 * resources: every method of every service, on Connect and on tRPC, against
 * a real server. Resources addressed by id answer `not_found` (their
 * existence is not revealed); requests naming the other workspace answer
 * `permission_denied`. Afterwards the other workspace is unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DescService } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { bearerAuth, createSluiceClient, type SluiceClient } from '@sluice/client';
import { ApiKeyService } from '@sluice/client/gen/api_key';
import { GatewayService, PoolStrategy, RateLimitUnit, RateLimitWindow, SpendEnforcement, SpendPeriod } from '@sluice/client/gen/gateway';
import { LogService } from '@sluice/client/gen/log';
import { McpServerService, McpTransport } from '@sluice/client/gen/mcp_server';
import { MetricsService } from '@sluice/client/gen/metrics';
import { ProviderService, ProviderType } from '@sluice/client/gen/provider';
import { WorkspaceService } from '@sluice/client/gen/workspace';
import { sluiceErrorData } from '@sluice/trpc-client';
import { allRpcNames, configSnapshot, connectError, trpcError } from '../helpers/rpc.js';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

interface Seeded {
  workspaceId: string;
  providerId: string;
  credentialId: string;
  modelId: string;
  gatewayId: string;
  routeId: string;
  rateLimitId: string;
  spendLimitId: string;
  apiKeyId: string;
  mcpServerId: string;
  tokenId: string;
  tokenSecret: string;
}

/** One workspace with one of everything. */
async function seed(client: SluiceClient, name: string): Promise<Seeded> {
  const ws = (await client.workspaces.createWorkspace({ workspace: { name } })).workspace!;
  const provider = (
    await client.providers.createProvider({
      workspaceId: ws.id,
      provider: { name: 'main', type: ProviderType.OPENAI_COMPATIBLE, baseUrl: 'http://127.0.0.1:9/v1', enabled: true },
      credentials: [{ source: { case: 'value', value: `secret-value-of-${name}` } }],
    })
  ).provider!;
  const model = (await client.providers.createModel({ providerId: provider.id, model: { name: 'llama-3', enabled: true } })).model!;
  const gateway = (await client.gateways.createGateway({ workspaceId: ws.id, gateway: { name: 'prod' } })).gateway!;
  const route = (
    await client.gateways.createRoute({
      gatewayId: gateway.id,
      route: { name: 'default', condition: 'true', enabled: true, pool: { strategy: PoolStrategy.PRIORITY, members: [{ provider: 'main', model: 'llama-3' }] } },
    })
  ).route!;
  const rateLimit = (
    await client.gateways.createRateLimit({
      gatewayId: gateway.id,
      rateLimit: { name: 'rpm', unit: RateLimitUnit.REQUESTS, limit: 100n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'key', value: true } } },
    })
  ).rateLimit!;
  const spendLimit = (
    await client.gateways.createSpendLimit({
      workspaceId: ws.id,
      spendLimit: {
        name: 'monthly',
        gatewayId: gateway.id,
        amountMicros: 500_000_000n,
        period: SpendPeriod.MONTHLY,
        enforcement: SpendEnforcement.BLOCK,
        scope: { kind: { case: 'gateway', value: true } },
      },
    })
  ).spendLimit!;
  const apiKey = (await client.apiKeys.createApiKey({ workspaceId: ws.id, apiKey: { name: 'app', gateways: ['prod'] } })).apiKey!;
  const mcp = (
    await client.mcpServers.createMcpServer({
      gatewayId: gateway.id,
      mcpServer: { name: 'tools', transport: McpTransport.STREAMABLE_HTTP, url: 'http://127.0.0.1:9/mcp', enabled: true },
    })
  ).mcpServer!;
  const token = await client.workspaces.createWorkspaceToken({ workspaceId: ws.id, name: 'admin' });
  return {
    workspaceId: ws.id,
    providerId: provider.id,
    credentialId: provider.credentials[0]!.id,
    modelId: model.id,
    gatewayId: gateway.id,
    routeId: route.id,
    rateLimitId: rateLimit.id,
    spendLimitId: spendLimit.id,
    apiKeyId: apiKey.id,
    mcpServerId: mcp.id,
    tokenId: token.token!.id,
    tokenSecret: token.secret,
  };
}

type Expect = 'not_found' | 'permission_denied';
interface Case {
  service: DescService;
  method: string;
  request: Record<string, unknown>;
  expect: Expect;
}

const mask = (...paths: string[]) => ({ paths });

/** Every RPC, aimed at workspace B. */
function cases(b: Seeded): Case[] {
  const nf = (service: DescService, method: string, request: Record<string, unknown>): Case => ({ service, method, request, expect: 'not_found' });
  const pd = (service: DescService, method: string, request: Record<string, unknown>): Case => ({ service, method, request, expect: 'permission_denied' });
  return [
    pd(WorkspaceService, 'createWorkspace', { workspace: { name: 'intruder' } }),
    nf(WorkspaceService, 'getWorkspace', { id: b.workspaceId }),
    nf(WorkspaceService, 'updateWorkspace', { workspace: { id: b.workspaceId, description: 'x' }, updateMask: mask('description') }),
    pd(WorkspaceService, 'deleteWorkspace', { id: b.workspaceId, force: true }),
    pd(WorkspaceService, 'createWorkspaceToken', { workspaceId: b.workspaceId, name: 'x' }),
    pd(WorkspaceService, 'listWorkspaceTokens', { workspaceId: b.workspaceId }),
    nf(WorkspaceService, 'revokeWorkspaceToken', { id: b.tokenId }),

    pd(ProviderService, 'createProvider', { workspaceId: b.workspaceId, provider: { name: 'x', type: ProviderType.OPENAI } }),
    nf(ProviderService, 'getProvider', { id: b.providerId }),
    pd(ProviderService, 'listProviders', { workspaceId: b.workspaceId }),
    nf(ProviderService, 'updateProvider', { provider: { id: b.providerId, enabled: false }, updateMask: mask('enabled') }),
    nf(ProviderService, 'deleteProvider', { id: b.providerId }),
    nf(ProviderService, 'createProviderCredential', { providerId: b.providerId, name: 'x', source: { source: { case: 'envVar', value: 'X_KEY' } } }),
    nf(ProviderService, 'getProviderCredential', { id: b.credentialId }),
    nf(ProviderService, 'listProviderCredentials', { providerId: b.providerId }),
    nf(ProviderService, 'updateProviderCredential', { id: b.credentialId, enabled: false, updateMask: mask('enabled') }),
    nf(ProviderService, 'deleteProviderCredential', { id: b.credentialId }),
    nf(ProviderService, 'createModel', { providerId: b.providerId, model: { name: 'x' } }),
    nf(ProviderService, 'getModel', { id: b.modelId }),
    pd(ProviderService, 'listModels', { workspaceId: b.workspaceId }),
    nf(ProviderService, 'updateModel', { model: { id: b.modelId, enabled: false }, updateMask: mask('enabled') }),
    nf(ProviderService, 'deleteModel', { id: b.modelId }),

    pd(GatewayService, 'createGateway', { workspaceId: b.workspaceId, gateway: { name: 'x' } }),
    nf(GatewayService, 'getGateway', { id: b.gatewayId }),
    pd(GatewayService, 'listGateways', { workspaceId: b.workspaceId }),
    nf(GatewayService, 'updateGateway', { gateway: { id: b.gatewayId, description: 'x' }, updateMask: mask('description') }),
    nf(GatewayService, 'deleteGateway', { id: b.gatewayId, force: true }),
    nf(GatewayService, 'createRoute', { gatewayId: b.gatewayId, route: { name: 'x', pool: { strategy: PoolStrategy.PRIORITY, members: [{ provider: 'main', model: 'llama-3' }] } } }),
    nf(GatewayService, 'getRoute', { id: b.routeId }),
    nf(GatewayService, 'listRoutes', { gatewayId: b.gatewayId }),
    nf(GatewayService, 'updateRoute', { route: { id: b.routeId, enabled: false }, updateMask: mask('enabled') }),
    nf(GatewayService, 'deleteRoute', { id: b.routeId }),
    nf(GatewayService, 'createRateLimit', { gatewayId: b.gatewayId, rateLimit: { name: 'x', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.SECOND, scope: { kind: { case: 'gateway', value: true } } } }),
    nf(GatewayService, 'getRateLimit', { id: b.rateLimitId }),
    nf(GatewayService, 'listRateLimits', { gatewayId: b.gatewayId }),
    nf(GatewayService, 'updateRateLimit', { rateLimit: { id: b.rateLimitId, limit: 5n }, updateMask: mask('limit') }),
    nf(GatewayService, 'deleteRateLimit', { id: b.rateLimitId }),
    pd(GatewayService, 'createSpendLimit', { workspaceId: b.workspaceId, spendLimit: { name: 'x', amountMicros: 1n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, scope: { kind: { case: 'workspace', value: true } } } }),
    nf(GatewayService, 'getSpendLimit', { id: b.spendLimitId }),
    nf(GatewayService, 'getGatewayUsage', { gatewayId: b.gatewayId }),
    pd(GatewayService, 'listSpendLimits', { workspaceId: b.workspaceId }),
    nf(GatewayService, 'updateSpendLimit', { spendLimit: { id: b.spendLimitId, amountMicros: 5n }, updateMask: mask('amount_micros') }),
    nf(GatewayService, 'deleteSpendLimit', { id: b.spendLimitId }),

    pd(ApiKeyService, 'createApiKey', { workspaceId: b.workspaceId, apiKey: { name: 'x' } }),
    nf(ApiKeyService, 'getApiKey', { id: b.apiKeyId }),
    pd(ApiKeyService, 'listApiKeys', { workspaceId: b.workspaceId }),
    nf(ApiKeyService, 'updateApiKey', { apiKey: { id: b.apiKeyId, metadata: { a: 'b' } }, updateMask: mask('metadata') }),
    nf(ApiKeyService, 'revokeApiKey', { id: b.apiKeyId }),
    nf(ApiKeyService, 'deleteApiKey', { id: b.apiKeyId }),
    nf(ApiKeyService, 'getApiKeyUsage', { id: b.apiKeyId }),

    nf(McpServerService, 'createMcpServer', { gatewayId: b.gatewayId, mcpServer: { name: 'x', transport: McpTransport.STREAMABLE_HTTP, url: 'http://127.0.0.1:9/' } }),
    nf(McpServerService, 'getMcpServer', { id: b.mcpServerId }),
    pd(McpServerService, 'listMcpServers', { workspaceId: b.workspaceId }),
    nf(McpServerService, 'listMcpServers', { gatewayId: b.gatewayId }),
    nf(McpServerService, 'updateMcpServer', { mcpServer: { id: b.mcpServerId, approved: true }, updateMask: mask('approved') }),
    nf(McpServerService, 'deleteMcpServer', { id: b.mcpServerId }),
    nf(McpServerService, 'listMcpServerTools', { id: b.mcpServerId }),

    pd(LogService, 'listRequestLogs', { workspaceId: b.workspaceId }),
    pd(LogService, 'listMcpCallLogs', { workspaceId: b.workspaceId }),
    pd(MetricsService, 'queryMetrics', { workspaceId: b.workspaceId }),
    pd(MetricsService, 'getSpendSummary', { workspaceId: b.workspaceId }),
  ];
}

const CONNECT_KIND: Record<Expect, Code> = { not_found: Code.NotFound, permission_denied: Code.PermissionDenied };
describe.each(DIALECTS)('workspace isolation on %s', (dialect) => {
  let s: RunningSluice;
  let a: Seeded;
  let b: Seeded;
  let root: SluiceClient;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    root = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    a = await seed(root, 'tenant-a');
    b = await seed(root, 'tenant-b');
  });
  afterAll(async () => s?.close());

  it('covers every RPC of every service', () => {
    const covered = new Set(cases(b).map((c) => `${c.service.typeName}.${c.method}`));
    // ListWorkspaces takes no workspace: the last test shows it lists only the token's own.
    // GetRequestLog addresses a log record by id; with no records yet it has nothing to leak.
    // CheckExpression and EvaluateExpression read no stored data at all.
    const elsewhere = [
      'sluice.v1.WorkspaceService.listWorkspaces',
      'sluice.v1.LogService.getRequestLog',
      'sluice.v1.GatewayService.checkExpression',
      'sluice.v1.GatewayService.evaluateExpression',
    ];
    const all = allRpcNames().filter((n) => !elsewhere.includes(n));
    expect(all.filter((n) => !covered.has(n))).toEqual([]);
  });

  it('refuses every cross-workspace call over Connect and tRPC and leaves the other workspace unchanged', async () => {
    const before = await configSnapshot(root, b);
    const transport = createConnectTransport({ baseUrl: s.baseUrl, interceptors: [bearerAuth(a.tokenSecret)] });
    const failures: string[] = [];
    for (const c of cases(b)) {
      const label = `${c.service.name}.${c.method}`;
      const connectErr = await connectError(transport, c.service, c.method, c.request);
      if (connectErr?.code !== CONNECT_KIND[c.expect]) failures.push(`connect ${label}: ${connectErr ? connectErr.message : 'succeeded'}`);

      const trpcErr = await trpcError(s.baseUrl, a.tokenSecret, c.service, c.method, c.request);
      if (sluiceErrorData(trpcErr)?.kind !== c.expect) failures.push(`trpc ${label}: ${trpcErr ? (trpcErr as Error).message : 'succeeded'}`);
    }
    expect(failures).toEqual([]);
    expect(await configSnapshot(root, b)).toEqual(before);
  });

  it('lets the token manage its own workspace and lists only it', async () => {
    const own = createSluiceClient({ baseUrl: s.baseUrl, token: a.tokenSecret });
    const { workspaces } = await own.workspaces.listWorkspaces({});
    expect(workspaces.map((w) => w.name)).toEqual(['tenant-a']);
    const { providers } = await own.providers.listProviders({});
    expect(providers.map((p) => p.id)).toEqual([a.providerId]);
    const updated = await own.gateways.updateGateway({ gateway: { id: a.gatewayId, description: 'mine' }, updateMask: { paths: ['description'] } });
    expect(updated.gateway?.description).toBe('mine');
  });
});

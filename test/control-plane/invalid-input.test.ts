/**
 * Bad input to every RPC gets an `invalid_argument` (tRPC `BAD_REQUEST`)
 * naming the offending field, the same on Connect and tRPC, and nothing is
 * written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DescService } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { bearerAuth, createSluiceClient, fieldViolations, type SluiceClient } from '@sluice/client';
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

interface Ids {
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
}

async function seed(client: SluiceClient): Promise<Ids> {
  const ws = (await client.workspaces.createWorkspace({ workspace: { name: 'valid' } })).workspace!;
  const provider = (
    await client.providers.createProvider({
      workspaceId: ws.id,
      provider: { name: 'p', type: ProviderType.OPENAI, enabled: true },
      credentials: [{ source: { case: 'envVar', value: 'OPENAI_API_KEY' } }],
    })
  ).provider!;
  const model = (await client.providers.createModel({ providerId: provider.id, model: { name: 'gpt-4o', enabled: true } })).model!;
  const gateway = (await client.gateways.createGateway({ workspaceId: ws.id, gateway: { name: 'g' } })).gateway!;
  const pool = { strategy: PoolStrategy.PRIORITY, members: [{ provider: 'p', model: 'gpt-4o' }] };
  const route = (await client.gateways.createRoute({ gatewayId: gateway.id, route: { name: 'r', pool, enabled: true } })).route!;
  const rateLimit = (
    await client.gateways.createRateLimit({
      gatewayId: gateway.id,
      rateLimit: { name: 'rl', unit: RateLimitUnit.REQUESTS, limit: 10n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'key', value: true } } },
    })
  ).rateLimit!;
  const spendLimit = (
    await client.gateways.createSpendLimit({
      workspaceId: ws.id,
      spendLimit: { name: 'sl', amountMicros: 1_000_000n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.ALERT, scope: { kind: { case: 'workspace', value: true } } },
    })
  ).spendLimit!;
  const apiKey = (await client.apiKeys.createApiKey({ workspaceId: ws.id, apiKey: { name: 'k' } })).apiKey!;
  const mcp = (await client.mcpServers.createMcpServer({ gatewayId: gateway.id, mcpServer: { name: 'm', transport: McpTransport.SSE, url: 'http://127.0.0.1:9/sse' } })).mcpServer!;
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
  };
}

interface Case {
  service: DescService;
  method: string;
  request: Record<string, unknown>;
  /** The field the error must name. */
  field: string;
}

const mask = (...paths: string[]) => ({ paths });

function cases(x: Ids): Case[] {
  const c = (service: DescService, method: string, request: Record<string, unknown>, field: string): Case => ({ service, method, request, field });
  return [
    c(WorkspaceService, 'createWorkspace', { workspace: { name: '-bad-' } }, 'workspace.name'),
    c(WorkspaceService, 'getWorkspace', { id: '' }, 'id'),
    c(WorkspaceService, 'listWorkspaces', { pageSize: -1 }, 'page_size'),
    c(WorkspaceService, 'updateWorkspace', { workspace: { id: x.workspaceId, name: 'renamed' }, updateMask: mask('name') }, 'update_mask'),
    c(WorkspaceService, 'deleteWorkspace', { id: '' }, 'id'),
    c(WorkspaceService, 'createWorkspaceToken', { workspaceId: x.workspaceId, name: '' }, 'name'),
    c(WorkspaceService, 'listWorkspaceTokens', { workspaceId: x.workspaceId, pageToken: 'garbage' }, 'page_token'),
    c(WorkspaceService, 'revokeWorkspaceToken', { id: '' }, 'id'),

    c(ProviderService, 'createProvider', { workspaceId: x.workspaceId, provider: { name: 'q', type: ProviderType.OPENAI, baseUrl: 'ftp://nope' } }, 'provider.base_url'),
    c(ProviderService, 'getProvider', { id: '' }, 'id'),
    c(ProviderService, 'listProviders', { workspaceId: x.workspaceId, pageSize: 5000 }, 'page_size'),
    c(ProviderService, 'updateProvider', { provider: { id: x.providerId, timeoutMs: -5 }, updateMask: mask('timeout_ms') }, 'provider.timeout_ms'),
    c(ProviderService, 'deleteProvider', { id: '' }, 'id'),
    c(ProviderService, 'createProviderCredential', { providerId: x.providerId, name: 'c', source: { source: { case: 'envVar', value: 'not valid' } } }, 'source.env_var'),
    c(ProviderService, 'getProviderCredential', { id: '' }, 'id'),
    c(ProviderService, 'listProviderCredentials', { providerId: x.providerId, pageSize: -2 }, 'page_size'),
    c(ProviderService, 'updateProviderCredential', { id: x.credentialId, updateMask: mask('kind') }, 'update_mask'),
    c(ProviderService, 'deleteProviderCredential', { id: '' }, 'id'),
    c(ProviderService, 'createModel', { providerId: x.providerId, model: { name: 'has space' } }, 'model.name'),
    c(ProviderService, 'getModel', { id: '' }, 'id'),
    c(ProviderService, 'listModels', { workspaceId: x.workspaceId, pageToken: 'garbage' }, 'page_token'),
    c(ProviderService, 'updateModel', { model: { id: x.modelId, price: { inputPerMtokMicros: -1n } }, updateMask: mask('price') }, 'model.price.input_per_mtok_micros'),
    c(ProviderService, 'deleteModel', { id: '' }, 'id'),

    c(GatewayService, 'createGateway', { workspaceId: x.workspaceId, gateway: { name: 'g2', models: ['p/unknown'] } }, 'gateway.models[0]'),
    c(GatewayService, 'getGateway', { id: '' }, 'id'),
    c(GatewayService, 'listGateways', { workspaceId: x.workspaceId, pageSize: -1 }, 'page_size'),
    c(GatewayService, 'updateGateway', { gateway: { id: x.gatewayId, tags: ['Bad Tag'] }, updateMask: mask('tags') }, 'gateway.tags[0]'),
    c(GatewayService, 'deleteGateway', { id: '' }, 'id'),
    c(GatewayService, 'createRoute', { gatewayId: x.gatewayId, route: { name: 'r2', pool: { strategy: PoolStrategy.PRIORITY, members: [{ provider: 'x', model: 'gpt-4o' }] } } }, 'route.pool.members[0].provider'),
    c(GatewayService, 'getRoute', { id: '' }, 'id'),
    c(GatewayService, 'listRoutes', { gatewayId: x.gatewayId, pageSize: -1 }, 'page_size'),
    c(GatewayService, 'updateRoute', { route: { id: x.routeId, pool: { members: [{ provider: 'p', model: 'gpt-4o' }] } }, updateMask: mask('pool') }, 'route.pool.strategy'),
    c(GatewayService, 'deleteRoute', { id: '' }, 'id'),
    c(GatewayService, 'createRateLimit', { gatewayId: x.gatewayId, rateLimit: { name: 'rl2', unit: RateLimitUnit.REQUESTS, limit: 0n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'key', value: true } } } }, 'rate_limit.limit'),
    c(GatewayService, 'getRateLimit', { id: '' }, 'id'),
    c(GatewayService, 'listRateLimits', { gatewayId: x.gatewayId, pageSize: -1 }, 'page_size'),
    c(GatewayService, 'updateRateLimit', { rateLimit: { id: x.rateLimitId, scope: {} }, updateMask: mask('scope') }, 'rate_limit.scope'),
    c(GatewayService, 'deleteRateLimit', { id: '' }, 'id'),
    c(GatewayService, 'createSpendLimit', { workspaceId: x.workspaceId, spendLimit: { name: 'sl2', amountMicros: 1n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.BLOCK, warnAt: 1.5, scope: { kind: { case: 'workspace', value: true } } } }, 'spend_limit.warn_at'),
    c(GatewayService, 'getSpendLimit', { id: '' }, 'id'),
    c(GatewayService, 'getGatewayUsage', { gatewayId: '' }, 'gateway_id'),
    c(GatewayService, 'listSpendLimits', { workspaceId: x.workspaceId, pageSize: -1 }, 'page_size'),
    c(GatewayService, 'updateSpendLimit', { spendLimit: { id: x.spendLimitId, amountMicros: 0n }, updateMask: mask('amount_micros') }, 'spend_limit.amount_micros'),
    c(GatewayService, 'deleteSpendLimit', { id: '' }, 'id'),
    c(GatewayService, 'checkExpression', { expression: 'true' }, 'kind'),
    c(GatewayService, 'evaluateExpression', { expression: 'true', kind: 1, context: { request: { headers: 'x' } } }, 'context.request.headers'),

    c(ApiKeyService, 'createApiKey', { workspaceId: x.workspaceId, apiKey: { name: 'k2', gateways: ['nope'] } }, 'api_key.gateways[0]'),
    c(ApiKeyService, 'getApiKey', { id: '' }, 'id'),
    c(ApiKeyService, 'listApiKeys', { workspaceId: x.workspaceId, pageSize: -1 }, 'page_size'),
    c(ApiKeyService, 'updateApiKey', { apiKey: { id: x.apiKeyId, defaultGateway: 'nope' }, updateMask: mask('default_gateway') }, 'api_key.default_gateway'),
    c(ApiKeyService, 'revokeApiKey', { id: '' }, 'id'),
    c(ApiKeyService, 'deleteApiKey', { id: '' }, 'id'),
    c(ApiKeyService, 'getApiKeyUsage', { id: '' }, 'id'),

    c(McpServerService, 'createMcpServer', { gatewayId: x.gatewayId, mcpServer: { name: 'm2', transport: McpTransport.STREAMABLE_HTTP } }, 'mcp_server.url'),
    c(McpServerService, 'getMcpServer', { id: '' }, 'id'),
    c(McpServerService, 'listMcpServers', { gatewayId: x.gatewayId, pageSize: -1 }, 'page_size'),
    c(McpServerService, 'updateMcpServer', { mcpServer: { id: x.mcpServerId, timeoutMs: -1 }, updateMask: mask('timeout_ms') }, 'mcp_server.timeout_ms'),
    c(McpServerService, 'deleteMcpServer', { id: '' }, 'id'),
    c(McpServerService, 'listMcpServerTools', { id: '' }, 'id'),

    c(LogService, 'listRequestLogs', {}, 'workspace_id'),
    c(LogService, 'getRequestLog', { id: '' }, 'id'),
    c(LogService, 'listMcpCallLogs', {}, 'workspace_id'),
    c(MetricsService, 'queryMetrics', {}, 'workspace_id'),
    c(MetricsService, 'getSpendSummary', {}, 'workspace_id'),
  ];
}

describe.each(DIALECTS)('invalid input on %s', (dialect) => {
  let s: RunningSluice;
  let x: Ids;
  let root: SluiceClient;
  beforeAll(async () => {
    s = await startTestServer(dialect);
    root = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    x = await seed(root);
  });
  afterAll(async () => s?.close());

  it('covers every RPC of every service', () => {
    const covered = new Set(cases(x).map((c) => `${c.service.typeName}.${c.method}`));
    const all = allRpcNames();
    expect(all.filter((n) => !covered.has(n))).toEqual([]);
  });

  it('names the field on Connect and tRPC alike and writes nothing', async () => {
    const before = await configSnapshot(root, x);
    const transport = createConnectTransport({ baseUrl: s.baseUrl, interceptors: [bearerAuth(s.rootToken)] });
    const failures: string[] = [];
    for (const c of cases(x)) {
      const label = `${c.service.name}.${c.method}`;
      const err = await connectError(transport, c.service, c.method, c.request);
      const fields = err ? fieldViolations(err).map((v) => v.field) : [];
      if (err?.code !== Code.InvalidArgument || !fields.includes(c.field)) {
        failures.push(`connect ${label}: expected invalid_argument on ${c.field}, got ${err ? `${Code[err.code]} ${JSON.stringify(fields)} ${err.rawMessage}` : 'success'}`);
        continue;
      }
      const terr = await trpcError(s.baseUrl, s.rootToken, c.service, c.method, c.request);
      const data = sluiceErrorData(terr);
      if ((terr as { data?: { code?: string } })?.data?.code !== 'BAD_REQUEST' || JSON.stringify(data?.fieldViolations.map((v) => v.field)) !== JSON.stringify(fields)) {
        failures.push(`trpc ${label}: ${JSON.stringify(data)}`);
      } else if ((terr as Error).message !== err.rawMessage) {
        failures.push(`trpc ${label}: message "${(terr as Error).message}" differs from Connect "${err.rawMessage}"`);
      }
    }
    expect(failures).toEqual([]);
    expect(await configSnapshot(root, x)).toEqual(before);
  });
});

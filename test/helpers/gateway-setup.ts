/**
 * Builds a workspace through the control API for data-plane tests: providers
 * with models, a gateway (optionally with routes) and an API key, then waits
 * until the running gateway's snapshot includes them.
 */
import { createSluiceClient, type SluiceClient } from '@sluice/client';
import { FallbackTrigger, PoolStrategy } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import type { RunningSluice } from './server.js';

export interface ProviderSetup {
  name: string;
  type: ProviderType;
  baseUrl?: string;
  models: string[];
  /** Literal credentials (rotated); default one fake key. */
  keys?: string[];
  azureApiVersion?: string;
  timeoutMs?: number;
  mock?: { latencyMs?: number; completionTokens?: number };
}

export interface RouteSetup {
  name: string;
  condition?: string;
  priority?: number;
  pool: { strategy?: PoolStrategy; members: { provider: string; model: string; weight?: number }[]; fallbackOn?: FallbackTrigger[]; attemptTimeoutMs?: number };
  fallbacks?: RouteSetup['pool'][];
}

export interface WorkspaceSetup {
  workspace: string;
  providers: ProviderSetup[];
  gateway?: { name?: string; models?: string[]; modelSelector?: string; routes?: RouteSetup[] };
}

export interface BuiltWorkspace {
  client: SluiceClient;
  workspaceId: string;
  gatewayId: string;
  gateway: string;
  apiKey: string;
  apiKeyId: string;
}

export async function buildWorkspace(s: RunningSluice, setup: WorkspaceSetup): Promise<BuiltWorkspace> {
  const client = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
  const ws = (await client.workspaces.createWorkspace({ workspace: { name: setup.workspace } })).workspace!;
  for (const p of setup.providers) {
    const provider = (
      await client.providers.createProvider({
        workspaceId: ws.id,
        provider: { name: p.name, type: p.type, baseUrl: p.baseUrl ?? '', azureApiVersion: p.azureApiVersion ?? '', timeoutMs: p.timeoutMs ?? 0, mock: p.mock },
        credentials: (p.type === ProviderType.MOCK ? [] : (p.keys ?? [`fake-key-${p.name}-0000`])).map((value) => ({ source: { case: 'value' as const, value } })),
      })
    ).provider!;
    for (const m of p.models) await client.providers.createModel({ providerId: provider.id, model: { name: m } });
  }
  const gatewayName = setup.gateway?.name ?? 'main';
  const gateway = (
    await client.gateways.createGateway({
      workspaceId: ws.id,
      gateway: { name: gatewayName, models: setup.gateway?.models ?? [], modelSelector: setup.gateway?.modelSelector ?? '' },
    })
  ).gateway!;
  for (const [i, r] of (setup.gateway?.routes ?? []).entries()) {
    const pool = (x: RouteSetup['pool']) => ({ strategy: x.strategy ?? PoolStrategy.PRIORITY, members: x.members, fallbackOn: x.fallbackOn ?? [], attemptTimeoutMs: x.attemptTimeoutMs ?? 0 });
    await client.gateways.createRoute({
      gatewayId: gateway.id,
      route: { name: r.name, priority: r.priority ?? i * 10, condition: r.condition ?? '', pool: pool(r.pool), fallbacks: (r.fallbacks ?? []).map(pool) },
    });
  }
  const key = await client.apiKeys.createApiKey({ workspaceId: ws.id, apiKey: { name: 'test', gateways: [gatewayName], defaultGateway: gatewayName } });
  await s.sluice.snapshots.refresh();
  return { client, workspaceId: ws.id, gatewayId: gateway.id, gateway: gatewayName, apiKey: key.secret, apiKeyId: key.apiKey!.id };
}

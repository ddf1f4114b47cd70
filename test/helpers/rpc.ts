/**
 * Calls any control-plane RPC by descriptor over Connect and over tRPC, for
 * the table-driven tests that cover every method of every service.
 */
import { create, toJson, type DescService } from '@bufbuild/protobuf';
import { ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { ApiKeyService } from '@sluice/client/gen/api_key';
import { GatewayService } from '@sluice/client/gen/gateway';
import { LogService } from '@sluice/client/gen/log';
import { McpServerService } from '@sluice/client/gen/mcp_server';
import { MetricsService } from '@sluice/client/gen/metrics';
import { ProviderService } from '@sluice/client/gen/provider';
import { WorkspaceService } from '@sluice/client/gen/workspace';
import type { SluiceClient } from '@sluice/client';
import { createSluiceTrpcClient } from '@sluice/trpc-client';
import { DOMAIN_NAMES } from '../../src/control/trpc/router.js';

/** Every control-plane service. */
export const ALL_SERVICES: DescService[] = [WorkspaceService, ProviderService, GatewayService, ApiKeyService, McpServerService, LogService, MetricsService];

/** `<service type>.<method>` for every RPC. */
export function allRpcNames(): string[] {
  return ALL_SERVICES.flatMap((svc) => svc.methods.map((m) => `${svc.typeName}.${m.localName}`));
}

/** Calls `method` over Connect; resolves to the error, or undefined on success. */
export async function connectError(transport: Transport, service: DescService, method: string, request: Record<string, unknown>): Promise<ConnectError | undefined> {
  const client = createClient(service, transport) as unknown as Record<string, (req: unknown) => Promise<unknown>>;
  return client[method]!(request).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
}

type TrpcProcedures = Record<string, Record<string, Record<string, (input: unknown) => Promise<unknown>>>>;

/** Calls the same RPC over tRPC with the JSON form of the request; resolves to the error, or undefined. */
export async function trpcError(baseUrl: string, token: string, service: DescService, method: string, request: Record<string, unknown>): Promise<unknown> {
  const trpc = createSluiceTrpcClient({ baseUrl, token }) as unknown as TrpcProcedures;
  const desc = service.methods.find((m) => m.localName === method)!;
  const input = toJson(desc.input, create(desc.input, request as never));
  const proc = trpc[DOMAIN_NAMES[service.typeName]!]![method]!;
  const call = /^(get|list|query)[A-Z]/.test(method) ? proc.query! : proc.mutate!;
  return call(input).then(
    () => undefined,
    (e: unknown) => e,
  );
}

/**
 * Everything a workspace holds (and the list of all workspaces), read as
 * root, as plain JSON: tests compare it before and after calls that must
 * write nothing.
 */
export async function configSnapshot(client: SluiceClient, ids: { workspaceId: string; providerId: string; gatewayId: string }): Promise<unknown> {
  const parts = await Promise.all([
    client.workspaces.listWorkspaces({}),
    client.workspaces.listWorkspaceTokens({ workspaceId: ids.workspaceId, showRevoked: true }),
    client.providers.listProviders({ workspaceId: ids.workspaceId }),
    client.providers.listProviderCredentials({ providerId: ids.providerId }),
    client.providers.listModels({ workspaceId: ids.workspaceId }),
    client.gateways.listGateways({ workspaceId: ids.workspaceId }),
    client.gateways.listRoutes({ gatewayId: ids.gatewayId }),
    client.gateways.listRateLimits({ gatewayId: ids.gatewayId }),
    client.gateways.listSpendLimits({ workspaceId: ids.workspaceId }),
    client.apiKeys.listApiKeys({ workspaceId: ids.workspaceId, showRevoked: true }),
    client.mcpServers.listMcpServers({ workspaceId: ids.workspaceId }),
  ]);
  return JSON.parse(JSON.stringify(parts, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

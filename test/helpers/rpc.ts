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

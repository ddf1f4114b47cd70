/**
 * The Sluice control-plane services as one typed client object. Shared by the
 * browser/Node entry (`index.ts`) and the Node-only gRPC entry (`node.ts`).
 */
import { createClient, type Client, type Interceptor, type Transport } from '@connectrpc/connect';
import { ApiKeyService } from './gen/sluice/v1/api_key_pb.js';
import { GatewayService } from './gen/sluice/v1/gateway_pb.js';
import { LogService } from './gen/sluice/v1/log_pb.js';
import { McpServerService } from './gen/sluice/v1/mcp_server_pb.js';
import { MetricsService } from './gen/sluice/v1/metrics_pb.js';
import { ProviderService } from './gen/sluice/v1/provider_pb.js';
import { WorkspaceService } from './gen/sluice/v1/workspace_pb.js';

/** One client per control-plane service, over one transport. */
export interface SluiceClient {
  workspaces: Client<typeof WorkspaceService>;
  providers: Client<typeof ProviderService>;
  gateways: Client<typeof GatewayService>;
  apiKeys: Client<typeof ApiKeyService>;
  mcpServers: Client<typeof McpServerService>;
  logs: Client<typeof LogService>;
  metrics: Client<typeof MetricsService>;
}

/** Builds the service clients over an existing transport. */
export function clientsFor(transport: Transport): SluiceClient {
  return {
    workspaces: createClient(WorkspaceService, transport),
    providers: createClient(ProviderService, transport),
    gateways: createClient(GatewayService, transport),
    apiKeys: createClient(ApiKeyService, transport),
    mcpServers: createClient(McpServerService, transport),
    logs: createClient(LogService, transport),
    metrics: createClient(MetricsService, transport),
  };
}

/** Adds `Authorization: Bearer <token>` to every call. */
export function bearerAuth(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
}

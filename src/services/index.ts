/**
 * Every control-plane service, bound to its Protobuf descriptor. Both
 * transports mount exactly this list.
 */
import { ApiKeyService } from '../gen/sluice/v1/api_key_pb.js';
import { GatewayService } from '../gen/sluice/v1/gateway_pb.js';
import { LogService } from '../gen/sluice/v1/log_pb.js';
import { McpServerService } from '../gen/sluice/v1/mcp_server_pb.js';
import { MetricsService } from '../gen/sluice/v1/metrics_pb.js';
import { ProviderService } from '../gen/sluice/v1/provider_pb.js';
import { WorkspaceService } from '../gen/sluice/v1/workspace_pb.js';
import { createApiKeyService } from './api-key-service.js';
import { createGatewayService } from './gateway-service.js';
import { createLogService } from './log-service.js';
import { createMetricsService } from './metrics-service.js';
import { createMcpServerService } from './mcp-server-service.js';
import { createProviderService } from './provider-service.js';
import { bind, type ServiceBinding } from './service-kit.js';
import type { ServiceDeps } from './store.js';
import { createWorkspaceService } from './workspace-service.js';

/** The services, in the order the tRPC router and docs list them. */
export function createServiceBindings(deps: ServiceDeps): ServiceBinding[] {
  return [
    bind(WorkspaceService, createWorkspaceService(deps)),
    bind(ProviderService, createProviderService(deps)),
    bind(GatewayService, createGatewayService(deps)),
    bind(ApiKeyService, createApiKeyService(deps)),
    bind(McpServerService, createMcpServerService(deps)),
    bind(LogService, createLogService(deps)),
    bind(MetricsService, createMetricsService(deps)),
  ];
}

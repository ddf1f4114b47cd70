/**
 * The demo workspace a fresh install offers when no provider is configured:
 * a clearly labelled workspace on the built-in `mock` provider, so a
 * newcomer can see the gateway answer without any upstream account.
 * It is created through the normal services (same validation as the API).
 */
import { create } from '@bufbuild/protobuf';
import { CreateApiKeyRequestSchema } from './gen/sluice/v1/api_key_pb.js';
import { CreateGatewayRequestSchema } from './gen/sluice/v1/gateway_pb.js';
import { CreateModelRequestSchema, CreateProviderRequestSchema, ProviderType } from './gen/sluice/v1/provider_pb.js';
import { CreateWorkspaceRequestSchema, ListWorkspacesRequestSchema } from './gen/sluice/v1/workspace_pb.js';
import { createApiKeyService } from './services/api-key-service.js';
import type { CallContext } from './services/context.js';
import { createGatewayService } from './services/gateway-service.js';
import { createProviderService } from './services/provider-service.js';
import type { ServiceDeps } from './services/store.js';
import { createWorkspaceService } from './services/workspace-service.js';

export const DEMO_WORKSPACE = 'demo';

const SYSTEM: CallContext = { principal: { kind: 'root', tokenId: 'system' } };

/**
 * Creates the demo workspace unless one named `demo` exists; returns the
 * lines to print (with the demo API key, shown once).
 */
export async function seedDemoWorkspace(deps: ServiceDeps): Promise<string[]> {
  const workspaces = createWorkspaceService(deps);
  const existing = await workspaces.listWorkspaces(create(ListWorkspacesRequestSchema, { name: DEMO_WORKSPACE }), SYSTEM);
  if (existing.workspaces?.length) return [];
  const { workspace } = await workspaces.createWorkspace(
    create(CreateWorkspaceRequestSchema, {
      workspace: {
        name: DEMO_WORKSPACE,
        displayName: 'Demo (mock provider, no real upstream)',
        description: 'Created because no provider was configured. Answers come from the built-in deterministic mock provider. Delete it once real providers are set up, or start with SLUICE_DEMO=off.',
      },
    }),
    SYSTEM,
  );
  const workspaceId = workspace!.id!;
  const providers = createProviderService(deps);
  const { provider } = await providers.createProvider(
    create(CreateProviderRequestSchema, { workspaceId, provider: { name: 'mock', type: ProviderType.MOCK, enabled: true, mock: { latencyMs: 20, completionTokens: 16 } } }),
    SYSTEM,
  );
  for (const name of ['mock-fast', 'mock-smart']) {
    await providers.createModel(create(CreateModelRequestSchema, { providerId: provider!.id!, model: { name, enabled: true } }), SYSTEM);
  }
  await createGatewayService(deps).createGateway(
    create(CreateGatewayRequestSchema, { workspaceId, gateway: { name: 'demo', description: 'Demo gateway over the mock provider' } }),
    SYSTEM,
  );
  const key = await createApiKeyService(deps).createApiKey(
    create(CreateApiKeyRequestSchema, { workspaceId, apiKey: { name: 'demo', gateways: ['demo'], defaultGateway: 'demo' } }),
    SYSTEM,
  );
  return [
    `demo: created workspace "demo" with the mock provider (models mock/mock-fast, mock/mock-smart) and gateway "demo"`,
    `demo: API key (shown once): ${key.secret}`,
  ];
}

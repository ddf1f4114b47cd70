import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createRouterTransport, type ConnectRouter } from '@connectrpc/connect';
import { clientsFor } from '@sluice/client';
import { ApiKeySchema, ApiKeyService } from '@sluice/client/gen/api_key';
import { GatewaySchema, GatewayService, SpendLimitSchema, SpendPeriod, SpendEnforcement, StoreFailureMode } from '@sluice/client/gen/gateway';
import { McpAuthMode, McpServerSchema, McpServerService, McpTransport, DeferLoading } from '@sluice/client/gen/mcp_server';
import { CredentialKind, ModelSchema, ProviderSchema, ProviderService, ProviderType } from '@sluice/client/gen/provider';
import { WorkspaceSchema, WorkspaceService } from '@sluice/client/gen/workspace';
import { describe, expect, it } from 'vitest';
import { applyPlan } from './apply.js';
import { formatPlan } from './format.js';
import { loadConfigText } from './load.js';
import { ConfigRpcError, planConfig } from './plan.js';
import { secretFingerprint, type SluiceConfig } from './schema.js';

const FILE = `
workspaces:
  - name: acme
    providers:
      - name: openai-main
        type: openai
        api_key: sk-new-0123456789
        api_key_env: OPENAI_API_KEY
        models: [{ name: gpt-4o, price: { input_per_mtok: 2.5 } }]
    gateways:
      - name: prod
        routes: [{ name: default, pool: { members: [{ provider: openai-main, model: gpt-4o }] } }]
        mcp_servers:
          - { id: gh, url: https://gh.example.com/mcp, auth: { static: tok } }
          - { id: st, url: https://st.example.com/mcp, auth: { static: tok } }
          - { id: ok, url: https://ok.example.com/mcp, auth: { static: tok } }
    spend_limits: [{ amount_usd: 2000, period: monthly }]
    api_keys: [{ name: ci, secret: sk-sluice-0123456789abcdefghijKLMNOP }]
`;

function config(): SluiceConfig {
  const { config, problems } = loadConfigText(FILE, {}, 'sluice.yaml');
  expect(problems).toEqual([]);
  if (!config) throw new Error('no config');
  return config;
}

const server = (name: string, authMode: McpAuthMode, hasAuthSecret: boolean) =>
  create(McpServerSchema, {
    id: `mcp_${name}`,
    name,
    transport: McpTransport.STREAMABLE_HTTP,
    url: `https://${name}.example.com/mcp`,
    enabled: true,
    approved: true,
    authMode,
    hasAuthSecret,
    deferLoading: DeferLoading.INHERIT,
  });

/** A server holding some of the file's resources, answering only the List RPCs. */
function cannedServer(router: ConnectRouter, failProviders = false): void {
  router.service(WorkspaceService, {
    listWorkspaces: (req) => ({ workspaces: req.name === 'acme' ? [create(WorkspaceSchema, { id: 'ws_1', name: 'acme' })] : [] }),
  });
  router.service(ProviderService, {
    listProviders: () => {
      if (failProviders) throw new ConnectError('database is down', Code.Unavailable);
      return {
        providers: [
          create(ProviderSchema, {
            id: 'prv_1',
            name: 'openai-main',
            type: ProviderType.OPENAI,
            enabled: true,
            credentials: [
              { id: 'cred_ops', name: 'ops-env', kind: CredentialKind.ENV_VAR, envVar: 'OPENAI_API_KEY' },
              { id: 'cred_old', name: 'file-aaaaaaaaaaaa', kind: CredentialKind.ENCRYPTED },
              { id: 'cred_unnamed', name: '', kind: CredentialKind.ENCRYPTED },
            ],
          }),
        ],
      };
    },
    listModels: () => ({ models: [create(ModelSchema, { id: 'mdl_1', providerId: 'prv_1', name: 'gpt-4o', enabled: true, price: { inputPerMtokMicros: 2_500_000n } })] }),
  });
  router.service(GatewayService, {
    listGateways: () => ({ gateways: [create(GatewaySchema, { id: 'gw_1', name: 'prod', mcp: {} })] }),
    listRoutes: () => ({ routes: [] }),
    listRateLimits: () => ({ rateLimits: [] }),
    listSpendLimits: () => ({
      spendLimits: [
        create(SpendLimitSchema, {
          id: 'sl_1',
          name: 'monthly-workspace',
          amountMicros: 1_000_000_000n,
          period: SpendPeriod.MONTHLY,
          enforcement: SpendEnforcement.BLOCK,
          scope: { kind: { case: 'workspace', value: true } },
          onStoreFailure: StoreFailureMode.FAIL_OPEN,
        }),
      ],
    }),
  });
  router.service(McpServerService, {
    listMcpServers: () => ({ mcpServers: [server('gh', McpAuthMode.NONE, false), server('st', McpAuthMode.STATIC, false), server('ok', McpAuthMode.STATIC, true)] }),
  });
  router.service(ApiKeyService, {
    listApiKeys: () => ({ apiKeys: [create(ApiKeySchema, { id: 'key_1', name: 'ci', revokeTime: { seconds: 1n } })] }),
  });
}

describe('planConfig', () => {
  it('diffs against the current state: credentials, write-only MCP secrets, budgets and revoked keys', async () => {
    const plan = await planConfig(config(), clientsFor(createRouterTransport((r) => cannedServer(r))));
    const newCredential = `file-${secretFingerprint('sk-new-0123456789')}`;
    expect(formatPlan(plan)).toBe(
      [
        '= workspace acme',
        '= provider acme/openai-main',
        '= model acme/openai-main/gpt-4o',
        `+ credential acme/openai-main/${newCredential}`,
        // The hand-made env credential is matched by its variable, whatever its name.
        '= credential acme/openai-main/ops-env',
        // Only credentials the file created are removed (after the new ones exist); the unnamed one stays.
        '- credential acme/openai-main/file-aaaaaaaaaaaa',
        '= gateway acme/prod',
        '+ route acme/prod/default',
        '~ spend limit acme/monthly-workspace (amount_micros)',
        '~ MCP server acme/prod/gh (auth_mode, auth_secret)',
        '~ MCP server acme/prod/st (auth_secret)',
        '= MCP server acme/prod/ok',
        '= API key acme/ci',
        '    secret not re-imported: the key exists and keeps its secret',
        '1 problem; this plan cannot be applied:',
        '  API key acme/ci: the key is revoked; delete it to create it again, or use another name',
        'Plan: 2 to create, 3 to update, 1 to delete, 7 unchanged.',
      ].join('\n'),
    );
  });

  it('names the list that failed and the server message', async () => {
    const failing = clientsFor(createRouterTransport((r) => cannedServer(r, true)));
    const err = await planConfig(config(), failing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigRpcError);
    expect(err).toMatchObject({ address: 'acme providers', code: 'unavailable', rawMessage: 'database is down', message: 'acme providers: database is down (unavailable)' });
  });
});

describe('applyPlan', () => {
  it('refuses a plan with problems without calling the server', async () => {
    const client = clientsFor(createRouterTransport((r) => cannedServer(r)));
    const plan = await planConfig(config(), client);
    // The canned server implements no write RPC: any attempted write would fail with `unimplemented`.
    const result = await applyPlan(plan, client);
    expect(result).toEqual({
      ok: false,
      applied: [],
      secrets: [],
      failure: { address: '', message: 'the plan has 1 problem; nothing was applied', code: 'failed_precondition' },
      skipped: 6,
    });
  });

  it('reports a failed write with the resource and stops there', async () => {
    const client = clientsFor(createRouterTransport((r) => cannedServer(r)));
    const plan = await planConfig(config(), client);
    const result = await applyPlan({ ...plan, problems: [] }, client);
    expect(result.ok).toBe(false);
    expect(result.applied).toEqual([]);
    expect(result.failure?.address).toBe(`acme/openai-main/file-${secretFingerprint('sk-new-0123456789')}`);
    expect(result.failure?.code).toBe('unimplemented');
    expect(result.failure?.message).toMatch(/^credential acme\/openai-main\/file-[0-9a-f]{12}: .*CreateProviderCredential.* \(unimplemented\)$/);
    expect(result.skipped).toBe(5);
  });
});

/**
 * Config as code end to end: examples/sluice.yaml loaded, planned and applied
 * through the generated Connect client over an in-memory transport, on every
 * storage dialect.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { createRouterTransport } from '@connectrpc/connect';
import { clientsFor, type SluiceClient } from '@sluice/client';
import { CredentialKind, ProviderType } from '@sluice/client/gen/provider';
import { McpAuthMode, McpTransport } from '@sluice/client/gen/mcp_server';
import { PoolStrategy, RateLimitWindow, SpendEnforcement } from '@sluice/client/gen/gateway';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan, formatPlan, formatResult, loadConfigText, planConfig, type SluiceConfig } from '../../src/config-file/index.js';
import { secretFingerprint } from '../../src/config-file/schema.js';
import { registerConnectServices } from '../../src/control/connect/connect-routes.js';
import { publicPrefix } from '../../src/security/tokens.js';
import { createServiceBindings } from '../../src/services/index.js';
import { configVersion } from '../../src/services/store.js';
import { createTestDeps, DIALECTS, type TestDeps } from '../helpers/database.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/sluice.yaml', import.meta.url));

const ENV: NodeJS.ProcessEnv = {
  OPENAI_API_KEY: 'sk-openai-test-0123456789abcdef',
  ANTHROPIC_API_KEY_1: 'sk-ant-test-one-0123456789',
  ANTHROPIC_API_KEY_2: 'sk-ant-test-two-0123456789',
  GITHUB_MCP_TOKEN: 'ghp_test_0123456789abcdef',
  SLUICE_CI_KEY: 'sk-sluice-CiKeyForTests0123456789abcdefXYZ',
  SLUICE_CI_KEY_EXPIRES: new Date(Date.now() + 365 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
};

function load(text: string, env: NodeJS.ProcessEnv = ENV): SluiceConfig {
  const { config, problems } = loadConfigText(text, env, 'sluice.yaml');
  expect(problems).toEqual([]);
  if (!config) throw new Error('no config');
  return config;
}

describe.each(DIALECTS)('config file on %s', (dialect) => {
  let t: TestDeps;
  let client: SluiceClient;
  let example: string;

  beforeEach(async () => {
    t = await createTestDeps(dialect);
    const bindings = createServiceBindings(t.deps);
    client = clientsFor(createRouterTransport((router) => registerConnectServices(router, bindings, async () => ({ kind: 'root', tokenId: 'rt' }))));
    example = await readFile(EXAMPLE, 'utf8');
  });

  afterEach(async () => {
    await t.close();
  });

  async function applyText(text: string, env?: NodeJS.ProcessEnv) {
    const plan = await planConfig(load(text, env), client);
    const result = await applyPlan(plan, client);
    expect(result.failure).toBeUndefined();
    expect(result.ok).toBe(true);
    return { plan, result };
  }

  async function workspaceId(): Promise<string> {
    const { workspaces } = await client.workspaces.listWorkspaces({ name: 'acme' });
    const id = workspaces[0]?.id;
    if (!id) throw new Error('workspace acme missing');
    return id;
  }

  async function gatewayId(wsId: string, name: string): Promise<string> {
    const { gateways } = await client.gateways.listGateways({ workspaceId: wsId, name });
    const id = gateways[0]?.id;
    if (!id) throw new Error(`gateway ${name} missing`);
    return id;
  }

  it('applies the example, the resources are readable through the client, and a second apply changes nothing', async () => {
    const { plan, result } = await applyText(example);
    expect(plan.problems).toEqual([]);
    expect(plan.changes.every((c) => c.action === 'create')).toBe(true);
    expect(result.applied).toHaveLength(plan.changes.length);
    // Only the generated secret is handed back, never the imported one.
    expect(result.secrets.map((s) => s.address)).toEqual(['acme/playground']);
    expect(result.secrets[0]?.secret).toMatch(/^sk-sluice-/);
    expect(formatResult(result)).toContain('API key acme/playground secret (shown only now, store it): sk-sluice-');

    const wsId = await workspaceId();
    const { workspace } = await client.workspaces.getWorkspace({ id: wsId });
    expect(workspace).toMatchObject({ displayName: 'Acme Corp', logRetentionDays: 30 });

    const { providers } = await client.providers.listProviders({ workspaceId: wsId });
    const provider = (name: string) => providers.find((p) => p.name === name);
    expect(providers.map((p) => p.name).sort()).toEqual(['anthropic-main', 'azure-eu', 'demo', 'gemini', 'local-vllm', 'openai-main']);
    expect(provider('openai-main')).toMatchObject({ type: ProviderType.OPENAI, timeoutMs: 60000, baseUrl: 'https://api.openai.com/v1' });
    expect(provider('local-vllm')?.enabled).toBe(false);
    expect(provider('demo')?.mock).toMatchObject({ latencyMs: 20, completionTokens: 32 });
    expect(provider('openai-main')?.credentials.map((c) => [c.name, c.kind])).toEqual([[`file-${secretFingerprint(ENV.OPENAI_API_KEY ?? '')}`, CredentialKind.ENCRYPTED]]);
    expect(provider('anthropic-main')?.credentials).toHaveLength(2);
    expect(provider('azure-eu')?.credentials.map((c) => [c.name, c.envVar])).toEqual([
      ['file-env-azure-openai-key', 'AZURE_OPENAI_KEY'],
      ['file-env-azure-openai-key-secondary', 'AZURE_OPENAI_KEY_SECONDARY'],
    ]);

    const { models } = await client.providers.listModels({ workspaceId: wsId });
    const model = (publicName: string) => models.find((m) => m.publicName === publicName);
    expect(model('openai-main/gpt-4o')?.price).toMatchObject({ inputPerMtokMicros: 2_500_000n, outputPerMtokMicros: 10_000_000n, cachedInputPerMtokMicros: 1_250_000n });
    expect(model('gemini/gemini-2.0-flash')?.price).toMatchObject({ inputPerMtokMicros: 75_000n, outputPerMtokMicros: 300_000n });
    expect(model('azure-eu/gpt-4o-eu')?.price).toBeUndefined();
    expect(model('local-vllm/meta-llama/Llama-3.1-8B-Instruct')).toBeDefined();

    const prodId = await gatewayId(wsId, 'prod');
    const { gateway } = await client.gateways.getGateway({ id: prodId });
    expect(gateway?.tags).toEqual(['prod', 'eu']);
    expect(gateway?.mcp?.blockedTools).toEqual(['*:delete_*', 'github:merge_pull_request']);
    const { routes } = await client.gateways.listRoutes({ gatewayId: prodId });
    expect(routes.map((r) => [r.name, r.priority, r.enabled])).toEqual([
      ['claude', 0, true],
      ['ab-test', 10, false],
      ['cheap', 50, true],
      ['default', 100, true],
    ]);
    const def = routes.find((r) => r.name === 'default');
    expect(def?.pool?.attemptTimeoutMs).toBe(30000);
    expect(def?.fallbacks[0]?.strategy).toBe(PoolStrategy.LEAST_LATENCY);
    expect(routes.find((r) => r.name === 'ab-test')?.pool?.members.map((m) => m.weight)).toEqual([3, 1]);

    const { rateLimits } = await client.gateways.listRateLimits({ gatewayId: prodId });
    expect(rateLimits.map((l) => l.name).sort()).toEqual(['requests-per-minute-gateway', 'requests-per-minute-key', 'tokens-per-user']);
    expect(rateLimits.find((l) => l.name === 'tokens-per-user')).toMatchObject({ limit: 200000n, burst: 20000n, window: RateLimitWindow.HOUR });
    expect(rateLimits.find((l) => l.name === 'tokens-per-user')?.scope?.kind).toEqual({ case: 'expr', value: 'request.headers["x-user-id"]' });

    const { spendLimits } = await client.gateways.listSpendLimits({ workspaceId: wsId });
    const budget = (gw: string, name: string) => spendLimits.find((s) => s.gatewayId === gw && s.name === name);
    expect(budget(prodId, 'monthly-gateway')).toMatchObject({ amountMicros: 500_000_000n, warnAt: 0.8, enforcement: SpendEnforcement.BLOCK });
    expect(budget(prodId, 'per-key-daily')?.amountMicros).toBe(12_500_000n);
    expect(budget('', 'monthly-workspace')?.scope?.kind.case).toBe('workspace');
    expect(budget('', 'weekly-per-team')?.scope?.kind).toEqual({ case: 'expr', value: 'key.metadata["team"]' });

    const { mcpServers } = await client.mcpServers.listMcpServers({ gatewayId: prodId });
    const server = (name: string) => mcpServers.find((s) => s.name === name);
    expect(server('github')).toMatchObject({ authMode: McpAuthMode.STATIC, hasAuthSecret: true, approved: true, transport: McpTransport.STREAMABLE_HTTP });
    expect(server('docs')?.authMode).toBe(McpAuthMode.FORWARD);
    expect(server('memory')).toMatchObject({ transport: McpTransport.STDIO, command: 'npx', envNames: ['MEMORY_FILE_PATH'] });

    const { apiKeys } = await client.apiKeys.listApiKeys({ workspaceId: wsId });
    const ci = apiKeys.find((k) => k.name === 'ci');
    expect(ci?.prefix).toBe(publicPrefix(ENV.SLUICE_CI_KEY ?? ''));
    expect(ci?.metadata).toEqual({ team: 'platform', owner: 'ci-bot' });
    expect(ci?.expireTime && timestampMs(ci.expireTime)).toBe(Date.parse(ENV.SLUICE_CI_KEY_EXPIRES ?? ''));
    expect(apiKeys.find((k) => k.name === 'playground')).toMatchObject({ gateways: ['prod', 'staging'], defaultGateway: 'staging' });

    const version = await configVersion(t.deps);
    const again = await planConfig(load(example), client);
    expect(again.changes.filter((c) => c.action !== 'unchanged')).toEqual([]);
    expect(again.changes).toHaveLength(plan.changes.length);
    const text = formatPlan(again);
    expect(text).toContain('= route acme/prod/default');
    expect(text).toContain('= API key acme/ci\n    secret not re-imported: the key exists and keeps its secret');
    expect(text).toMatch(/No changes: \d+ resources up to date\.$/);
    const second = await applyPlan(again, client);
    expect(second).toMatchObject({ ok: true, applied: [], secrets: [] });
    expect(await configVersion(t.deps)).toBe(version);
  });

  it('changing one field makes exactly one update with that field in its mask', async () => {
    await applyText(example);
    const edited = example.replace('description: Production traffic', 'description: Production traffic (EU)');
    const plan = await planConfig(load(edited), client);
    const writes = plan.changes.filter((c) => c.action !== 'unchanged');
    expect(writes.map((c) => [c.action, c.kind, c.address, c.fields])).toEqual([['update', 'gateway', 'acme/prod', ['description']]]);
    expect(formatPlan(plan)).toContain('~ gateway acme/prod (description)\n');
    const { result } = await applyText(edited);
    expect(result.applied).toHaveLength(1);
    const { gateway } = await client.gateways.getGateway({ id: await gatewayId(await workspaceId(), 'prod') });
    expect(gateway?.description).toBe('Production traffic (EU)');
    expect((await planConfig(load(edited), client)).changes.every((c) => c.action === 'unchanged')).toBe(true);
  });

  it("applies a gateway's record_bodies and plans no change afterwards", async () => {
    await applyText(example);
    const edited = example.replace('description: Production traffic', 'description: Production traffic\n        record_bodies: true');
    const plan = await planConfig(load(edited), client);
    expect(plan.changes.filter((c) => c.action !== 'unchanged').map((c) => [c.kind, c.address, c.fields])).toEqual([['gateway', 'acme/prod', ['record_bodies']]]);
    await applyText(edited);
    const { gateway } = await client.gateways.getGateway({ id: await gatewayId(await workspaceId(), 'prod') });
    expect(gateway?.recordBodies).toBe(true);
    expect((await planConfig(load(edited), client)).changes.every((c) => c.action === 'unchanged')).toBe(true);
  });

  it('updates prices, limits and key settings in place', async () => {
    await applyText(example);
    const edited = example
      .replace('price: { input_per_mtok: 0.075, output_per_mtok: 0.3 }', 'price: { input_per_mtok: 0.1, output_per_mtok: 0.3 }')
      .replace('{ unit: requests, limit: 100, window: 1m, scope: key }', '{ unit: requests, limit: 120, window: 1m, scope: key }')
      .replace('metadata: { team: platform, owner: ci-bot }', 'metadata: { team: platform }');
    const plan = await planConfig(load(edited), client);
    const writes = plan.changes.filter((c) => c.action !== 'unchanged');
    expect(writes.map((c) => [c.kind, c.address, c.fields])).toEqual([
      ['model', 'acme/gemini/gemini-2.0-flash', ['price']],
      ['rate_limit', 'acme/prod/requests-per-minute-key', ['limit']],
      ['api_key', 'acme/ci', ['metadata']],
    ]);
    await applyText(edited);
    const { models } = await client.providers.listModels({ workspaceId: await workspaceId(), name: 'gemini-2.0-flash' });
    expect(models[0]?.price?.inputPerMtokMicros).toBe(100_000n);
    expect((await planConfig(load(edited), client)).changes.every((c) => c.action === 'unchanged')).toBe(true);
  });

  it('rotates a literal provider key: adds the new credential, deletes the old file credential, keeps hand-made ones', async () => {
    await applyText(example);
    const wsId = await workspaceId();
    const { providers } = await client.providers.listProviders({ workspaceId: wsId, name: 'openai-main' });
    const providerId = providers[0]?.id ?? '';
    await client.providers.createProviderCredential({ providerId, name: 'break-glass', source: { source: { case: 'envVar', value: 'OPENAI_BREAK_GLASS' } } });

    const rotated = { ...ENV, OPENAI_API_KEY: 'sk-openai-rotated-9876543210' };
    const plan = await planConfig(load(example, rotated), client);
    const oldName = `file-${secretFingerprint(ENV.OPENAI_API_KEY ?? '')}`;
    const newName = `file-${secretFingerprint(rotated.OPENAI_API_KEY)}`;
    expect(plan.changes.filter((c) => c.action !== 'unchanged').map((c) => [c.action, c.address])).toEqual([
      ['create', `acme/openai-main/${newName}`],
      ['delete', `acme/openai-main/${oldName}`],
    ]);
    await applyText(example, rotated);
    const { credentials } = await client.providers.listProviderCredentials({ providerId });
    expect(credentials.map((c) => c.name).sort()).toEqual(['break-glass', newName].sort());
    expect((await planConfig(load(example, rotated), client)).changes.every((c) => c.action === 'unchanged')).toBe(true);
  });

  it('a dry run (plan only) writes nothing', async () => {
    const before = await configVersion(t.deps);
    const plan = await planConfig(load(example), client);
    expect(formatPlan(plan)).toMatch(/^\+ workspace acme$/m);
    expect(formatPlan(plan)).toMatch(/^Plan: \d+ to create, 0 to update, 0 to delete, 0 unchanged\.$/m);
    expect(await configVersion(t.deps)).toBe(before);
    expect((await client.workspaces.listWorkspaces({})).workspaces).toEqual([]);
  });

  it('a file with several problems reports all of them and nothing is written', async () => {
    const before = await configVersion(t.deps);
    const broken = example
      .replace('type: anthropic', 'type: anthropix')
      .replace('members: [{ provider: demo, model: echo }]', 'members: [{ provider: x, model: echo }]')
      .replace('gateways: [prod]', 'gateways: [prod, nope]')
      .replace('timeout_ms: 30000\n            auth:', 'timeout_ms: fast\n            auth:');
    const { config, problems } = loadConfigText(broken, ENV, 'sluice.yaml');
    expect(config).toBeUndefined();
    expect(problems).toEqual(
      expect.arrayContaining([
        'workspaces[0].providers[1].type: must be one of openai, anthropic, google, azure_openai, openai_compatible, mock, got "anthropix"',
        'workspaces[0].gateways[1].routes[0].pool: unknown provider "x"',
        'workspaces[0].api_keys[0].gateways[1]: unknown gateway "nope"',
        'workspaces[0].gateways[0].mcp_servers[0].timeout_ms: must be an integer, got "fast"',
      ]),
    );
    expect(problems).toHaveLength(4);
    expect(await configVersion(t.deps)).toBe(before);
  });

  it('stops at the first failed write and names the resource with the server message', async () => {
    const past = { ...ENV, SLUICE_CI_KEY_EXPIRES: '2020-01-01T00:00:00Z' };
    const plan = await planConfig(load(example, past), client);
    const result = await applyPlan(plan, client);
    expect(result.ok).toBe(false);
    expect(result.failure?.address).toBe('acme/ci');
    expect(result.failure?.message).toBe('API key acme/ci: api_key.expire_time: must be in the future (invalid_argument)');
    expect(result.skipped).toBe(1);
    expect(result.applied).toHaveLength(plan.changes.length - 2);
    const { apiKeys } = await client.apiKeys.listApiKeys({ workspaceId: await workspaceId() });
    expect(apiKeys).toEqual([]);
    expect(formatResult(result)).toMatch(/failed: API key acme\/ci: .*\nApplied \d+ changes before stopping; 1 not attempted\./);
  });

  it('refuses a plan whose provider type would change, before any write', async () => {
    await applyText(example);
    const before = await configVersion(t.deps);
    const plan = await planConfig(load(example.replace('type: openai\n', 'type: anthropic\n')), client);
    expect(plan.problems).toEqual([
      'provider acme/openai-main: type is openai on the server but anthropic in the file; a provider\'s type cannot change (delete it or use another name)',
    ]);
    expect(formatPlan(plan)).toContain('1 problem; this plan cannot be applied:');
    const result = await applyPlan(plan, client);
    expect(result).toMatchObject({ ok: false, applied: [] });
    expect(await configVersion(t.deps)).toBe(before);
  });
});

/**
 * Executing a plan: one write RPC per create, update or delete, in the plan's
 * order, stopping at the first failure. Updates send the whole desired
 * resource with an update mask of exactly the changed fields.
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { SluiceClient } from '@sluice/client';
import { ConfigRpcError, KIND_LABEL, refKey, type Change, type Plan, type ResourceKind } from './plan.js';
import type { CredentialConfig, McpServerConfig, PriceConfig, ScopeConfig, SpendLimitConfig } from './schema.js';

/** A generated API key secret, to be shown once. */
export interface GeneratedSecret {
  /** Address of the API key, e.g. `acme/ci`. */
  address: string;
  secret: string;
}

/** What `applyPlan` did. */
export interface ApplyResult {
  /** True when every planned write succeeded (and the plan had no problems). */
  ok: boolean;
  /** The writes made, in order; unchanged resources are not listed. */
  applied: Change[];
  /** Secrets the server generated for new API keys (imported secrets are never echoed). */
  secrets: GeneratedSecret[];
  /** Why applying stopped: the failed write (nothing after it was attempted) or a plan with problems. */
  failure?: { address: string; message: string; code: string };
  /** Writes planned but not attempted because of the failure. */
  skipped: number;
}

const price = (p: PriceConfig): PriceConfig | undefined => (Object.values(p).some((v) => v !== undefined) ? p : undefined);

function scope(s: ScopeConfig): { kind: { case: 'workspace' | 'gateway' | 'key'; value: boolean } | { case: 'expr'; value: string } } {
  return { kind: s.kind === 'expr' ? { case: 'expr', value: s.expr } : { case: s.kind, value: true } };
}

function credentialSource(c: CredentialConfig): { source: { case: 'value'; value: string } | { case: 'envVar'; value: string } } {
  return { source: c.kind === 'value' ? { case: 'value', value: c.value } : { case: 'envVar', value: c.envVar } };
}

function spendLimit(s: SpendLimitConfig, gatewayId: string) {
  return {
    gatewayId,
    name: s.name,
    amountMicros: s.amountMicros,
    period: s.period,
    enforcement: s.enforcement,
    warnAt: s.warnAt,
    scope: scope(s.scope),
    onStoreFailure: s.onStoreFailure,
  };
}

function mcpServer(m: McpServerConfig) {
  return {
    name: m.name,
    displayName: m.displayName,
    transport: m.transport,
    url: m.url,
    command: m.command,
    args: [...m.args],
    env: { ...m.env },
    timeoutMs: m.timeoutMs,
    enabled: m.enabled,
    approved: m.approved,
    authMode: m.auth.mode,
    authSecret: m.auth.secret,
    deferLoading: m.deferLoading,
    blockedTools: [...m.blockedTools],
  };
}

/** Ids by `refKey`, for existing resources and the ones created so far. */
type Ids = Map<string, string>;

function idOf(ids: Ids, kind: ResourceKind, address: string): string {
  const id = ids.get(refKey(kind, address));
  // The plan puts every parent before its children, so a missing id is a bug in the planner.
  if (!id) throw new Error(`${kind} ${address} has no id yet`);
  return id;
}

/** Performs one write; returns the id of a created resource and any generated secret. */
async function write(change: Change, client: SluiceClient, ids: Ids): Promise<{ id?: string; secret?: string }> {
  const mask = { paths: change.fields };
  const id = change.id;
  switch (change.kind) {
    case 'workspace': {
      const d = change.desired;
      const workspace = { id, name: d.name, displayName: d.displayName, description: d.description, logRetentionDays: d.logRetentionDays };
      if (change.action === 'update') return (await client.workspaces.updateWorkspace({ workspace, updateMask: mask }), {});
      return { id: (await client.workspaces.createWorkspace({ workspace })).workspace?.id };
    }
    case 'provider': {
      const d = change.desired;
      const provider = {
        id,
        name: d.name,
        type: d.type,
        baseUrl: d.baseUrl,
        enabled: d.enabled,
        timeoutMs: d.timeoutMs,
        recordBodies: d.recordBodies,
        azureApiVersion: d.azureApiVersion,
        mock: { ...d.mock },
      };
      if (change.action === 'update') return (await client.providers.updateProvider({ provider, updateMask: mask }), {});
      // Credentials are created one by one afterwards, so that each gets its file name.
      const workspaceId = idOf(ids, 'workspace', change.workspace);
      return { id: (await client.providers.createProvider({ workspaceId, provider })).provider?.id };
    }
    case 'credential': {
      if (change.action === 'delete') return (await client.providers.deleteProviderCredential({ id }), {});
      if (!change.desired) throw new Error(`credential ${change.address} has nothing to create`);
      const providerId = idOf(ids, 'provider', change.provider);
      const r = await client.providers.createProviderCredential({ providerId, name: change.desired.name, source: credentialSource(change.desired) });
      return { id: r.credential?.id };
    }
    case 'model': {
      const d = change.desired;
      const model = { id, name: d.name, enabled: d.enabled, price: price(d.price) };
      if (change.action === 'update') return (await client.providers.updateModel({ model, updateMask: mask }), {});
      return { id: (await client.providers.createModel({ providerId: idOf(ids, 'provider', change.provider), model })).model?.id };
    }
    case 'gateway': {
      const d = change.desired;
      const gateway = {
        id,
        name: d.name,
        description: d.description,
        tags: [...d.tags],
        models: [...d.models],
        modelSelector: d.modelSelector,
        recordBodies: d.recordBodies,
        mcp: { deferLoading: d.mcp.deferLoading, blockedTools: [...d.mcp.blockedTools], authorization: d.mcp.authorization, rateLimits: d.mcp.rateLimits.map((l) => ({ ...l })) },
      };
      if (change.action === 'update') return (await client.gateways.updateGateway({ gateway, updateMask: mask }), {});
      return { id: (await client.gateways.createGateway({ workspaceId: idOf(ids, 'workspace', change.workspace), gateway })).gateway?.id };
    }
    case 'route': {
      const d = change.desired;
      const route = { id, name: d.name, priority: d.priority, condition: d.condition, enabled: d.enabled, pool: d.pool, fallbacks: d.fallbacks };
      if (change.action === 'update') return (await client.gateways.updateRoute({ route, updateMask: mask }), {});
      return { id: (await client.gateways.createRoute({ gatewayId: idOf(ids, 'gateway', change.gateway), route })).route?.id };
    }
    case 'rate_limit': {
      const d = change.desired;
      const rateLimit = { id, name: d.name, unit: d.unit, limit: d.limit, window: d.window, burst: d.burst, scope: scope(d.scope), onStoreFailure: d.onStoreFailure };
      if (change.action === 'update') return (await client.gateways.updateRateLimit({ rateLimit, updateMask: mask }), {});
      return { id: (await client.gateways.createRateLimit({ gatewayId: idOf(ids, 'gateway', change.gateway), rateLimit })).rateLimit?.id };
    }
    case 'spend_limit': {
      const gatewayId = change.gateway ? idOf(ids, 'gateway', change.gateway) : '';
      const body = { ...spendLimit(change.desired, gatewayId), id };
      if (change.action === 'update') return (await client.gateways.updateSpendLimit({ spendLimit: body, updateMask: mask }), {});
      const workspaceId = idOf(ids, 'workspace', change.workspace);
      return { id: (await client.gateways.createSpendLimit({ workspaceId, spendLimit: body })).spendLimit?.id };
    }
    case 'mcp_server': {
      const body = { ...mcpServer(change.desired), id };
      if (change.action === 'update') return (await client.mcpServers.updateMcpServer({ mcpServer: body, updateMask: mask }), {});
      return { id: (await client.mcpServers.createMcpServer({ gatewayId: idOf(ids, 'gateway', change.gateway), mcpServer: body })).mcpServer?.id };
    }
    case 'api_key': {
      const d = change.desired;
      const apiKey = {
        id,
        name: d.name,
        gateways: [...d.gateways],
        defaultGateway: d.defaultGateway,
        metadata: { ...d.metadata },
        expireTime: d.expireTime ? timestampFromDate(d.expireTime) : undefined,
      };
      // An existing key keeps its secret: the file's secret is only ever imported at creation.
      if (change.action === 'update') return (await client.apiKeys.updateApiKey({ apiKey, updateMask: mask }), {});
      const workspaceId = idOf(ids, 'workspace', change.workspace);
      const r = await client.apiKeys.createApiKey({ workspaceId, apiKey, secret: d.secret ?? '' });
      return { id: r.apiKey?.id, secret: d.secret ? undefined : r.secret };
    }
  }
}

/**
 * Executes the writes of `plan` in order through `client`. Stops at the
 * first failed write and reports it with the resource's address and the
 * server's message; a plan with problems is refused before any write.
 * Never throws for RPC failures. The plan itself is not modified.
 */
export async function applyPlan(plan: Plan, client: SluiceClient): Promise<ApplyResult> {
  const writes = plan.changes.filter((c) => c.action !== 'unchanged');
  if (plan.problems.length > 0) {
    const message = `the plan has ${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'}; nothing was applied`;
    return { ok: false, applied: [], secrets: [], failure: { address: '', message, code: 'failed_precondition' }, skipped: writes.length };
  }
  const ids: Ids = new Map(plan.changes.filter((c) => c.id).map((c) => [refKey(c.kind, c.address), c.id]));
  const applied: Change[] = [];
  const secrets: GeneratedSecret[] = [];
  for (const change of writes) {
    try {
      const r = await write(change, client, ids);
      if (r.id) ids.set(refKey(change.kind, change.address), r.id);
      if (r.secret) secrets.push({ address: change.address, secret: r.secret });
      applied.push(change);
    } catch (err) {
      const e = new ConfigRpcError(`${KIND_LABEL[change.kind]} ${change.address}`, err);
      return { ok: false, applied, secrets, failure: { address: change.address, message: e.message, code: e.code }, skipped: writes.length - applied.length - 1 };
    }
  }
  return { ok: true, applied, secrets, skipped: 0 };
}

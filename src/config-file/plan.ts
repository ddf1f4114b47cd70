/**
 * Planning: the difference between a validated config and what the control
 * API currently holds. Resources are matched by name within their parent;
 * each one the file names becomes a change (create, update with the fields
 * that differ, or unchanged). Nothing absent from the file is ever deleted,
 * except provider credentials the file itself created (named `file-…`).
 * Planning only reads (List RPCs); `applyPlan` does the writes.
 */
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { ConnectError } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import type { SluiceClient } from '@sluice/client';
import type { ApiKey } from '@sluice/client/gen/api_key';
import { StoreFailureMode, type Gateway, type LimitScope, type Pool, type RateLimit, type Route, type SpendLimit } from '@sluice/client/gen/gateway';
import { McpAuthMode, McpTransportSchema, type McpServer } from '@sluice/client/gen/mcp_server';
import { CredentialKind, ProviderTypeSchema, type Model, type Price, type Provider, type ProviderCredential } from '@sluice/client/gen/provider';
import type { Workspace } from '@sluice/client/gen/workspace';
import { enumSlug } from '../services/enums.js';
import {
  FILE_CREDENTIAL_PREFIX,
  type ApiKeyConfig,
  type CredentialConfig,
  type GatewayConfig,
  type McpServerConfig,
  type ModelConfig,
  type PoolConfig,
  type PriceConfig,
  type ProviderConfig,
  type RateLimitConfig,
  type RouteConfig,
  type ScopeConfig,
  type SluiceConfig,
  type SpendLimitConfig,
  type WorkspaceConfig,
} from './schema.js';

/** What happens to one resource. */
export type Action = 'create' | 'update' | 'unchanged' | 'delete';

interface ChangeBase {
  action: Action;
  /** Human-readable path of the resource: `acme`, `acme/openai-main/gpt-4o`, `acme/prod/default`. */
  address: string;
  /** Proto field paths that differ (the update mask); empty unless `action` is `update`. */
  fields: string[];
  /** Remarks for the operator, e.g. that an API key's secret is not re-imported. */
  notes: string[];
  /** Id of the existing resource; '' for a create. */
  id: string;
}

/**
 * One planned change. Parents are named by address (`workspace`, `provider`,
 * `gateway`); their ids come from their own change (existing) or from its
 * result when it is created first.
 */
export type Change =
  | (ChangeBase & { kind: 'workspace'; desired: WorkspaceConfig })
  | (ChangeBase & { kind: 'provider'; workspace: string; desired: ProviderConfig })
  | (ChangeBase & { kind: 'credential'; provider: string; desired?: CredentialConfig })
  | (ChangeBase & { kind: 'model'; provider: string; desired: ModelConfig })
  | (ChangeBase & { kind: 'gateway'; workspace: string; desired: GatewayConfig })
  | (ChangeBase & { kind: 'route'; gateway: string; desired: RouteConfig })
  | (ChangeBase & { kind: 'rate_limit'; gateway: string; desired: RateLimitConfig })
  | (ChangeBase & { kind: 'spend_limit'; workspace: string; gateway?: string; desired: SpendLimitConfig })
  | (ChangeBase & { kind: 'mcp_server'; gateway: string; desired: McpServerConfig })
  | (ChangeBase & { kind: 'api_key'; workspace: string; desired: ApiKeyConfig });

/** The kinds of resource a plan touches. */
export type ResourceKind = Change['kind'];

/** The result of planning: every change in apply order, and conflicts that block applying. */
export interface Plan {
  /**
   * In apply order: workspaces → providers → models and credentials →
   * gateways → routes and limits → MCP servers → API keys. Unchanged
   * resources are included (so their ids are known to their children).
   */
  changes: Change[];
  /** Differences the file cannot resolve (e.g. a provider's immutable type); `applyPlan` refuses such a plan. */
  problems: string[];
}

/** An RPC that failed while planning or applying, with the resource it concerned. */
export class ConfigRpcError extends Error {
  readonly kind = 'rpc';
  /** The Connect code name, e.g. `invalid_argument`. */
  readonly code: string;
  /** The server's message without the code prefix (`ConnectError.rawMessage`). */
  readonly rawMessage: string;

  constructor(
    /** Address of the resource being read or written. */
    readonly address: string,
    cause: unknown,
  ) {
    const ce = ConnectError.from(cause);
    const code = codeToString(ce.code);
    super(`${address}: ${ce.rawMessage} (${code})`, { cause });
    this.name = 'ConfigRpcError';
    this.code = code;
    this.rawMessage = ce.rawMessage;
  }
}

/** How each kind is named in messages and in the change list. */
export const KIND_LABEL: Record<ResourceKind, string> = {
  workspace: 'workspace',
  provider: 'provider',
  credential: 'credential',
  model: 'model',
  gateway: 'gateway',
  route: 'route',
  rate_limit: 'rate limit',
  spend_limit: 'spend limit',
  mcp_server: 'MCP server',
  api_key: 'API key',
};

/** The map key of a resource: addresses of different kinds may coincide (a provider and a gateway both called `prod`). */
export function refKey(kind: ResourceKind, address: string): string {
  return `${kind} ${address}`;
}

const PHASE: Record<ResourceKind, number> = {
  workspace: 0,
  provider: 1,
  model: 2,
  credential: 2,
  gateway: 3,
  route: 4,
  rate_limit: 4,
  spend_limit: 4,
  mcp_server: 5,
  api_key: 6,
};

async function listAll<T>(address: string, page: (pageToken: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const out: T[] = [];
  let token = '';
  try {
    do {
      const r = await page(token);
      out.push(...r.items);
      token = r.next;
    } while (token);
  } catch (err) {
    throw new ConfigRpcError(address, err);
  }
  return out;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** The names of the fields whose [desired, current] values differ. */
function changed(pairs: Record<string, readonly [unknown, unknown]>): string[] {
  return Object.entries(pairs)
    .filter(([, [desired, current]]) => canonical(desired) !== canonical(current))
    .map(([field]) => field);
}

const sorted = <T extends string | number>(values: readonly T[]): T[] => [...values].sort();

const mapKey = (m: Readonly<Record<string, string>>): [string, string][] => Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function priceKey(p: PriceConfig | Price | undefined): (string | null)[] {
  return [p?.inputPerMtokMicros, p?.outputPerMtokMicros, p?.cachedInputPerMtokMicros, p?.cacheWritePerMtokMicros].map((v) => (v === undefined ? null : v.toString()));
}

function poolKey(p: PoolConfig | Pool | undefined): unknown {
  if (!p) return null;
  return [p.strategy, p.members.map((m) => [m.provider, m.model, m.weight || 1]), sorted(p.fallbackOn), p.attemptTimeoutMs];
}

function scopeKey(s: ScopeConfig): unknown {
  return s.kind === 'expr' ? ['expr', s.expr] : [s.kind];
}

function currentScopeKey(s: LimitScope | undefined): unknown {
  const k = s?.kind;
  if (!k?.case) return null;
  return k.case === 'expr' ? ['expr', k.value] : [k.case];
}

function workspaceDiff(d: WorkspaceConfig, c: Workspace): string[] {
  return changed({
    display_name: [d.displayName, c.displayName],
    description: [d.description, c.description],
    log_retention_days: [d.logRetentionDays, c.logRetentionDays],
  });
}

function providerDiff(d: ProviderConfig, c: Provider): string[] {
  return changed({
    base_url: [d.baseUrl, c.baseUrl],
    enabled: [d.enabled, c.enabled],
    timeout_ms: [d.timeoutMs, c.timeoutMs],
    record_bodies: [d.recordBodies, c.recordBodies],
    azure_api_version: [d.azureApiVersion, c.azureApiVersion],
    mock: [[d.mock.latencyMs, d.mock.completionTokens], [c.mock?.latencyMs ?? 0, c.mock?.completionTokens ?? 0]],
  });
}

function modelDiff(d: ModelConfig, c: Model): string[] {
  return changed({ enabled: [d.enabled, c.enabled], price: [priceKey(d.price), priceKey(c.price)] });
}

function gatewayDiff(d: GatewayConfig, c: Gateway): string[] {
  return changed({
    description: [d.description, c.description],
    tags: [sorted(d.tags), sorted(c.tags)],
    models: [sorted(d.models), sorted(c.models)],
    model_selector: [d.modelSelector, c.modelSelector],
    record_bodies: [d.recordBodies, c.recordBodies ?? false],
    mcp: [
      [d.mcp.deferLoading, sorted(d.mcp.blockedTools), d.mcp.authorization, d.mcp.rateLimits.map((l) => [l.scope, String(l.limit), l.window, l.onStoreFailure])],
      [
        c.mcp?.deferLoading ?? false,
        sorted(c.mcp?.blockedTools ?? []),
        c.mcp?.authorization ?? '',
        (c.mcp?.rateLimits ?? []).map((l) => [l.scope, String(l.limit), l.window, l.onStoreFailure || StoreFailureMode.FAIL_OPEN]),
      ],
    ],
  });
}

function routeDiff(d: RouteConfig, c: Route): string[] {
  return changed({
    priority: [d.priority, c.priority],
    condition: [d.condition, c.condition],
    pool: [poolKey(d.pool), poolKey(c.pool)],
    fallbacks: [d.fallbacks.map(poolKey), c.fallbacks.map(poolKey)],
    enabled: [d.enabled, c.enabled],
  });
}

function rateLimitDiff(d: RateLimitConfig, c: RateLimit): string[] {
  return changed({
    unit: [d.unit, c.unit],
    limit: [d.limit, c.limit],
    window: [d.window, c.window],
    burst: [d.burst, c.burst],
    scope: [scopeKey(d.scope), currentScopeKey(c.scope)],
    on_store_failure: [d.onStoreFailure, c.onStoreFailure],
  });
}

function spendLimitDiff(d: SpendLimitConfig, c: SpendLimit): string[] {
  return changed({
    amount_micros: [d.amountMicros, c.amountMicros],
    period: [d.period, c.period],
    enforcement: [d.enforcement, c.enforcement],
    warn_at: [d.warnAt, c.warnAt],
    scope: [scopeKey(d.scope), currentScopeKey(c.scope)],
    on_store_failure: [d.onStoreFailure, c.onStoreFailure],
  });
}

/**
 * Secrets are write-only, so the stdio `env` is compared by its variable
 * names and the static auth secret is sent only when the auth mode changes
 * (or the server holds none).
 */
function mcpServerDiff(d: McpServerConfig, c: McpServer): string[] {
  const fields = changed({
    display_name: [d.displayName, c.displayName],
    url: [d.url, c.url],
    command: [d.command, c.command],
    args: [d.args, c.args],
    env: [sorted(Object.keys(d.env)), sorted(c.envNames)],
    timeout_ms: [d.timeoutMs, c.timeoutMs],
    enabled: [d.enabled, c.enabled],
    approved: [d.approved, c.approved],
    auth_mode: [d.auth.mode, c.authMode],
    defer_loading: [d.deferLoading, c.deferLoading],
    blocked_tools: [sorted(d.blockedTools), sorted(c.blockedTools)],
  });
  if (d.auth.mode === McpAuthMode.STATIC && (fields.includes('auth_mode') || !c.hasAuthSecret)) {
    fields.splice(fields.indexOf('auth_mode') + 1, 0, 'auth_secret');
  }
  return fields;
}

function apiKeyDiff(d: ApiKeyConfig, c: ApiKey): string[] {
  return changed({
    metadata: [mapKey(d.metadata), mapKey(c.metadata)],
    gateways: [sorted(d.gateways), sorted(c.gateways)],
    default_gateway: [d.defaultGateway, c.defaultGateway],
    expire_time: [d.expireTime?.getTime() ?? null, c.expireTime ? timestampMs(c.expireTime) : null],
  });
}

/** create / update / unchanged for a desired resource and its current state (if any). */
function decide<T>(current: T | undefined, diff: (c: T) => string[]): { action: Action; fields: string[] } {
  if (!current) return { action: 'create', fields: [] };
  const fields = diff(current);
  return { action: fields.length > 0 ? 'update' : 'unchanged', fields };
}

const byName = <T extends { name: string }>(items: readonly T[]): Map<string, T> => new Map(items.map((i) => [i.name, i]));

/** Collects the changes and conflicts of one workspace. */
class WorkspacePlanner {
  readonly changes: Change[] = [];
  readonly problems: string[] = [];

  constructor(
    private readonly client: SluiceClient,
    private readonly ws: WorkspaceConfig,
  ) {}

  async plan(): Promise<void> {
    const ws = this.ws;
    const found = await listAll(ws.name, async (pageToken) => {
      const r = await this.client.workspaces.listWorkspaces({ name: ws.name, pageToken });
      return { items: r.workspaces, next: r.nextPageToken };
    });
    const current = found.find((w) => w.name === ws.name);
    this.changes.push({ kind: 'workspace', address: ws.name, id: current?.id ?? '', notes: [], desired: ws, ...decide(current, (c) => workspaceDiff(ws, c)) });
    const id = current?.id ?? '';
    await this.planProviders(id);
    await this.planGateways(id);
    await this.planApiKeys(id);
  }

  private async planProviders(workspaceId: string): Promise<void> {
    const ws = this.ws;
    const providers = workspaceId
      ? byName(
          await listAll(`${ws.name} providers`, async (pageToken) => {
            const r = await this.client.providers.listProviders({ workspaceId, pageToken, pageSize: 1000 });
            return { items: r.providers, next: r.nextPageToken };
          }),
        )
      : new Map<string, Provider>();
    const models = workspaceId
      ? await listAll(`${ws.name} models`, async (pageToken) => {
          const r = await this.client.providers.listModels({ workspaceId, pageToken, pageSize: 1000 });
          return { items: r.models, next: r.nextPageToken };
        })
      : [];
    for (const p of ws.providers) {
      const address = `${ws.name}/${p.name}`;
      const current = providers.get(p.name);
      if (current && current.type !== p.type) {
        const was = enumSlug(ProviderTypeSchema, current.type);
        this.problems.push(`provider ${address}: type is ${was} on the server but ${enumSlug(ProviderTypeSchema, p.type)} in the file; a provider's type cannot change (delete it or use another name)`);
      }
      this.changes.push({ kind: 'provider', address, id: current?.id ?? '', notes: [], workspace: ws.name, desired: p, ...decide(current, (c) => providerDiff(p, c)) });
      const existingModels = byName(models.filter((m) => current && m.providerId === current.id));
      for (const m of p.models) {
        const cur = existingModels.get(m.name);
        this.changes.push({ kind: 'model', address: `${address}/${m.name}`, id: cur?.id ?? '', notes: [], provider: address, desired: m, ...decide(cur, (c) => modelDiff(m, c)) });
      }
      this.planCredentials(address, p.credentials, current?.credentials ?? []);
    }
  }

  /**
   * Literal secrets match by their fingerprint name, env references by the
   * variable; `file-…` credentials the file no longer lists are deleted after
   * the new ones exist, so the provider is never left without a credential.
   */
  private planCredentials(provider: string, desired: readonly CredentialConfig[], current: readonly ProviderCredential[]): void {
    const kept = new Set<string>();
    for (const d of desired) {
      const match = current.find((c) => (d.kind === 'env' ? c.kind === CredentialKind.ENV_VAR && c.envVar === d.envVar : c.name === d.name));
      if (match) kept.add(match.id);
      const address = `${provider}/${match ? match.name || match.id : d.name}`;
      this.changes.push({ kind: 'credential', address, id: match?.id ?? '', notes: [], fields: [], action: match ? 'unchanged' : 'create', provider, desired: d });
    }
    for (const c of current) {
      if (kept.has(c.id) || !c.name.startsWith(FILE_CREDENTIAL_PREFIX)) continue;
      this.changes.push({ kind: 'credential', address: `${provider}/${c.name}`, id: c.id, notes: [], fields: [], action: 'delete', provider });
    }
  }

  private async planGateways(workspaceId: string): Promise<void> {
    const ws = this.ws;
    const client = this.client;
    const gateways = workspaceId
      ? byName(
          await listAll(`${ws.name} gateways`, async (pageToken) => {
            const r = await client.gateways.listGateways({ workspaceId, pageToken, pageSize: 1000 });
            return { items: r.gateways, next: r.nextPageToken };
          }),
        )
      : new Map<string, Gateway>();
    const budgets = workspaceId
      ? await listAll(`${ws.name} spend limits`, async (pageToken) => {
          const r = await client.gateways.listSpendLimits({ workspaceId, pageToken, pageSize: 1000 });
          return { items: r.spendLimits, next: r.nextPageToken };
        })
      : [];
    for (const g of ws.gateways) {
      const address = `${ws.name}/${g.name}`;
      const current = gateways.get(g.name);
      this.changes.push({ kind: 'gateway', address, id: current?.id ?? '', notes: [], workspace: ws.name, desired: g, ...decide(current, (c) => gatewayDiff(g, c)) });
      const gatewayId = current?.id ?? '';
      const [routes, limits, servers] = gatewayId
        ? await Promise.all([
            listAll(`${address} routes`, async (pageToken) => {
              const r = await client.gateways.listRoutes({ gatewayId, pageToken, pageSize: 1000 });
              return { items: r.routes, next: r.nextPageToken };
            }),
            listAll(`${address} rate limits`, async (pageToken) => {
              const r = await client.gateways.listRateLimits({ gatewayId, pageToken, pageSize: 1000 });
              return { items: r.rateLimits, next: r.nextPageToken };
            }),
            listAll(`${address} MCP servers`, async (pageToken) => {
              const r = await client.mcpServers.listMcpServers({ gatewayId, pageToken, pageSize: 1000 });
              return { items: r.mcpServers, next: r.nextPageToken };
            }),
          ])
        : [[], [], []];
      const routeMap = byName(routes);
      for (const r of g.routes) {
        const cur = routeMap.get(r.name);
        this.changes.push({ kind: 'route', address: `${address}/${r.name}`, id: cur?.id ?? '', notes: [], gateway: address, desired: r, ...decide(cur, (c) => routeDiff(r, c)) });
      }
      const limitMap = byName(limits);
      for (const l of g.rateLimits) {
        const cur = limitMap.get(l.name);
        this.changes.push({ kind: 'rate_limit', address: `${address}/${l.name}`, id: cur?.id ?? '', notes: [], gateway: address, desired: l, ...decide(cur, (c) => rateLimitDiff(l, c)) });
      }
      const budgetMap = byName(budgets.filter((b) => gatewayId && b.gatewayId === gatewayId));
      for (const s of g.spendLimits) {
        const cur = budgetMap.get(s.name);
        const change = decide(cur, (c) => spendLimitDiff(s, c));
        this.changes.push({ kind: 'spend_limit', address: `${address}/${s.name}`, id: cur?.id ?? '', notes: [], workspace: ws.name, gateway: address, desired: s, ...change });
      }
      const serverMap = byName(servers);
      for (const m of g.mcpServers) {
        const cur = serverMap.get(m.name);
        const serverAddress = `${address}/${m.name}`;
        if (cur && cur.transport !== m.transport) {
          const was = enumSlug(McpTransportSchema, cur.transport);
          this.problems.push(`MCP server ${serverAddress}: transport is ${was} on the server but ${enumSlug(McpTransportSchema, m.transport)} in the file; the transport cannot change (delete the server or use another id)`);
        }
        this.changes.push({ kind: 'mcp_server', address: serverAddress, id: cur?.id ?? '', notes: [], gateway: address, desired: m, ...decide(cur, (c) => mcpServerDiff(m, c)) });
      }
    }
    const workspaceBudgets = byName(budgets.filter((b) => b.gatewayId === ''));
    for (const s of ws.spendLimits) {
      const cur = workspaceBudgets.get(s.name);
      this.changes.push({ kind: 'spend_limit', address: `${ws.name}/${s.name}`, id: cur?.id ?? '', notes: [], workspace: ws.name, desired: s, ...decide(cur, (c) => spendLimitDiff(s, c)) });
    }
  }

  private async planApiKeys(workspaceId: string): Promise<void> {
    const ws = this.ws;
    const keys = workspaceId
      ? byName(
          await listAll(`${ws.name} API keys`, async (pageToken) => {
            const r = await this.client.apiKeys.listApiKeys({ workspaceId, pageToken, pageSize: 1000, showRevoked: true });
            return { items: r.apiKeys, next: r.nextPageToken };
          }),
        )
      : new Map<string, ApiKey>();
    for (const k of ws.apiKeys) {
      const address = `${ws.name}/${k.name}`;
      const cur = keys.get(k.name);
      const notes: string[] = [];
      if (cur?.revokeTime) {
        this.problems.push(`API key ${address}: the key is revoked; delete it to create it again, or use another name`);
      }
      if (cur && k.secret) notes.push('secret not re-imported: the key exists and keeps its secret');
      this.changes.push({ kind: 'api_key', address, id: cur?.id ?? '', notes, workspace: ws.name, desired: k, ...decide(cur, (c) => apiKeyDiff(k, c)) });
    }
  }
}

/**
 * Plans `config` against the server behind `client` (reads only). Rejects
 * with a `ConfigRpcError` naming what it was reading when an RPC fails.
 */
export async function planConfig(config: SluiceConfig, client: SluiceClient): Promise<Plan> {
  const changes: Change[] = [];
  const problems: string[] = [];
  for (const ws of config.workspaces) {
    const planner = new WorkspacePlanner(client, ws);
    await planner.plan();
    changes.push(...planner.changes);
    problems.push(...planner.problems);
  }
  // Stable sort: file order within a phase; within the credential phase, deletes after creates.
  const order = (c: Change): number => PHASE[c.kind] * 2 + (c.action === 'delete' ? 1 : 0);
  return { changes: changes.map((c, i) => ({ c, i })).sort((a, b) => order(a.c) - order(b.c) || a.i - b.i).map((x) => x.c), problems };
}

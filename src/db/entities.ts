/**
 * The storage model, one set of entities for SQLite and PostgreSQL.
 *
 * Foreign keys are plain id columns scoped by `workspaceId`: every query in
 * the service layer filters by workspace, and cascades are done there inside
 * one transaction. Enums are stored as their lowercase slugs (`openai`,
 * `round_robin`), the same words `sluice.yaml` uses. Nested config (pools,
 * scopes, MCP settings) is JSON, validated by the service layer on write.
 */
import { defineEntity, type InferEntity } from '@mikro-orm/core';

const p = defineEntity.properties;

/** Columns every resource has. */
const timestamps = {
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};

export const WorkspaceEntity = defineEntity({
  name: 'Workspace',
  tableName: 'workspaces',
  properties: {
    id: p.string().primary().length(40),
    name: p.string().length(63).unique(),
    displayName: p.string().length(200).default(''),
    description: p.text().default(''),
    logRetentionDays: p.integer().default(0),
    ...timestamps,
  },
});
export type WorkspaceRow = InferEntity<typeof WorkspaceEntity>;

/** Root (workspaceId null) and workspace-scoped admin tokens; only a hash of the secret is kept. */
export const AdminTokenEntity = defineEntity({
  name: 'AdminToken',
  tableName: 'admin_tokens',
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).nullable().index(),
    name: p.string().length(63),
    prefix: p.string().length(32),
    hash: p.string().length(64).unique(),
    expiresAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    ...timestamps,
  },
});
export type AdminTokenRow = InferEntity<typeof AdminTokenEntity>;

export const ProviderEntity = defineEntity({
  name: 'Provider',
  tableName: 'providers',
  uniques: [{ properties: ['workspaceId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    name: p.string().length(63),
    type: p.string().length(32),
    baseUrl: p.string().length(2048).default(''),
    enabled: p.boolean().default(true),
    timeoutMs: p.integer().default(0),
    recordBodies: p.boolean().default(false),
    azureApiVersion: p.string().length(64).default(''),
    mockLatencyMs: p.integer().default(0),
    mockCompletionTokens: p.integer().default(0),
    ...timestamps,
  },
});
export type ProviderRow = InferEntity<typeof ProviderEntity>;

/** A provider credential: an env-var reference or an AES-256-GCM ciphertext (never the plaintext). */
export const ProviderCredentialEntity = defineEntity({
  name: 'ProviderCredential',
  tableName: 'provider_credentials',
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    providerId: p.string().length(40).index(),
    name: p.string().length(63).default(''),
    kind: p.string().length(16),
    envVar: p.string().length(255).default(''),
    ciphertext: p.text().default(''),
    hint: p.string().length(16).default(''),
    enabled: p.boolean().default(true),
    ...timestamps,
  },
});
export type ProviderCredentialRow = InferEntity<typeof ProviderCredentialEntity>;

/** Price override, integer USD micro-dollars per million tokens; absent keys use the catalogue. */
export interface PriceOverride {
  inputPerMtokMicros?: string;
  outputPerMtokMicros?: string;
  cachedInputPerMtokMicros?: string;
  cacheWritePerMtokMicros?: string;
}

export const ModelEntity = defineEntity({
  name: 'Model',
  tableName: 'models',
  uniques: [{ properties: ['providerId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    providerId: p.string().length(40).index(),
    name: p.string().length(255),
    enabled: p.boolean().default(true),
    price: p.json<PriceOverride>().nullable(),
    ...timestamps,
  },
});
export type ModelRow = InferEntity<typeof ModelEntity>;

/** An MCP tool-call rate limit: `scope` gateway or key, `window` second…day, `onStoreFailure` fail_open | fail_closed. */
export interface McpRateLimitDoc {
  scope: string;
  limit: number;
  window: string;
  onStoreFailure: string;
}

export interface McpSettingsDoc {
  deferLoading: boolean;
  blockedTools: string[];
  authorization: string;
  /** Absent in rows written before MCP rate limits existed. */
  rateLimits?: McpRateLimitDoc[];
}

export const GatewayEntity = defineEntity({
  name: 'Gateway',
  tableName: 'gateways',
  uniques: [{ properties: ['workspaceId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    name: p.string().length(63),
    description: p.text().default(''),
    tags: p.json<string[]>(),
    models: p.json<string[]>(),
    modelSelector: p.text().default(''),
    mcp: p.json<McpSettingsDoc>(),
    recordBodies: p.boolean().default(false),
    ...timestamps,
  },
});
export type GatewayRow = InferEntity<typeof GatewayEntity>;

export interface PoolDoc {
  strategy: string;
  members: { provider: string; model: string; weight: number }[];
  fallbackOn: string[];
  attemptTimeoutMs: number;
}

export const RouteEntity = defineEntity({
  name: 'Route',
  tableName: 'routes',
  uniques: [{ properties: ['gatewayId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    gatewayId: p.string().length(40).index(),
    name: p.string().length(63),
    priority: p.integer().default(0),
    condition: p.text().default(''),
    pool: p.json<PoolDoc>(),
    fallbacks: p.json<PoolDoc[]>(),
    enabled: p.boolean().default(true),
    ...timestamps,
  },
});
export type RouteRow = InferEntity<typeof RouteEntity>;

/** Limit scope as stored: `{kind: 'workspace'|'gateway'|'key'}` or `{kind: 'expr', expr}`. */
export interface ScopeDoc {
  kind: 'workspace' | 'gateway' | 'key' | 'expr';
  expr?: string;
}

export const RateLimitEntity = defineEntity({
  name: 'RateLimit',
  tableName: 'rate_limits',
  uniques: [{ properties: ['gatewayId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    gatewayId: p.string().length(40).index(),
    name: p.string().length(63),
    unit: p.string().length(16),
    limit: p.bigint(),
    window: p.string().length(16),
    burst: p.bigint().default(0),
    scope: p.json<ScopeDoc>(),
    onStoreFailure: p.string().length(16),
    ...timestamps,
  },
});
export type RateLimitRow = InferEntity<typeof RateLimitEntity>;

/** A budget; `gatewayId` is '' for workspace-wide budgets (so the unique key works on both dialects). */
export const SpendLimitEntity = defineEntity({
  name: 'SpendLimit',
  tableName: 'spend_limits',
  uniques: [{ properties: ['workspaceId', 'gatewayId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    gatewayId: p.string().length(40).default(''),
    name: p.string().length(63),
    amountMicros: p.bigint(),
    period: p.string().length(16),
    enforcement: p.string().length(16),
    warnAt: p.double().default(0),
    scope: p.json<ScopeDoc>(),
    onStoreFailure: p.string().length(16),
    ...timestamps,
  },
});
export type SpendLimitRow = InferEntity<typeof SpendLimitEntity>;

/** A data-plane key; only the SHA-256 of the secret and a public prefix are kept. */
export const ApiKeyEntity = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  uniques: [{ properties: ['workspaceId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    name: p.string().length(63),
    prefix: p.string().length(32),
    hash: p.string().length(64).unique(),
    metadata: p.json<Record<string, string>>(),
    gateways: p.json<string[]>(),
    defaultGateway: p.string().length(63).default(''),
    expiresAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    ...timestamps,
  },
});
export type ApiKeyRow = InferEntity<typeof ApiKeyEntity>;

export const McpServerEntity = defineEntity({
  name: 'McpServer',
  tableName: 'mcp_servers',
  uniques: [{ properties: ['gatewayId', 'name'] }],
  properties: {
    id: p.string().primary().length(40),
    workspaceId: p.string().length(40).index(),
    gatewayId: p.string().length(40).index(),
    name: p.string().length(63),
    displayName: p.string().length(200).default(''),
    transport: p.string().length(32),
    url: p.string().length(2048).default(''),
    command: p.string().length(1024).default(''),
    args: p.json<string[]>(),
    /** AES-256-GCM ciphertext of the JSON env map; '' when empty. */
    envCiphertext: p.text().default(''),
    envNames: p.json<string[]>(),
    timeoutMs: p.integer().default(0),
    enabled: p.boolean().default(true),
    approved: p.boolean().default(false),
    authMode: p.string().length(16),
    authSecretCiphertext: p.text().default(''),
    deferLoading: p.string().length(16),
    blockedTools: p.json<string[]>(),
    ...timestamps,
  },
});
export type McpServerRow = InferEntity<typeof McpServerEntity>;

/**
 * A single row whose version is bumped by every config mutation, so replicas
 * can tell when their in-memory snapshot is stale.
 */
export const ConfigStateEntity = defineEntity({
  name: 'ConfigState',
  tableName: 'config_state',
  properties: {
    id: p.integer().primary(),
    version: p.bigint(),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type ConfigStateRow = InferEntity<typeof ConfigStateEntity>;

/** One attempt of a request log, as stored (see `AttemptRecord`). */
export interface AttemptDoc {
  provider: string;
  model: string;
  status: number;
  errorCode?: string;
  fallbackReason?: string;
  latencyMs: number;
}

/** What one rate or spend limit decided for a request, as stored. */
export interface LimitOutcomeDoc {
  name: string;
  outcome: 'allowed' | 'rejected' | 'warned' | 'store_unavailable';
  key: string;
  /** Requests or tokens (rate limits), nano-dollars as a decimal string (budgets). */
  remaining: string;
}

/**
 * One data-plane request, written by the log pipeline (src/observability/logs).
 * `workspaceId` is '' for requests rejected before a key was known. Headers and
 * bodies are JSON text (null unless recorded) so that header and text search
 * run the same LIKE on both dialects; `searchText` is the prompt and completion
 * text extracted from them.
 */
export const RequestLogEntity = defineEntity({
  name: 'RequestLog',
  tableName: 'request_logs',
  indexes: [
    { properties: ['workspaceId', 'time'] },
    { properties: ['workspaceId', 'gateway', 'time'] },
    { properties: ['workspaceId', 'model', 'time'] },
    { properties: ['workspaceId', 'requestedModel', 'time'] },
    { properties: ['workspaceId', 'provider', 'time'] },
    { properties: ['workspaceId', 'apiKeyId', 'time'] },
    { properties: ['workspaceId', 'status', 'time'] },
    { properties: ['workspaceId', 'errorCode', 'time'] },
    { properties: ['workspaceId', 'route', 'time'] },
    { properties: ['workspaceId', 'conversationId', 'time'] },
  ],
  properties: {
    id: p.string().primary().length(40),
    time: p.datetime(),
    workspaceId: p.string().length(40),
    gateway: p.string().length(63).default(''),
    apiKeyId: p.string().length(40).default(''),
    apiKeyPrefix: p.string().length(32).default(''),
    endpoint: p.string().length(32),
    requestedModel: p.string().length(255).default(''),
    provider: p.string().length(63).default(''),
    model: p.string().length(255).default(''),
    route: p.string().length(63).default(''),
    celResults: p.json<Record<string, string>>(),
    attempts: p.json<AttemptDoc[]>(),
    status: p.integer(),
    errorCode: p.string().length(64).default(''),
    errorMessage: p.text().default(''),
    rejectedStage: p.string().length(16).default(''),
    latencyMs: p.integer().default(0),
    ttftMs: p.integer().default(0),
    promptTokens: p.integer().default(0),
    completionTokens: p.integer().default(0),
    cachedTokens: p.integer().default(0),
    reasoningTokens: p.integer().default(0),
    cacheWriteTokens: p.integer().default(0),
    costNanos: p.bigint().default(0),
    rateLimits: p.json<LimitOutcomeDoc[]>(),
    spendLimits: p.json<LimitOutcomeDoc[]>(),
    conversationId: p.string().length(255).default(''),
    streamed: p.boolean().default(false),
    clientAborted: p.boolean().default(false),
    bodiesTruncated: p.boolean().default(false),
    requestHeaders: p.text().nullable(),
    responseHeaders: p.text().nullable(),
    requestBody: p.text().nullable(),
    responseBody: p.text().nullable(),
    searchText: p.text().nullable(),
  },
});
export type RequestLogRow = InferEntity<typeof RequestLogEntity>;

/** One MCP tool call, written by the log pipeline; `input`/`output` are JSON text, null unless recorded. */
export const McpCallLogEntity = defineEntity({
  name: 'McpCallLog',
  tableName: 'mcp_call_logs',
  indexes: [
    { properties: ['workspaceId', 'time'] },
    { properties: ['workspaceId', 'gateway', 'time'] },
    { properties: ['workspaceId', 'server', 'time'] },
    { properties: ['workspaceId', 'tool', 'time'] },
    { properties: ['workspaceId', 'apiKeyId', 'time'] },
    { properties: ['workspaceId', 'status', 'time'] },
  ],
  properties: {
    id: p.string().primary().length(40),
    time: p.datetime(),
    workspaceId: p.string().length(40),
    gateway: p.string().length(63).default(''),
    apiKeyId: p.string().length(40).default(''),
    server: p.string().length(63),
    tool: p.string().length(255),
    latencyMs: p.integer().default(0),
    status: p.string().length(16),
    errorMessage: p.text().default(''),
    input: p.text().nullable(),
    output: p.text().nullable(),
    parentId: p.string().length(40).default(''),
  },
});
export type McpCallLogRow = InferEntity<typeof McpCallLogEntity>;

/**
 * Metrics rollups (src/observability/metrics): the aggregates of settled requests per
 * (resolution, bucket, dimensions). `id` is `<resolution>:<bucket start>:<hash of the dimensions>`;
 * every replica merges its cells into the same row (sketches merged in a transaction).
 * `bucketStart` is epoch seconds; the sketches are `LatencySketch.encode()` bytes.
 */
export const MetricRollupEntity = defineEntity({
  name: 'MetricRollup',
  tableName: 'metric_rollups',
  indexes: [{ properties: ['workspaceId', 'resolution', 'projection', 'bucketStart'] }, { properties: ['resolution', 'bucketStart'] }],
  properties: {
    id: p.string().primary().length(80),
    workspaceId: p.string().length(40),
    resolution: p.integer(),
    bucketStart: p.bigint(),
    /** Which dimensions the row keeps (bit mask, see `PROJECTIONS`); the others hold `*` (status -1). */
    projection: p.integer().default(63),
    gateway: p.string().length(200).default(''),
    model: p.string().length(200).default(''),
    provider: p.string().length(200).default(''),
    apiKeyId: p.string().length(200).default(''),
    route: p.string().length(200).default(''),
    status: p.integer(),
    requests: p.bigint().default(0),
    errors: p.bigint().default(0),
    fallbacks: p.bigint().default(0),
    promptTokens: p.bigint().default(0),
    completionTokens: p.bigint().default(0),
    cachedTokens: p.bigint().default(0),
    reasoningTokens: p.bigint().default(0),
    costNanos: p.bigint().default(0),
    latencySumMs: p.double().default(0),
    latencySketch: p.blob(),
    ttftSketch: p.blob(),
  },
});
export type MetricRollupRow = InferEntity<typeof MetricRollupEntity>;

/** Every entity, in dependency order (for schema generation and tests). */
export const entities = [
  WorkspaceEntity,
  AdminTokenEntity,
  ProviderEntity,
  ProviderCredentialEntity,
  ModelEntity,
  GatewayEntity,
  RouteEntity,
  RateLimitEntity,
  SpendLimitEntity,
  ApiKeyEntity,
  McpServerEntity,
  ConfigStateEntity,
  RequestLogEntity,
  McpCallLogEntity,
  MetricRollupEntity,
];

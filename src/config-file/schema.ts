/**
 * The `sluice.yaml` model: the validated, normalised form of the file
 * (defaults filled in, enums as Protobuf numbers, money as integer
 * micro-dollars, unnamed limits named), and `validateConfig`, which turns
 * the parsed YAML value into it while collecting every problem by path.
 * Everything the file omits takes the documented default: the file is the
 * whole truth for each resource it names (see README.md).
 */
import { createHash } from 'node:crypto';
import { ProviderType, ProviderTypeSchema } from '@sluice/client/gen/provider';
import {
  FallbackTriggerSchema,
  McpRateLimitScope,
  McpRateLimitScopeSchema,
  PoolStrategy,
  PoolStrategySchema,
  RateLimitUnitSchema,
  RateLimitWindowSchema,
  SpendEnforcement,
  SpendEnforcementSchema,
  SpendPeriodSchema,
  StoreFailureMode,
  StoreFailureModeSchema,
  type FallbackTrigger,
  type RateLimitUnit,
  type RateLimitWindow,
  type SpendPeriod,
} from '@sluice/client/gen/gateway';
import { DeferLoading, DeferLoadingSchema, McpAuthMode, McpTransport, McpTransportSchema } from '@sluice/client/gen/mcp_server';
import { checkCel, formatCelProblem, MAX_CEL_LENGTH, MAX_KEY_EXPR_LENGTH, type CelExpected, type CelSurface } from '../policy/cel.js';
import { enumSlug } from '../services/enums.js';
import { hasEnoughEntropy } from '../security/tokens.js';
import { ConfigReader, type MapReader, type ScalarSources } from './reader.js';

/** The whole file. */
export interface SluiceConfig {
  workspaces: WorkspaceConfig[];
}

/** A workspace and everything declared in it. */
export interface WorkspaceConfig {
  name: string;
  displayName: string;
  description: string;
  /** 0 means the server default. */
  logRetentionDays: number;
  providers: ProviderConfig[];
  gateways: GatewayConfig[];
  /** Workspace-wide budgets (not tied to a gateway). */
  spendLimits: SpendLimitConfig[];
  apiKeys: ApiKeyConfig[];
}

/**
 * A credential the file manages. `name` is what the credential is called on
 * the server: `file-<first 12 hex of sha256(secret)>` for a literal secret,
 * `file-env-<var>` for an environment-variable reference.
 */
export type CredentialConfig = { kind: 'value'; name: string; value: string } | { kind: 'env'; name: string; envVar: string };

/** An upstream provider. */
export interface ProviderConfig {
  name: string;
  type: ProviderType;
  baseUrl: string;
  enabled: boolean;
  timeoutMs: number;
  recordBodies: boolean;
  azureApiVersion: string;
  mock: { latencyMs: number; completionTokens: number };
  credentials: CredentialConfig[];
  models: ModelConfig[];
}

/** Price override in USD micro-dollars per million tokens; unset fields use the catalogue. */
export interface PriceConfig {
  inputPerMtokMicros?: bigint;
  outputPerMtokMicros?: bigint;
  cachedInputPerMtokMicros?: bigint;
  cacheWritePerMtokMicros?: bigint;
}

/** A model of a provider; its public name is `<provider>/<name>`. */
export interface ModelConfig {
  name: string;
  enabled: boolean;
  price: PriceConfig;
}

/** A gateway with its routing, limits and MCP configuration. */
export interface GatewayConfig {
  name: string;
  description: string;
  tags: string[];
  /** Public model names (`<provider>/<model>`); empty means every enabled model. */
  models: string[];
  modelSelector: string;
  /** Keep request and response headers and bodies in the request log for this gateway's traffic. */
  recordBodies: boolean;
  mcp: { deferLoading: boolean; blockedTools: string[]; authorization: string; rateLimits: McpRateLimitConfig[] };
  routes: RouteConfig[];
  rateLimits: RateLimitConfig[];
  spendLimits: SpendLimitConfig[];
  mcpServers: McpServerConfig[];
}

/** One pool of interchangeable members. */
export interface PoolConfig {
  strategy: PoolStrategy;
  members: { provider: string; model: string; weight: number }[];
  /** Sorted; empty means every trigger. */
  fallbackOn: FallbackTrigger[];
  attemptTimeoutMs: number;
}

/** A route; `priority` is the given one or ten times its index in the file. */
export interface RouteConfig {
  name: string;
  priority: number;
  condition: string;
  enabled: boolean;
  pool: PoolConfig;
  fallbacks: PoolConfig[];
}

/** Which requests share a limit's counter. */
export type ScopeConfig = { kind: 'workspace' | 'gateway' | 'key' } | { kind: 'expr'; expr: string };

/** A rate limit; unnamed ones are called `<unit>-per-<window>-<scope>`. */
export interface RateLimitConfig {
  name: string;
  unit: RateLimitUnit;
  limit: bigint;
  window: RateLimitWindow;
  burst: bigint;
  scope: ScopeConfig;
  onStoreFailure: StoreFailureMode;
}

/** A budget; unnamed ones are called `<period>-<scope>`. */
export interface SpendLimitConfig {
  name: string;
  amountMicros: bigint;
  period: SpendPeriod;
  enforcement: SpendEnforcement;
  warnAt: number;
  scope: ScopeConfig;
  onStoreFailure: StoreFailureMode;
}

/** A cap on MCP tool calls: `scope` key (default) or gateway. */
export interface McpRateLimitConfig {
  scope: McpRateLimitScope;
  limit: bigint;
  window: RateLimitWindow;
  onStoreFailure: StoreFailureMode;
}

/** An upstream MCP server of a gateway; `name` is the file's `id`. */
export interface McpServerConfig {
  name: string;
  displayName: string;
  transport: McpTransport;
  url: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  timeoutMs: number;
  auth: { mode: McpAuthMode; secret: string };
  deferLoading: DeferLoading;
  approved: boolean;
  enabled: boolean;
  blockedTools: string[];
}

/** A data-plane API key. */
export interface ApiKeyConfig {
  name: string;
  gateways: string[];
  defaultGateway: string;
  metadata: Record<string, string>;
  expireTime?: Date;
  /** A known secret to import at creation; otherwise the server generates one. */
  secret?: string;
}

/** Credentials created from the file carry this name prefix; only they are ever deleted by an apply. */
export const FILE_CREDENTIAL_PREFIX = 'file-';

/** The first 12 hex digits of SHA-256, the only trace of a literal secret kept in a credential name. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 12);
}

const KEYS = {
  top: ['workspaces'],
  workspace: ['name', 'display_name', 'description', 'log_retention_days', 'providers', 'gateways', 'spend_limits', 'api_keys'],
  provider: ['name', 'type', 'base_url', 'api_key', 'api_keys', 'api_key_env', 'enabled', 'timeout_ms', 'record_bodies', 'azure_api_version', 'mock', 'models'],
  mock: ['latency_ms', 'completion_tokens'],
  model: ['name', 'enabled', 'price'],
  price: ['input_per_mtok', 'output_per_mtok', 'cached_input_per_mtok', 'cache_write_per_mtok'],
  gateway: ['name', 'description', 'tags', 'models', 'model_selector', 'record_bodies', 'routes', 'rate_limits', 'spend_limits', 'mcp', 'mcp_servers'],
  route: ['name', 'priority', 'condition', 'enabled', 'pool', 'fallbacks'],
  pool: ['strategy', 'members', 'fallback_on', 'attempt_timeout_ms'],
  member: ['provider', 'model', 'weight'],
  rateLimit: ['name', 'unit', 'limit', 'window', 'burst', 'scope', 'on_store_failure'],
  spendLimit: ['name', 'amount_usd', 'period', 'enforcement', 'warn_at', 'scope', 'on_store_failure'],
  scopeExpr: ['expr'],
  mcp: ['defer_loading', 'blocked_tools', 'authorization', 'rate_limits'],
  mcpRateLimit: ['scope', 'limit', 'window', 'on_store_failure'],
  mcpServer: ['id', 'display_name', 'transport', 'url', 'command', 'args', 'env', 'timeout_ms', 'auth', 'defer_loading', 'approved', 'enabled', 'blocked_tools'],
  mcpAuth: ['static'],
  apiKey: ['name', 'gateways', 'default_gateway', 'metadata', 'expires', 'secret'],
} as const satisfies Record<string, readonly string[]>;

const UNNAMED_HINT = '; give the limits distinct names';
const WINDOW_ALIASES = { '1s': 'second', '1m': 'minute', '1h': 'hour', '1d': 'day' } as const;
/** Provider credential env vars, as the provider service accepts them. */
const ENV_VAR = /^[A-Z_][A-Z0-9_]*$/;
/** Gateway-level blocked tools: `server:tool`, `server:*`, `*:tool`. */
const GATEWAY_TOOL_PATTERN = /^([a-z0-9][a-z0-9-]{0,62}|\*):([A-Za-z0-9_.\-*]{1,128})$/;
/** Server-level blocked tools match the tool's own name. */
const SERVER_TOOL_PATTERN = /^[A-Za-z0-9_.\-*]{1,128}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** A name and the path it was read from, for duplicate checks. */
interface Named {
  name: string;
  path: string;
}

function checkUnique(r: ConfigReader, items: readonly Named[], what: string, hint = ''): void {
  const first = new Map<string, string>();
  for (const item of items) {
    if (!item.name) continue;
    const prev = first.get(item.name);
    if (prev === undefined) first.set(item.name, item.path);
    else r.add(item.path, `duplicate ${what} "${item.name}" (first at ${prev})${hint}`);
  }
}

/** Reads `name` as a slug and remembers where, for the duplicate check. */
function slugName(m: MapReader, names: Named[], key = 'name'): string {
  const name = m.string(key, { required: true, slug: true });
  names.push({ name, path: m.at(key) });
  return name;
}

/** A list of strings without repeats. */
function distinct(r: ConfigReader, m: MapReader, key: string, values: string[]): string[] {
  values.forEach((value, i) => {
    const first = values.indexOf(value);
    if (first < i) r.add(`${m.at(key)}[${i}]`, `duplicate of ${m.at(key)}[${first}]`);
  });
  return values;
}

/** A list of strings each matching `pattern` (described as `what`). */
function patterns(r: ConfigReader, m: MapReader, key: string, pattern: RegExp, what: string): string[] {
  const values = m.stringList(key);
  values.forEach((value, i) => {
    if (value && !pattern.test(value)) r.add(`${m.at(key)}[${i}]`, `must be ${what}, got ${JSON.stringify(value)}`);
  });
  return values;
}

function readCredentials(r: ConfigReader, m: MapReader): CredentialConfig[] {
  const out: CredentialConfig[] = [];
  const names: Named[] = [];
  if (m.has('api_key') && m.has('api_keys')) r.add(m.at('api_keys'), 'use either api_key or api_keys, not both');
  const literal = (path: string, value: unknown): void => {
    const secret = r.string(path, value, { required: true });
    if (!secret) return;
    const name = `${FILE_CREDENTIAL_PREFIX}${secretFingerprint(secret)}`;
    names.push({ name, path });
    out.push({ kind: 'value', name, value: secret });
  };
  if (m.has('api_key')) literal(m.at('api_key'), m.raw('api_key'));
  r.list(m.at('api_keys'), m.raw('api_keys'), (path, value) => literal(path, value));
  const reference = (path: string, value: unknown): void => {
    const envVar = r.string(path, value, { required: true });
    if (!envVar) return;
    if (!ENV_VAR.test(envVar)) {
      r.add(path, `must be an environment variable name (uppercase letters, digits and "_"), got ${JSON.stringify(envVar)}`);
      return;
    }
    const readable = `${FILE_CREDENTIAL_PREFIX}env-${envVar.toLowerCase().replace(/_/g, '-')}`;
    const name = readable.length <= 63 ? readable : `${FILE_CREDENTIAL_PREFIX}env-${secretFingerprint(`env:${envVar}`)}`;
    names.push({ name, path });
    out.push({ kind: 'env', name, envVar });
  };
  // `api_key_env` takes one variable name or a list of them.
  if (Array.isArray(m.raw('api_key_env'))) r.list(m.at('api_key_env'), m.raw('api_key_env'), reference);
  else if (m.has('api_key_env')) reference(m.at('api_key_env'), m.raw('api_key_env'));
  checkUnique(r, names, 'credential');
  return out;
}

function readModel(r: ConfigReader, path: string, value: unknown, names: Named[]): ModelConfig | undefined {
  const m = r.map(path, value, KEYS.model);
  if (!m) return undefined;
  const name = m.string('name', { required: true, maxLength: 255 });
  names.push({ name, path: m.at('name') });
  if (/\s/.test(name)) r.add(m.at('name'), `must not contain whitespace, got ${JSON.stringify(name)}`);
  const price: PriceConfig = {};
  if (m.has('price')) {
    const p = r.map(m.at('price'), m.raw('price'), KEYS.price);
    if (p) {
      price.inputPerMtokMicros = p.micros('input_per_mtok');
      price.outputPerMtokMicros = p.micros('output_per_mtok');
      price.cachedInputPerMtokMicros = p.micros('cached_input_per_mtok');
      price.cacheWritePerMtokMicros = p.micros('cache_write_per_mtok');
    }
  }
  return { name, enabled: m.bool('enabled', true), price };
}

/**
 * A CEL expression at `key`, checked as the control API checks it on save
 * (length, syntax, types, result type `expected`), so that `sluice apply`
 * refuses it before any call. A blank optional expression means "none".
 */
function celExpression(
  r: ConfigReader,
  m: MapReader,
  key: string,
  expected: CelExpected,
  options: { maxLength: number; required?: boolean; surface?: CelSurface },
): string {
  const raw = m.raw(key);
  // An unquoted `true` (e.g. `condition: true`) is a YAML boolean; it is the CEL literal of the same name.
  const source = typeof raw === 'boolean' ? String(raw) : m.string(key, { maxLength: options.maxLength, required: options.required });
  if (source === '' || source.length > options.maxLength || (!options.required && !source.trim())) return source;
  const checked = checkCel(source, expected, options.surface);
  if (!checked.ok) r.add(m.at(key), formatCelProblem(checked));
  return source;
}

function readUrl(r: ConfigReader, m: MapReader, key: string): string {
  const url = m.string(key);
  if (url && !/^https?:\/\/[^\s/]+/.test(url)) r.add(m.at(key), `must be an http:// or https:// URL, got ${JSON.stringify(url)}`);
  return url;
}

function readProvider(r: ConfigReader, path: string, value: unknown, names: Named[]): ProviderConfig | undefined {
  const m = r.map(path, value, KEYS.provider);
  if (!m) return undefined;
  const name = slugName(m, names);
  const type = m.enumValue('type', ProviderTypeSchema, { required: true }) as ProviderType;
  const baseUrl = readUrl(r, m, 'base_url');
  if (!baseUrl && (type === ProviderType.AZURE_OPENAI || type === ProviderType.OPENAI_COMPATIBLE)) {
    r.add(m.at('base_url'), `required for type ${enumSlug(ProviderTypeSchema, type)}`);
  }
  const azureApiVersion = m.string('azure_api_version', { maxLength: 64 });
  if (type === ProviderType.AZURE_OPENAI && !azureApiVersion) r.add(m.at('azure_api_version'), 'required for type azure_openai');
  const mock = { latencyMs: 0, completionTokens: 0 };
  if (m.has('mock')) {
    if (type !== ProviderType.MOCK && type !== ProviderType.UNSPECIFIED) r.add(m.at('mock'), 'only for type mock');
    const mm = r.map(m.at('mock'), m.raw('mock'), KEYS.mock);
    if (mm) {
      mock.latencyMs = mm.int('latency_ms', { max: 600_000 });
      mock.completionTokens = mm.int('completion_tokens', { max: 100_000 });
    }
  }
  const modelNames: Named[] = [];
  const models = m.list('models', (p, v) => readModel(r, p, v, modelNames));
  checkUnique(r, modelNames, 'model');
  return {
    name,
    type,
    baseUrl,
    enabled: m.bool('enabled', true),
    timeoutMs: m.int('timeout_ms', { max: 3_600_000 }),
    recordBodies: m.bool('record_bodies', false),
    azureApiVersion,
    mock,
    credentials: readCredentials(r, m),
    models,
  };
}

function readPool(r: ConfigReader, path: string, value: unknown): PoolConfig | undefined {
  const m = r.map(path, value, KEYS.pool);
  if (!m) return undefined;
  const members = m.list('members', (p, v) => {
    const mm = r.map(p, v, KEYS.member);
    if (!mm) return undefined;
    return {
      provider: mm.string('provider', { required: true, slug: true }),
      model: mm.string('model', { required: true }),
      weight: mm.int('weight', { min: 1, max: 1000, default: 1 }),
    };
  });
  const rawMembers = m.raw('members');
  if (rawMembers === undefined || rawMembers === null || (Array.isArray(rawMembers) && rawMembers.length === 0)) {
    r.add(m.at('members'), 'must list at least one member');
  }
  const fallbackOn = m.list('fallback_on', (p, v) => r.enumValue(p, v, FallbackTriggerSchema, { required: true }) as FallbackTrigger);
  return {
    strategy: m.enumValue('strategy', PoolStrategySchema, { default: PoolStrategy.PRIORITY }) as PoolStrategy,
    members,
    fallbackOn: [...new Set(fallbackOn)].sort((a, b) => a - b),
    attemptTimeoutMs: m.int('attempt_timeout_ms', { max: 3_600_000 }),
  };
}

function readRoute(r: ConfigReader, path: string, value: unknown, index: number, names: Named[]): RouteConfig | undefined {
  const m = r.map(path, value, KEYS.route);
  if (!m) return undefined;
  const name = slugName(m, names);
  const pool = m.has('pool') ? readPool(r, m.at('pool'), m.raw('pool')) : undefined;
  if (!m.has('pool')) r.add(m.at('pool'), 'required');
  return {
    name,
    priority: m.int('priority', { min: -1_000_000, max: 1_000_000, default: index * 10 }),
    condition: celExpression(r, m, 'condition', 'bool', { maxLength: MAX_CEL_LENGTH }),
    enabled: m.bool('enabled', true),
    pool: pool ?? { strategy: PoolStrategy.PRIORITY, members: [], fallbackOn: [], attemptTimeoutMs: 0 },
    fallbacks: m.list('fallbacks', (p, v) => readPool(r, p, v)),
  };
}

type NamedScope = 'workspace' | 'gateway' | 'key';

/** `scope`: one of `words` (the first is the default) or `{ expr: '<CEL>' }`. */
function readScope(r: ConfigReader, m: MapReader, fallback: NamedScope, words: readonly NamedScope[]): ScopeConfig {
  const raw = m.raw('scope');
  if (raw === undefined || raw === null) return { kind: fallback };
  if (typeof raw === 'string') {
    const kind = words.find((w) => w === raw);
    if (kind) return { kind };
    r.add(m.at('scope'), `must be one of ${words.join(', ')} or { expr: '<CEL>' }, got ${JSON.stringify(raw)}`);
    return { kind: fallback };
  }
  const s = r.map(m.at('scope'), raw, KEYS.scopeExpr);
  return { kind: 'expr', expr: s ? celExpression(r, s, 'expr', 'key', { maxLength: MAX_KEY_EXPR_LENGTH, required: true }) : '' };
}

function scopeLabel(scope: ScopeConfig): string {
  return scope.kind === 'expr' ? `expr-${secretFingerprint(scope.expr).slice(0, 8)}` : scope.kind;
}

function readRateLimit(r: ConfigReader, path: string, value: unknown, names: Named[]): RateLimitConfig | undefined {
  const m = r.map(path, value, KEYS.rateLimit);
  if (!m) return undefined;
  const unit = m.enumValue('unit', RateLimitUnitSchema, { required: true }) as RateLimitUnit;
  const window = m.enumValue('window', RateLimitWindowSchema, { required: true, aliases: WINDOW_ALIASES }) as RateLimitWindow;
  const scope = readScope(r, m, 'gateway', ['gateway', 'key']);
  const name = m.has('name')
    ? m.string('name', { required: true, slug: true })
    : `${enumSlug(RateLimitUnitSchema, unit)}-per-${enumSlug(RateLimitWindowSchema, window)}-${scopeLabel(scope)}`;
  names.push({ name, path: m.has('name') ? m.at('name') : path });
  return {
    name,
    unit,
    limit: BigInt(m.int('limit', { required: true, min: 1, max: Number.MAX_SAFE_INTEGER })),
    window,
    burst: BigInt(m.int('burst', { max: Number.MAX_SAFE_INTEGER })),
    scope,
    onStoreFailure: m.enumValue('on_store_failure', StoreFailureModeSchema, { default: StoreFailureMode.FAIL_OPEN }) as StoreFailureMode,
  };
}

function readSpendLimit(r: ConfigReader, path: string, value: unknown, names: Named[], scope0: 'workspace' | 'gateway'): SpendLimitConfig | undefined {
  const m = r.map(path, value, KEYS.spendLimit);
  if (!m) return undefined;
  const period = m.enumValue('period', SpendPeriodSchema, { required: true }) as SpendPeriod;
  const scope = readScope(r, m, scope0, [scope0, 'key']);
  const name = m.has('name') ? m.string('name', { required: true, slug: true }) : `${enumSlug(SpendPeriodSchema, period)}-${scopeLabel(scope)}`;
  names.push({ name, path: m.has('name') ? m.at('name') : path });
  return {
    name,
    amountMicros: m.micros('amount_usd', { required: true, positive: true }) ?? 0n,
    period,
    enforcement: m.enumValue('enforcement', SpendEnforcementSchema, { default: SpendEnforcement.BLOCK }) as SpendEnforcement,
    warnAt: r.fraction(m.at('warn_at'), m.raw('warn_at'), { min: 0, below: 1 }),
    scope,
    onStoreFailure: m.enumValue('on_store_failure', StoreFailureModeSchema, { default: StoreFailureMode.FAIL_OPEN }) as StoreFailureMode,
  };
}

function readMcpRateLimit(r: ConfigReader, path: string, value: unknown): McpRateLimitConfig | undefined {
  const m = r.map(path, value, KEYS.mcpRateLimit);
  if (!m) return undefined;
  return {
    scope: m.enumValue('scope', McpRateLimitScopeSchema, { default: McpRateLimitScope.KEY }) as McpRateLimitScope,
    limit: BigInt(m.int('limit', { required: true, min: 1, max: Number.MAX_SAFE_INTEGER })),
    window: m.enumValue('window', RateLimitWindowSchema, { required: true, aliases: WINDOW_ALIASES }) as RateLimitWindow,
    onStoreFailure: m.enumValue('on_store_failure', StoreFailureModeSchema, { default: StoreFailureMode.FAIL_OPEN }) as StoreFailureMode,
  };
}

function readMcpAuth(r: ConfigReader, m: MapReader): McpServerConfig['auth'] {
  const raw = m.raw('auth');
  if (raw === undefined || raw === null || raw === 'none') return { mode: McpAuthMode.NONE, secret: '' };
  if (raw === 'forward') return { mode: McpAuthMode.FORWARD, secret: '' };
  if (typeof raw === 'string') {
    r.add(m.at('auth'), `must be none, forward or { static: <secret> }, got ${JSON.stringify(raw)}`);
    return { mode: McpAuthMode.NONE, secret: '' };
  }
  const a = r.map(m.at('auth'), raw, KEYS.mcpAuth);
  return { mode: McpAuthMode.STATIC, secret: a ? a.string('static', { required: true }) : '' };
}

function readMcpServer(r: ConfigReader, path: string, value: unknown, names: Named[]): McpServerConfig | undefined {
  const m = r.map(path, value, KEYS.mcpServer);
  if (!m) return undefined;
  const name = slugName(m, names, 'id');
  const transport = m.enumValue('transport', McpTransportSchema, { default: McpTransport.STREAMABLE_HTTP }) as McpTransport;
  const url = readUrl(r, m, 'url');
  const command = m.string('command');
  if (transport === McpTransport.STDIO) {
    if (!command) r.add(m.at('command'), 'required for transport stdio');
    if (url) r.add(m.at('url'), 'only for transports streamable_http and sse');
  } else if (transport !== McpTransport.UNSPECIFIED) {
    if (!url) r.add(m.at('url'), `required for transport ${enumSlug(McpTransportSchema, transport)}`);
    for (const key of ['command', 'args', 'env']) if (m.has(key)) r.add(m.at(key), 'only for transport stdio');
  }
  return {
    name,
    displayName: m.string('display_name', { maxLength: 200 }),
    transport,
    url,
    command,
    args: m.stringList('args'),
    env: m.stringMap('env'),
    timeoutMs: m.int('timeout_ms', { max: 600_000 }),
    auth: readMcpAuth(r, m),
    deferLoading: m.enumValue('defer_loading', DeferLoadingSchema, { default: DeferLoading.INHERIT }) as DeferLoading,
    approved: m.bool('approved', true),
    enabled: m.bool('enabled', true),
    blockedTools: patterns(r, m, 'blocked_tools', SERVER_TOOL_PATTERN, 'a tool name or pattern with "*" wildcards'),
  };
}

function readGateway(r: ConfigReader, path: string, value: unknown, names: Named[]): GatewayConfig | undefined {
  const m = r.map(path, value, KEYS.gateway);
  if (!m) return undefined;
  const name = slugName(m, names);
  const mcp = { deferLoading: false, blockedTools: [] as string[], authorization: '', rateLimits: [] as McpRateLimitConfig[] };
  if (m.has('mcp')) {
    const mm = r.map(m.at('mcp'), m.raw('mcp'), KEYS.mcp);
    if (mm) {
      mcp.deferLoading = mm.bool('defer_loading', false);
      mcp.blockedTools = patterns(r, mm, 'blocked_tools', GATEWAY_TOOL_PATTERN, '"server:tool", "server:*" or "*:tool"');
      mcp.authorization = celExpression(r, mm, 'authorization', 'bool', { maxLength: MAX_CEL_LENGTH, surface: 'mcp' });
      mcp.rateLimits = mm.list('rate_limits', (p, v) => readMcpRateLimit(r, p, v));
    }
  }
  const routeNames: Named[] = [];
  const rateNames: Named[] = [];
  const spendNames: Named[] = [];
  const serverNames: Named[] = [];
  const gateway: GatewayConfig = {
    name,
    description: m.string('description', { maxLength: 4000 }),
    tags: distinct(r, m, 'tags', m.stringList('tags', { slug: true })),
    models: distinct(r, m, 'models', m.stringList('models')),
    modelSelector: celExpression(r, m, 'model_selector', 'string', { maxLength: MAX_CEL_LENGTH }),
    recordBodies: m.bool('record_bodies', false),
    mcp,
    routes: m.list('routes', (p, v, i) => readRoute(r, p, v, i, routeNames)),
    rateLimits: m.list('rate_limits', (p, v) => readRateLimit(r, p, v, rateNames)),
    spendLimits: m.list('spend_limits', (p, v) => readSpendLimit(r, p, v, spendNames, 'gateway')),
    mcpServers: m.list('mcp_servers', (p, v) => readMcpServer(r, p, v, serverNames)),
  };
  checkUnique(r, routeNames, 'route');
  checkUnique(r, rateNames, 'rate limit', UNNAMED_HINT);
  checkUnique(r, spendNames, 'spend limit', UNNAMED_HINT);
  checkUnique(r, serverNames, 'MCP server id');
  return gateway;
}

function readApiKey(r: ConfigReader, path: string, value: unknown, names: Named[]): ApiKeyConfig | undefined {
  const m = r.map(path, value, KEYS.apiKey);
  if (!m) return undefined;
  const name = slugName(m, names);
  const gateways = distinct(r, m, 'gateways', m.stringList('gateways', { slug: true }));
  const key: ApiKeyConfig = {
    name,
    gateways,
    // As on the server: a key allowed on exactly one gateway defaults to it.
    defaultGateway: m.string('default_gateway', { slug: true }) || (gateways.length === 1 ? (gateways[0] ?? '') : ''),
    metadata: m.stringMap('metadata'),
  };
  if (m.has('expires')) {
    const text = m.string('expires');
    const ms = ISO_TIME.test(text) ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(ms)) r.add(m.at('expires'), `must be an ISO 8601 time such as 2027-01-01T00:00:00Z, got ${JSON.stringify(text)}`);
    else key.expireTime = new Date(ms);
  }
  if (m.has('secret')) {
    const secret = m.string('secret', { required: true });
    if (secret && !hasEnoughEntropy(secret, 'apiKey')) {
      r.add(m.at('secret'), 'must be an sk-sluice-… key with at least 22 random letters, digits, "_" or "-" after the prefix');
    }
    key.secret = secret;
  }
  return key;
}

/** Cross-references inside one workspace: pools, gateway models and API key gateways. */
function checkReferences(r: ConfigReader, base: string, ws: WorkspaceConfig): void {
  const models = new Map(ws.providers.map((p) => [p.name, new Set(p.models.map((m) => m.name))]));
  const gateways = new Set(ws.gateways.map((g) => g.name));
  const checkPool = (path: string, pool: PoolConfig): void => {
    for (const member of pool.members) {
      const known = models.get(member.provider);
      if (!member.provider || !member.model) continue;
      if (!known) r.add(path, `unknown provider ${JSON.stringify(member.provider)}`);
      else if (!known.has(member.model)) r.add(path, `provider ${JSON.stringify(member.provider)} has no model ${JSON.stringify(member.model)}`);
    }
  };
  ws.gateways.forEach((g, gi) => {
    const gp = `${base}.gateways[${gi}]`;
    g.models.forEach((publicName, mi) => {
      const slash = publicName.indexOf('/');
      const provider = slash > 0 ? publicName.slice(0, slash) : '';
      const known = models.get(provider);
      const path = `${gp}.models[${mi}]`;
      if (slash <= 0) r.add(path, `must be "<provider>/<model>", got ${JSON.stringify(publicName)}`);
      else if (!known) r.add(path, `unknown provider ${JSON.stringify(provider)}`);
      else if (!known.has(publicName.slice(slash + 1))) r.add(path, `unknown model ${JSON.stringify(publicName)}`);
    });
    g.routes.forEach((route, ri) => {
      checkPool(`${gp}.routes[${ri}].pool`, route.pool);
      route.fallbacks.forEach((f, fi) => checkPool(`${gp}.routes[${ri}].fallbacks[${fi}]`, f));
    });
  });
  ws.apiKeys.forEach((k, ki) => {
    const kp = `${base}.api_keys[${ki}]`;
    k.gateways.forEach((g, i) => {
      if (g && !gateways.has(g)) r.add(`${kp}.gateways[${i}]`, `unknown gateway ${JSON.stringify(g)}`);
    });
    // A default that is also listed is already reported by the list check.
    if (k.defaultGateway && !gateways.has(k.defaultGateway) && !k.gateways.includes(k.defaultGateway)) {
      r.add(`${kp}.default_gateway`, `unknown gateway ${JSON.stringify(k.defaultGateway)}`);
    } else if (k.defaultGateway && k.gateways.length > 0 && !k.gateways.includes(k.defaultGateway)) {
      r.add(`${kp}.default_gateway`, `must be one of the key's gateways (${k.gateways.join(', ')})`);
    }
  });
}

function readWorkspace(r: ConfigReader, path: string, value: unknown, names: Named[]): WorkspaceConfig | undefined {
  const m = r.map(path, value, KEYS.workspace);
  if (!m) return undefined;
  const providerNames: Named[] = [];
  const gatewayNames: Named[] = [];
  const spendNames: Named[] = [];
  const keyNames: Named[] = [];
  const ws: WorkspaceConfig = {
    name: slugName(m, names),
    displayName: m.string('display_name', { maxLength: 200 }),
    description: m.string('description', { maxLength: 4000 }),
    logRetentionDays: m.int('log_retention_days', { max: 3650 }),
    providers: m.list('providers', (p, v) => readProvider(r, p, v, providerNames)),
    gateways: m.list('gateways', (p, v) => readGateway(r, p, v, gatewayNames)),
    spendLimits: m.list('spend_limits', (p, v) => readSpendLimit(r, p, v, spendNames, 'workspace')),
    apiKeys: m.list('api_keys', (p, v) => readApiKey(r, p, v, keyNames)),
  };
  checkUnique(r, providerNames, 'provider');
  checkUnique(r, gatewayNames, 'gateway');
  checkUnique(r, spendNames, 'spend limit', UNNAMED_HINT);
  checkUnique(r, keyNames, 'API key');
  checkReferences(r, path, ws);
  return ws;
}

/**
 * Validates the parsed file. Returns every problem as `path: message`
 * (e.g. `workspaces[0].gateways[1].routes[0].pool: unknown provider "x"`) and
 * the normalised config only when there is none. Never throws on bad input.
 */
export function validateConfig(value: unknown, sources?: ScalarSources): { config?: SluiceConfig; problems: string[] } {
  const r = new ConfigReader(sources);
  const top = r.map('', value, KEYS.top);
  if (!top) return { problems: r.problems };
  if (!top.has('workspaces')) r.add('workspaces', 'required');
  const names: Named[] = [];
  const workspaces = top.list('workspaces', (p, v) => readWorkspace(r, p, v, names));
  checkUnique(r, names, 'workspace');
  return r.problems.length > 0 ? { problems: r.problems } : { config: { workspaces }, problems: [] };
}

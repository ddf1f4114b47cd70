/**
 * Current usage of rate limits and budgets, for `GatewayService.GetGatewayUsage`
 * and `ApiKeyService.GetApiKeyUsage`. Counters are read from the store the
 * data plane uses (`ServiceDeps.counters`) with `peekRates` (a check of cost 0
 * that charges nothing) and `spend`, under the same counter keys the limit
 * stages build (`<limit id>:<scope value>`), and the spend period is computed
 * with the stages' clock (`ServiceDeps.now`). The limits come from the
 * database, so a limit saved a moment ago is reported even before the
 * snapshot has it.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { EntityManager } from '@mikro-orm/core';
import { ApiKeyEntity, RateLimitEntity, SpendLimitEntity, type ApiKeyRow, type GatewayRow, type RateLimitRow, type SpendLimitRow } from '../db/entities.js';
import { SluiceError } from '../errors.js';
import type { RateLimitUsageSchema, SpendLimitUsageSchema } from '../gen/sluice/v1/gateway_pb.js';
import { compileCel, type CompiledCel } from '../policy/cel.js';
import { periodFor } from '../policy/counters/periods.js';
import type { CounterStore, RateCheck } from '../policy/counters/types.js';
import { counterKey, exprScopeValue } from '../policy/limits/admission.js';
import { toRuntimeRateLimit, toRuntimeSpendLimit } from '../policy/limits/config.js';
import { toRateLimit, toSpendLimit } from './gateway-service.js';
import type { ServiceDeps } from './store.js';

/** Longest `scope_value` accepted: a CEL key value as the stages see it. */
export const MAX_SCOPE_VALUE_LENGTH = 4096;

/** Which per-key and per-value counters to read. */
export interface UsageSubject {
  /** For limits scoped per API key. */
  apiKeyId?: string;
  /** For limits scoped by a CEL key expression. */
  scopeValue?: string;
}

export interface Usage {
  rateLimits: MessageInitShape<typeof RateLimitUsageSchema>[];
  spendLimits: MessageInitShape<typeof SpendLimitUsageSchema>[];
  readTime: Timestamp;
}

// Only the scope kind and the window/period matter here; a key expression is compiled
// so that an expression that no longer compiles is reported as the stages treat it.
const compile = (_what: string, source: string): CompiledCel | undefined => {
  try {
    return compileCel(source);
  } catch {
    return undefined;
  }
};

function countersOf(deps: ServiceDeps): CounterStore {
  if (!deps.counters) throw new SluiceError('unavailable', 'usage needs the rate and spend counters, which this process has not opened');
  return deps.counters;
}

/** The scope value a request of `subject` would be counted under, and the counter's public name; undefined when none was named. */
function subjectScope(kind: string, gateway: GatewayRow | undefined, workspaceId: string, subject: UsageSubject): { scope: string; name: string } | undefined {
  switch (kind) {
    case 'workspace':
      return { scope: `w:${workspaceId}`, name: 'workspace' };
    case 'gateway':
      return gateway ? { scope: `g:${gateway.id}`, name: 'gateway' } : undefined;
    case 'key':
      return subject.apiKeyId ? { scope: `k:${subject.apiKeyId}`, name: `key:${subject.apiKeyId}` } : undefined;
    case 'expr':
      return subject.scopeValue !== undefined && subject.scopeValue !== '' ? { scope: exprScopeValue(subject.scopeValue), name: `expr:${subject.scopeValue}` } : undefined;
    default:
      return undefined;
  }
}

/** Micro-dollars of a nano-dollar amount, rounded up. */
const microsUp = (nanos: bigint): bigint => (nanos + 999n) / 1000n;

/**
 * Usage of `rates` (each with its gateway) and `budgets` (each with its
 * gateway, or none for a workspace-wide budget), for `subject`.
 */
export async function readUsage(
  deps: ServiceDeps,
  workspaceId: string,
  rates: readonly { row: RateLimitRow; gateway: GatewayRow }[],
  budgets: readonly { row: SpendLimitRow; gateway?: GatewayRow }[],
  subject: UsageSubject,
): Promise<Usage> {
  const store = countersOf(deps);
  const nowMs = (deps.now ?? Date.now)();
  const at = new Date(nowMs);

  const checks: RateCheck[] = [];
  const rateRows = rates.map(({ row, gateway }) => {
    const runtime = toRuntimeRateLimit(row, compile);
    const target = typeof runtime === 'string' ? undefined : subjectScope(runtime.scope.kind, gateway, workspaceId, subject);
    if (typeof runtime === 'string' || !target) return { row, counter: '' };
    checks.push({ key: counterKey(runtime.id, target.scope), windowMs: runtime.windowMs, limit: runtime.limit, burst: runtime.burst, cost: 0 });
    return { row, counter: target.name, check: checks.length - 1 };
  });
  const peeked = checks.length ? await store.peekRates(checks) : undefined;
  const rateLimits = rateRows.map(({ row, counter, check }) => {
    const decision = check === undefined ? undefined : peeked?.decisions[check];
    if (!decision) return { rateLimit: toRateLimit(row), counter };
    return {
      rateLimit: toRateLimit(row),
      counter,
      used: BigInt(decision.used),
      remaining: BigInt(decision.remaining),
      resetTime: decision.resetMs > 0 ? timestampFromMs(peeked!.atMs + decision.resetMs) : undefined,
    };
  });

  const spendLimits = await Promise.all(
    budgets.map(async ({ row, gateway }) => {
      const runtime = toRuntimeSpendLimit(row, compile);
      const target = typeof runtime === 'string' ? undefined : subjectScope(runtime.scope.kind, gateway, workspaceId, subject);
      if (typeof runtime === 'string' || !target) return { spendLimit: toSpendLimit(row), counter: '' };
      const period = periodFor(runtime.period, at);
      const spend = await store.spend(counterKey(runtime.id, target.scope), period.key);
      const used = spend.settledNanos + spend.reservedNanos;
      const left = runtime.limitNanos - used;
      // The spend stage's rule (spent ≥ warn_at × amount, in millionths), or the amount itself.
      const warnMillionths = runtime.warnAt > 0 ? BigInt(Math.round(runtime.warnAt * 1_000_000)) : 1_000_000n;
      return {
        spendLimit: toSpendLimit(row),
        counter: target.name,
        period: period.key,
        periodStartTime: timestampFromMs(period.start.getTime()),
        resetTime: timestampFromMs(period.end.getTime()),
        spentMicros: microsUp(spend.settledNanos),
        reservedMicros: microsUp(spend.reservedNanos),
        remainingMicros: left > 0n ? left / 1000n : 0n,
        warning: used * 1_000_000n >= warnMillionths * runtime.limitNanos,
        exhausted: left <= 0n,
      };
    }),
  );
  return { rateLimits, spendLimits, readTime: timestampFromMs(nowMs) };
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The rate limits and budgets of one gateway (workspace-wide budgets first), read for `subject`. */
export async function gatewayUsage(deps: ServiceDeps, em: EntityManager, gateway: GatewayRow, subject: UsageSubject): Promise<Usage> {
  const [rates, budgets] = await Promise.all([
    em.find(RateLimitEntity, { gatewayId: gateway.id }),
    em.find(SpendLimitEntity, { workspaceId: gateway.workspaceId, gatewayId: { $in: ['', gateway.id] } }),
  ]);
  const workspaceWide = budgets.filter((b) => b.gatewayId === '').sort(byName);
  const own = budgets.filter((b) => b.gatewayId === gateway.id).sort(byName);
  return readUsage(
    deps,
    gateway.workspaceId,
    rates.sort(byName).map((row) => ({ row, gateway })),
    [...workspaceWide.map((row) => ({ row })), ...own.map((row) => ({ row, gateway }))],
    subject,
  );
}

/**
 * The key's own counters: rate limits scoped per key on the gateways it may
 * use (every gateway of the workspace when its list is empty), and budgets
 * scoped per key (workspace-wide, then of those gateways).
 */
export async function apiKeyUsage(deps: ServiceDeps, em: EntityManager, key: ApiKeyRow, gateways: readonly GatewayRow[]): Promise<Usage> {
  const allowed = key.gateways.length ? gateways.filter((g) => key.gateways.includes(g.name)) : [...gateways];
  allowed.sort(byName);
  const ids = allowed.map((g) => g.id);
  const [rates, budgets] = await Promise.all([
    ids.length ? em.find(RateLimitEntity, { gatewayId: { $in: ids } }) : Promise.resolve([]),
    em.find(SpendLimitEntity, { workspaceId: key.workspaceId, gatewayId: { $in: ['', ...ids] } }),
  ]);
  const perKey = <T extends { name: string; scope: { kind: string } }>(rows: T[]): T[] => rows.filter((r) => r.scope.kind === 'key').sort(byName);
  const rateList = allowed.flatMap((g) => perKey(rates.filter((r) => r.gatewayId === g.id)).map((row) => ({ row, gateway: g })));
  const budgetList = [
    ...perKey(budgets.filter((b) => b.gatewayId === '')).map((row) => ({ row })),
    ...allowed.flatMap((g) => perKey(budgets.filter((b) => b.gatewayId === g.id)).map((row) => ({ row, gateway: g }))),
  ];
  return readUsage(deps, key.workspaceId, rateList, budgetList, { apiKeyId: key.id });
}

/** Loads the API key `id` of `workspaceId` for a usage query; another workspace's key is `not_found`. */
export async function loadUsageKey(em: EntityManager, workspaceId: string, id: string): Promise<ApiKeyRow> {
  const key = await em.findOne(ApiKeyEntity, { id });
  if (!key || key.workspaceId !== workspaceId) throw SluiceError.notFound('api key', id);
  return key;
}

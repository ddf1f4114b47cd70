import { describe, expect, it, vi } from 'vitest';
import type { RuntimeApiKey, RuntimeGateway, RuntimeModel, RuntimeProvider, RuntimeSnapshot, RuntimeWorkspace } from '../../config/snapshot.js';
import type { RateLimitRow, SpendLimitRow } from '../../db/entities.js';
import { SluiceError } from '../../errors.js';
import { priceFor } from '../../observability/pricing/price-catalogue.js';
import { compileCel } from '../cel.js';
import type { ProxyContext } from '../context.js';
import { CounterStoreUnavailable } from '../counters/errors.js';
import { createMemoryCounterStore } from '../counters/memory-store.js';
import type { CounterStore } from '../counters/types.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, maxOutputTokens, scopeValue } from './admission.js';
import { toRuntimeRateLimit, toRuntimeSpendLimit, type RuntimeRateLimit, type RuntimeSpendLimit } from './config.js';
import { createLimitHooks, formatResetDuration } from './index.js';

const provider: RuntimeProvider = {
  id: 'prv_1', name: 'mock', kind: 'mock', baseUrl: '', timeoutMs: 1000, recordBodies: false, azureApiVersion: '', mock: { latencyMs: 0, completionTokens: 16 }, credentials: [],
};
const pricedModel: RuntimeModel = {
  publicName: 'mock/echo', name: 'echo', provider, createdAt: 0,
  modelPrice: priceFor({ providerKind: 'mock', upstreamModel: 'echo', override: { inputPerMtokMicros: '0', outputPerMtokMicros: '1000000', cachedInputPerMtokMicros: '0', cacheWritePerMtokMicros: '0' } }),
};

function context(options: { rateLimits?: RuntimeRateLimit[]; spendLimits?: RuntimeSpendLimit[]; model?: RuntimeModel; body?: Record<string, unknown>; headers?: Record<string, string> } = {}): ProxyContext {
  const model = options.model ?? pricedModel;
  const workspace: RuntimeWorkspace = { id: 'ws_1', name: 'acme', gateways: new Map(), providers: new Map([[provider.name, provider]]), spendLimits: [] };
  const gateway: RuntimeGateway = {
    id: 'gw_1', name: 'main', workspace, models: new Map([[model.publicName, model]]), modelList: [model], routes: [], readsBody: false, recordBodies: false,
    rateLimits: options.rateLimits ?? [], spendLimits: options.spendLimits ?? [], pricedModels: new Map([[model.publicName, model]]),
  };
  workspace.gateways.set(gateway.name, gateway);
  const key: RuntimeApiKey = { id: 'key_1', name: 'k', prefix: 'sk', workspace, metadata: {}, gateways: new Set(), defaultGateway: 'main', revoked: false };
  const snapshot: RuntimeSnapshot = { version: 1n, keysByHash: new Map(), workspaces: new Map([[workspace.id, workspace]]), problems: [] };
  return {
    requestId: 'req_1', startedAt: 0, surface: 'openai-chat', endpoint: 'chat_completions', snapshot, method: 'POST', path: '/v1/chat/completions',
    headers: options.headers ?? {}, query: {}, body: { model: model.publicName, messages: [{ role: 'user', content: 'hi' }], ...options.body }, stream: false,
    requestedModel: model.publicName, key, gateway, celResults: {}, pools: [], attempts: [], responseHeaders: {},
  };
}

const rpm = (overrides: Partial<RuntimeRateLimit> = {}): RuntimeRateLimit => ({
  id: 'rl_1', name: 'rpm', unit: 'requests', limit: 2, windowMs: 60_000, burst: 0, scope: { kind: 'gateway' }, onStoreFailure: 'fail_open', ...overrides,
});
const daily = (overrides: Partial<RuntimeSpendLimit> = {}): RuntimeSpendLimit => ({
  id: 'sp_1', name: 'daily', limitNanos: 100_000n, period: 'daily', block: true, warnAt: 0, scope: { kind: 'gateway' }, onStoreFailure: 'fail_open', ...overrides,
});
const quietLog = () => ({ warn: vi.fn() });
const settled = () => new Promise((r) => setTimeout(r, 10));

describe('formatResetDuration', () => {
  it('writes durations as OpenAI does', () => {
    expect([0, 20, 999, 1000, 1500, 59_999, 60_000, 360_000, 3_723_000].map(formatResetDuration)).toEqual(['0s', '20ms', '999ms', '1s', '1.5s', '59.999s', '1m0s', '6m0s', '1h2m3s']);
  });
});

describe('limit config', () => {
  const compile = (_what: string, source: string) => compileCel(source);
  it('converts rows and rejects what cannot be enforced', () => {
    const row = { id: 'rl_1', name: 'rpm', unit: 'tokens', limit: 100n, window: 'hour', burst: 10n, scope: { kind: 'key' }, onStoreFailure: 'fail_closed' } as RateLimitRow;
    expect(toRuntimeRateLimit(row, compile)).toMatchObject({ unit: 'tokens', limit: 100, windowMs: 3_600_000, burst: 10, scope: { kind: 'key' }, onStoreFailure: 'fail_closed' });
    expect(toRuntimeRateLimit({ ...row, window: 'week' }, compile)).toBe('rate limit rpm: unknown window "week"');
    expect(toRuntimeRateLimit({ ...row, burst: 101n }, compile)).toMatch(/out of range/);
    const budget = { id: 'sp_1', name: 'b', amountMicros: 5n, period: 'weekly', enforcement: 'alert', warnAt: 0.8, scope: { kind: 'workspace' }, onStoreFailure: '' } as SpendLimitRow;
    expect(toRuntimeSpendLimit(budget, compile)).toMatchObject({ limitNanos: 5000n, period: 'weekly', block: false, warnAt: 0.8, onStoreFailure: 'fail_open' });
  });
});

describe('admission helpers', () => {
  it('reserves max_completion_tokens, max_tokens or the default, times n; nothing for embeddings', () => {
    expect(maxOutputTokens(context({ body: { max_tokens: 50 } }))).toBe(50);
    expect(maxOutputTokens(context({ body: { max_tokens: 50, max_completion_tokens: 70, n: 2 } }))).toBe(140);
    expect(maxOutputTokens(context())).toBe(DEFAULT_MAX_OUTPUT_TOKENS);
    expect(maxOutputTokens({ ...context(), endpoint: 'embeddings' })).toBe(0);
  });

  it('scopes by CEL value and records a runtime error as "does not apply"', () => {
    const expr = { kind: 'expr' as const, expr: compileCel('request.headers["x-user-id"]') };
    const ok = context({ headers: { 'x-user-id': 'alice' } });
    expect(scopeValue(expr, ok, 'rate_limit:u')).toBe('e:alice');
    expect(ok.celResults['rate_limit:u']).toBe('alice');
    const missing = context();
    expect(scopeValue(expr, missing, 'rate_limit:u')).toBeUndefined();
    expect(missing.celResults['rate_limit:u']).toMatch(/^error: /);
    expect(scopeValue({ kind: 'key' }, ok, 'x')).toBe('k:key_1');
  });
});

describe('limit hooks', () => {
  it('charges requests, sets headers and rejects past the limit with retryAfterSeconds', async () => {
    const hooks = createLimitHooks({ store: createMemoryCounterStore(), log: quietLog() });
    const ctx = context({ rateLimits: [rpm()] });
    await hooks.rateLimit(ctx);
    expect(ctx.responseHeaders).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1' });
    await hooks.rateLimit(context({ rateLimits: [rpm()] }));
    const third = context({ rateLimits: [rpm()] });
    const err = await Promise.resolve(hooks.rateLimit(third)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).details).toMatchObject({ code: 'rate_limit_exceeded' });
    expect((err as SluiceError).details.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(third.responseHeaders?.['x-ratelimit-remaining-requests']).toBe('0');
  });

  it('refunds a token reservation and releases a budget when nothing was served; settles the real cost otherwise', async () => {
    const store = createMemoryCounterStore();
    const next = vi.fn();
    const hooks = createLimitHooks({ store, log: quietLog(), next });
    const tpm = rpm({ id: 'rl_t', unit: 'tokens', limit: 1000 });
    const rejected = context({ rateLimits: [tpm], spendLimits: [daily()], body: { max_tokens: 10 } });
    await hooks.rateLimit(rejected);
    await hooks.spendLimit(rejected);
    const period = new Date().toISOString().slice(0, 10);
    expect((await store.spend('sp_1:g:gw_1', period)).reservedNanos).toBe(10_000n);
    hooks.settle(rejected);
    expect(next).toHaveBeenCalledWith(rejected);
    await settled();
    expect(await store.spend('sp_1:g:gw_1', period)).toEqual({ settledNanos: 0n, reservedNanos: 0n });
    const peek = await store.peekRates([{ key: 'rl_t:g:gw_1', windowMs: 60_000, limit: 1000, burst: 0, cost: 0 }]);
    expect(peek.decisions[0]!.used).toBe(0);

    const served = context({ spendLimits: [daily()], body: { max_tokens: 10 } });
    await hooks.spendLimit(served);
    served.served = { provider: 'mock', model: 'echo' };
    served.usage = { promptTokens: 3, completionTokens: 4, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
    served.clientAborted = true;
    hooks.settle(served);
    await settled();
    expect(await store.spend('sp_1:g:gw_1', period)).toEqual({ settledNanos: 4000n, reservedNanos: 0n });
  });

  it('reserves 0 for an unpriced model (logged once); a priced worst case above the budget is blocked', async () => {
    const store = createMemoryCounterStore();
    const log = quietLog();
    const hooks = createLimitHooks({ store, log });
    const unpriced: RuntimeModel = { ...pricedModel, publicName: 'mock/free', name: 'free', modelPrice: undefined };
    await hooks.spendLimit(context({ model: unpriced, spendLimits: [daily()] }));
    await hooks.spendLimit(context({ model: unpriced, spendLimits: [daily()] }));
    expect(log.warn).toHaveBeenCalledTimes(1);
    const err = await Promise.resolve(hooks.spendLimit(context({ model: unpriced, spendLimits: [daily({ id: 'sp_0', limitNanos: 0n })] }))).catch((e: unknown) => e);
    expect(err).toBeUndefined();
    const spent = context({ spendLimits: [daily({ id: 'sp_2', limitNanos: 5_000n })], body: { max_tokens: 10 } });
    const blocked = await Promise.resolve(hooks.spendLimit(spent)).catch((e: unknown) => e);
    expect((blocked as SluiceError).details.code).toBe('spend_limit_exceeded');
  });

  it('fails open or closed on a store outage, and settle never throws', async () => {
    const down = new CounterStoreUnavailable();
    const broken: CounterStore = {
      checkRates: () => Promise.reject(down), peekRates: () => Promise.reject(down), adjustRates: () => Promise.reject(down), reserveBudgets: () => Promise.reject(down),
      settleBudget: () => Promise.reject(down), releaseBudget: () => Promise.reject(down), spend: () => Promise.reject(down), close: () => Promise.resolve(),
    };
    const log = quietLog();
    const hooks = createLimitHooks({ store: broken, log });
    await hooks.rateLimit(context({ rateLimits: [rpm()] }));
    const closed = await Promise.resolve(hooks.rateLimit(context({ rateLimits: [rpm(), rpm({ id: 'rl_2', onStoreFailure: 'fail_closed' })] }))).catch((e: unknown) => e);
    expect(closed).toBe(down);
    expect((closed as SluiceError).details.code).toBe('counter_store_unavailable');
    expect(log.warn).toHaveBeenCalledTimes(1); // throttled
    const mem = createMemoryCounterStore();
    const flaky: CounterStore = {
      checkRates: (c) => mem.checkRates(c), peekRates: (c) => mem.peekRates(c), adjustRates: (a) => mem.adjustRates(a), reserveBudgets: (r) => mem.reserveBudgets(r),
      settleBudget: () => Promise.reject(down), releaseBudget: () => Promise.reject(down), spend: (k, p) => mem.spend(k, p), close: () => mem.close(),
    };
    const settleLog = quietLog();
    const flakyHooks = createLimitHooks({ store: flaky, log: settleLog });
    const ctx = context({ spendLimits: [daily()], body: { max_tokens: 10 } });
    await flakyHooks.spendLimit(ctx);
    expect(() => flakyHooks.settle(ctx)).not.toThrow();
    await settled();
    expect(settleLog.warn).toHaveBeenCalledWith(expect.objectContaining({ err: down }), 'settle: could not settle rate limits or budgets');
  });
});

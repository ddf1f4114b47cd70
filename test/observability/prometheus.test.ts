/**
 * `/metrics` over real HTTP after traffic through the official openai SDK:
 * the exposition parses with a Prometheus text-format parser, carries the
 * OpenTelemetry GenAI metrics (token usage, request duration, time to first
 * token) and the Sluice counters with the right values, folds labels past
 * the cap into `other`, includes gauges other modules register, and can be
 * put behind a bearer token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { ProviderType } from '@sluice/client/gen/provider';
import { RateLimitUnit, RateLimitWindow } from '@sluice/client/gen/gateway';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { registerGauge } from '../../src/observability/prometheus/gauges.js';

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

/**
 * Scrapes and parses the exposition (the parser throws on any malformed line). The parser folds
 * the label sets of a histogram into one entry, so histogram series are also returned unfolded:
 * the same text parsed with the histogram TYPE lines left out, where `<name>_sum`, `<name>_count`
 * and `<name>_bucket` become families of their own with their labels.
 */
async function scrapeAll(s: RunningSluice, token?: string): Promise<{ families: Family[]; series: Family[] }> {
  const res = await fetch(`${s.baseUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const families = parsePrometheusTextFormat(text) as Family[];
  const series = parsePrometheusTextFormat(text.split('\n').filter((l) => !/^# TYPE \S+ histogram$/.test(l)).join('\n')) as Family[];
  return { families, series };
}

async function scrape(s: RunningSluice, token?: string): Promise<Family[]> {
  return (await scrapeAll(s, token)).families;
}

const family = (all: Family[], name: string): Family => {
  const f = all.find((x) => x.name === name);
  if (!f) throw new Error(`no metric family ${name}`);
  return f;
};
/** Every series of `name` in the unfolded parse (a histogram's label sets come as separate runs). */
const seriesOf = (all: Family[], name: string): Family => ({ name, type: 'UNTYPED', metrics: all.filter((x) => x.name === name).flatMap((x) => x.metrics) });
const sum = (f: Family, match: Record<string, string> = {}, field: 'value' | 'count' | 'sum' = 'value') =>
  f.metrics.filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v)).reduce((n, m) => n + Number(m[field] ?? 0), 0);

describe.each(DIALECTS)('Prometheus /metrics on %s', (dialect) => {
  let s: RunningSluice;
  let a: FakeUpstream;
  let b: FakeUpstream;
  let w: BuiltWorkspace;
  const tokens = { input: 0, output: 0 };

  beforeAll(async () => {
    s = await startTestServer(dialect, { metricsLabelCap: 3 });
    a = await startFakeUpstream('openai');
    b = await startFakeUpstream('openai');
    w = await buildWorkspace(s, {
      workspace: 'prom',
      providers: [
        { name: 'a', type: ProviderType.OPENAI, baseUrl: a.url, models: ['gpt-4o', 'gpt-4o-mini', 'o3', 'o4-mini'] },
        { name: 'b', type: ProviderType.OPENAI, baseUrl: b.url, models: ['gpt-4o'] },
      ],
      gateway: { routes: [{ name: 'main', condition: 'request.model == "gpt-4o"', pool: { members: [{ provider: 'a', model: 'gpt-4o' }] }, fallbacks: [{ members: [{ provider: 'b', model: 'gpt-4o' }] }] }] },
    });
    await w.client.gateways.createRateLimit({
      gatewayId: w.gatewayId,
      rateLimit: { name: 'per-key', unit: RateLimitUnit.REQUESTS, limit: 1000n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'key', value: true } } },
    });
    await s.sluice.snapshots.refresh();
    const client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0 });
    const add = (u: { prompt_tokens: number; completion_tokens: number } | null | undefined) => {
      tokens.input += u?.prompt_tokens ?? 0;
      tokens.output += u?.completion_tokens ?? 0;
    };
    for (let i = 0; i < 3; i++) add((await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hi ${i}` }] })).usage);
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream' }] });
    for await (const chunk of stream) if (chunk.usage) add(chunk.usage);
    a.enqueue({ status: 429 });
    add((await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'fallback' }] })).usage);
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404 });
    // Four more distinct models than the cap of 3 values per label allows.
    for (const m of ['a/gpt-4o-mini', 'a/o3', 'a/o4-mini']) add((await client.chat.completions.create({ model: m, messages: [{ role: 'user', content: 'cap' }] })).usage);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s?.close();
  });

  it('exposes the GenAI metrics and the Sluice counters with the values of the traffic', async () => {
    const all = await scrape(s);
    const requests = family(all, 'sluice_requests_total');
    expect(requests.type).toBe('COUNTER');
    expect(sum(requests)).toBe(9);
    expect(sum(requests, { status: '404' })).toBe(1);
    expect(sum(requests, { provider: 'b', model: 'b/gpt-4o' })).toBe(1);
    expect(sum(family(all, 'sluice_rejections_total'), { stage: 'route', code: 'model_not_found' })).toBe(1);
    expect(sum(family(all, 'sluice_fallbacks_total'), { provider: 'a', reason: 'rate_limited' })).toBe(1);

    expect(family(all, 'gen_ai_client_token_usage').type).toBe('HISTOGRAM');
    expect(family(all, 'gen_ai_server_request_duration_seconds').type).toBe('HISTOGRAM');
    expect(family(all, 'gen_ai_server_time_to_first_token_seconds').type).toBe('HISTOGRAM');
    const { series } = await scrapeAll(s);
    expect(sum(seriesOf(series, 'gen_ai_client_token_usage_sum'), { gen_ai_token_type: 'input' })).toBe(tokens.input);
    expect(sum(seriesOf(series, 'gen_ai_client_token_usage_sum'), { gen_ai_token_type: 'output' })).toBe(tokens.output);
    expect(sum(seriesOf(series, 'gen_ai_client_token_usage_count'), { gen_ai_token_type: 'input', gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai' })).toBe(8);
    expect(sum(seriesOf(series, 'gen_ai_server_request_duration_seconds_count'))).toBe(8);
    const les = seriesOf(series, 'gen_ai_server_request_duration_seconds_bucket').metrics.map((m) => m.labels!.le);
    expect([...new Set(les)]).toEqual(['0.01', '0.02', '0.04', '0.08', '0.16', '0.32', '0.64', '1.28', '2.56', '5.12', '10.24', '20.48', '40.96', '81.92', '+Inf']);
    expect(sum(seriesOf(series, 'gen_ai_server_time_to_first_token_seconds_count'))).toBe(8);
    expect(sum(family(all, 'sluice_cost_usd_total'))).toBeGreaterThan(0);
    expect(sum(family(all, 'sluice_limit_checks_total'), { kind: 'rate', limit: 'per-key', outcome: 'allowed' })).toBe(9);
    expect(family(all, 'sluice_metrics_rollup_pending_cells').type).toBe('GAUGE');
    expect(family(all, 'process_cpu_user_seconds_total').type).toBe('COUNTER');
  });

  it('folds label values past the cap into "other"', async () => {
    const all = await scrape(s);
    const models = new Set(family(all, 'sluice_requests_total').metrics.map((m) => m.labels!.model));
    expect(models.size).toBeLessThanOrEqual(4);
    expect(models.has('other')).toBe(true);
    expect(sum(family(all, 'sluice_metrics_label_values_folded_total'))).toBeGreaterThan(0);
  });

  it('includes gauges other modules register', async () => {
    let depth = 7;
    const unregister = registerGauge('sluice_test_queue_depth', 'A test gauge', () => depth);
    expect(sum(family(await scrape(s), 'sluice_test_queue_depth'))).toBe(7);
    depth = 9;
    expect(sum(family(await scrape(s), 'sluice_test_queue_depth'))).toBe(9);
    unregister();
    expect((await scrape(s)).some((f) => f.name === 'sluice_test_queue_depth')).toBe(false);
  });

  it('needs the bearer token when SLUICE_METRICS_TOKEN is set', async () => {
    const token = 'metrics-token-0123456789';
    const locked = await startTestServer(dialect, { metricsToken: token });
    try {
      expect((await fetch(`${locked.baseUrl}/metrics`)).status).toBe(401);
      expect((await fetch(`${locked.baseUrl}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      expect(family(await scrape(locked, token), 'sluice_requests_total').type).toBe('COUNTER');
    } finally {
      await locked.close();
    }
  });
});

/**
 * OTLP trace export against an in-process OTLP/HTTP receiver (a node http
 * server decoding the JSON `ExportTraceServiceRequest`): a request that
 * falls back yields a SERVER span with the GenAI attributes, joined to the
 * caller's `traceparent`, and one CLIENT child span per provider attempt,
 * nested in time; the configured headers and service name arrive; an
 * unreachable collector costs the request nothing and is counted.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { ProviderType } from '@sluice/client/gen/provider';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { freePort } from '../helpers/cli.js';
import type { OtlpAttribute, OtlpSpan } from '../../src/observability/otel/spans.js';

interface Export {
  headers: IncomingHttpHeaders;
  body: { resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[] };
}

async function startReceiver(): Promise<{ url: string; exports: Export[]; close(): Promise<void> }> {
  const exports: Export[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(404).end();
        return;
      }
      exports.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Export['body'] });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports, close: () => new Promise((r) => server.close(() => r())) };
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const v = span.attributes.find((a) => a.key === key)?.value as Record<string, unknown> | undefined;
  if (!v) return undefined;
  return 'intValue' in v ? Number(v.intValue) : Object.values(v)[0];
};

describe.each(DIALECTS)('OpenTelemetry traces on %s', (dialect) => {
  let s: RunningSluice;
  let a: FakeUpstream;
  let b: FakeUpstream;
  let w: BuiltWorkspace;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    s = await startTestServer(dialect, { otel: { tracesUrl: `${receiver.url}/v1/traces`, headers: { 'x-collector-key': 'k-123' }, serviceName: 'sluice-test' } });
    a = await startFakeUpstream('openai');
    b = await startFakeUpstream('openai');
    w = await buildWorkspace(s, {
      workspace: 'otel',
      providers: [
        { name: 'a', type: ProviderType.OPENAI, baseUrl: a.url, models: ['gpt-4o'] },
        { name: 'b', type: ProviderType.OPENAI, baseUrl: b.url, models: ['gpt-4o'] },
      ],
      gateway: { routes: [{ name: 'main', pool: { members: [{ provider: 'a', model: 'gpt-4o' }] }, fallbacks: [{ members: [{ provider: 'b', model: 'gpt-4o' }] }] }] },
    });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s?.close();
    await receiver?.close();
  });

  it('exports a request span and one span per attempt with gen_ai attributes', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0, defaultHeaders: { traceparent: `00-${traceId}-${callerSpan}-01` } });
    a.enqueue({ status: 429 });
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'trace me' }] });
    await s.sluice.telemetry.traces!.flush();

    expect(receiver.exports.length).toBeGreaterThan(0);
    const exp = receiver.exports.at(-1)!;
    expect(exp.headers['x-collector-key']).toBe('k-123');
    const resource = exp.body.resourceSpans[0]!;
    expect(resource.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'sluice-test' } });
    const spans = resource.scopeSpans.flatMap((x) => x.spans).filter((x) => x.traceId === traceId);
    expect(spans).toHaveLength(3);

    const server = spans.find((x) => x.kind === 2)!;
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.name).toBe('chat gpt-4o');
    expect(attr(server, 'gen_ai.operation.name')).toBe('chat');
    expect(attr(server, 'gen_ai.provider.name')).toBe('openai');
    expect(attr(server, 'gen_ai.request.model')).toBe('gpt-4o');
    expect(attr(server, 'gen_ai.response.model')).toBe('gpt-4o');
    expect(attr(server, 'gen_ai.usage.input_tokens')).toBe(res.usage!.prompt_tokens);
    expect(attr(server, 'gen_ai.usage.output_tokens')).toBe(res.usage!.completion_tokens);
    expect(attr(server, 'http.response.status_code')).toBe(200);
    expect(attr(server, 'sluice.gateway')).toBe('main');
    expect(attr(server, 'sluice.route')).toBe('main');
    expect(attr(server, 'sluice.attempts')).toBe(2);
    expect(server.status.code).toBe(0);

    const attempts = spans.filter((x) => x.kind === 3).sort((x, y) => Number(attr(x, 'sluice.attempt')) - Number(attr(y, 'sluice.attempt')));
    expect(attempts.map((x) => [attr(x, 'sluice.provider'), attr(x, 'http.response.status_code'), x.status.code])).toEqual([
      ['a', 429, 2],
      ['b', 200, 0],
    ]);
    expect(attr(attempts[0]!, 'sluice.fallback_reason')).toBe('rate_limited');
    expect(attr(attempts[1]!, 'gen_ai.usage.output_tokens')).toBe(res.usage!.completion_tokens);
    for (const x of attempts) {
      expect(x.parentSpanId).toBe(server.spanId);
      expect(attr(x, 'gen_ai.request.model')).toBe('gpt-4o');
      expect(BigInt(x.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
      expect(BigInt(x.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(server.endTimeUnixNano));
      expect(BigInt(x.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(x.startTimeUnixNano));
    }
    expect(BigInt(attempts[1]!.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(attempts[0]!.endTimeUnixNano));
    expect(new Set(spans.map((x) => x.spanId)).size).toBe(3);
  });

  it('starts a new trace without traceparent, and a rejected request has no attempt spans', async () => {
    const client = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: 'sk-sluice-not-a-key', maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 401 });
    const before = receiver.exports.length;
    await s.sluice.telemetry.traces!.flush();
    const spans = receiver.exports.slice(before).flatMap((e) => e.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((x) => x.spans)));
    expect(spans).toHaveLength(1);
    expect(spans[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(spans[0]!.parentSpanId).toBeUndefined();
    expect(attr(spans[0]!, 'http.response.status_code')).toBe(401);
    expect(attr(spans[0]!, 'sluice.rejected_stage')).toBe('authenticate');
  });

  it('an unreachable collector does not slow requests down and is counted', async () => {
    const dead = await startTestServer(dialect, { otel: { tracesUrl: `http://127.0.0.1:${await freePort()}/v1/traces`, headers: {}, serviceName: 'sluice' } });
    try {
      const ws = await buildWorkspace(dead, { workspace: 'otel-dead', providers: [{ name: 'a', type: ProviderType.OPENAI, baseUrl: a.url, models: ['gpt-4o'] }] });
      const client = new OpenAI({ baseURL: `${dead.baseUrl}/v1`, apiKey: ws.apiKey, maxRetries: 0 });
      const started = Date.now();
      for (let i = 0; i < 5; i++) await client.chat.completions.create({ model: 'a/gpt-4o', messages: [{ role: 'user', content: 'x' }] });
      expect(Date.now() - started).toBeLessThan(3000);
      await dead.sluice.telemetry.traces!.flush();
      expect(dead.sluice.telemetry.traces!.stats.droppedSpans).toBe(10);
      expect(dead.sluice.telemetry.traces!.stats.failedExports).toBeGreaterThan(0);
    } finally {
      await dead.close();
    }
  });
});

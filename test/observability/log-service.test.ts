/**
 * The request log end to end, over real HTTP on SQLite and PostgreSQL: the
 * official openai SDK calls a gateway backed by the fake OpenAI upstream,
 * every request (served, streamed, rejected, fallen back) becomes one record,
 * and LogService finds it by every filter, pages through it, and returns the
 * recorded headers (redacted) and bodies (streams reassembled).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Code, ConnectError } from '@connectrpc/connect';
import { createSluiceClient, type SluiceClient } from '@sluice/client';
import { FallbackTrigger, RateLimitUnit, RateLimitWindow } from '@sluice/client/gen/gateway';
import { StatusClass, type RequestLog } from '@sluice/client/gen/log';
import { ProviderType } from '@sluice/client/gen/provider';
import { toJson } from '@bufbuild/protobuf';
import { timestampFromMs, ValueSchema } from '@bufbuild/protobuf/wkt';
import { createSluiceTrpcClient } from '@sluice/trpc-client';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { DIALECTS } from '../helpers/database.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { waitForRequestLogs } from './log-helpers.js';

const codeOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e).code);

describe.each(DIALECTS)('request log on %s', (dialect) => {
  let s: RunningSluice;
  let fake: FakeUpstream;
  let w: BuiltWorkspace;
  let other: BuiltWorkspace;
  let long: BuiltWorkspace;
  let root: SluiceClient;
  let logs: RequestLog[];
  const started = Date.now();

  beforeAll(async () => {
    s = await startTestServer(dialect);
    fake = await startFakeUpstream('openai');
    root = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    w = await buildWorkspace(s, {
      workspace: 'logs',
      providers: [
        { name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url, models: ['gpt-4o', 'gpt-4o-fail-500'] },
      ],
      gateway: {
        routes: [
          { name: 'flaky', condition: 'request.model == "flaky"', pool: { members: [{ provider: 'openai', model: 'gpt-4o-fail-500' }, { provider: 'openai', model: 'gpt-4o' }], fallbackOn: [FallbackTrigger.SERVER_ERROR] } },
          { name: 'direct', condition: 'request.model == "openai/gpt-4o"', pool: { members: [{ provider: 'openai', model: 'gpt-4o' }] } },
        ],
      },
    });
    other = await buildWorkspace(s, { workspace: 'other', providers: [{ name: 'mock', type: ProviderType.MOCK, models: ['echo'] }] });
    await w.client.gateways.createRateLimit({
      gatewayId: w.gatewayId,
      rateLimit: { name: 'per-user', unit: RateLimitUnit.REQUESTS, limit: 1n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'expr', value: 'request.headers["x-user"]' } } },
    });
    await s.sluice.snapshots.refresh();

    const openai = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0 });
    // 1. served, not recorded, with a conversation id
    await openai.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'plain request' }] }, { headers: { 'x-sluice-conversation-id': 'conv-1' } });
    // 2. fallback: the first member answers 500
    await openai.chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'fallback request' }] });
    // 3. unknown model: 404 at the route stage
    await expect(openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404 });
    // 4 and 5. rate limit per x-user: the second is 429
    await openai.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'limited once' }] }, { headers: { 'x-user': 'alice' } });
    await expect(openai.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'limited twice' }] }, { headers: { 'x-user': 'alice' } })).rejects.toMatchObject({ status: 429 });
    // 6. a bad key: 401, no workspace
    await expect(new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: 'sk-sluice-wrong', maxRetries: 0 }).chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 401 });
    // 7 and 8. recording on for the gateway: a stream and a plain request, with headers worth redacting
    await w.client.gateways.updateGateway({ gateway: { id: w.gatewayId, recordBodies: true }, updateMask: { paths: ['record_bodies'] } });
    await s.sluice.snapshots.refresh();
    const stream = await openai.chat.completions.create(
      { model: 'openai/gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Tell me about the Zanzibar sluice' }] },
      { headers: { 'x-team': 'blue', 'x-internal-token': 'secret-value', cookie: 'session=abc' } },
    );
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toContain('Zanzibar');
    await openai.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'recorded plain' }] }, { headers: { 'x-team': 'red' } });
    // A requested model longer than its column, and an unknown gateway name longer than its column: still recorded.
    // (in a workspace of their own, so the other tests count only the requests above).
    long = await buildWorkspace(s, { workspace: 'long', providers: [{ name: 'mock', type: ProviderType.MOCK, models: ['echo'] }] });
    await expect(new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: long.apiKey, maxRetries: 0 }).chat.completions.create({ model: 'x'.repeat(400), messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404 });
    const longGateway = await fetch(`${s.baseUrl}/gateways/${'g'.repeat(100)}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${long.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'openai/gpt-4o', messages: [] }),
    });
    expect(longGateway.status).toBe(404);
    // 9. another workspace's request
    await new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: other.apiKey, maxRetries: 0 }).chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'elsewhere' }] });
    logs = await waitForRequestLogs(s, root, w.workspaceId, 7);
    await waitForRequestLogs(s, root, '-', 11);
  }, 60_000);
  afterAll(async () => {
    await fake?.close();
    await s?.close();
  });

  const byPrompt = async (text: string) => {
    const page = await root.logs.listRequestLogs({ workspaceId: w.workspaceId, text });
    expect(page.requestLogs).toHaveLength(1);
    return (await root.logs.getRequestLog({ id: page.requestLogs[0]!.id })).requestLog!;
  };

  it('cuts client-controlled values to their column sizes instead of losing the record', async () => {
    const all = await waitForRequestLogs(s, root, long.workspaceId, 2);
    expect(all.find((l) => l.requestedModel.length === 255)).toMatchObject({ status: 404, errorCode: 'model_not_found' });
    expect(all.find((l) => l.gateway === 'g'.repeat(63))).toMatchObject({ status: 404 });
    expect(s.sluice.logs.stats().dropped).toBe(0);
  });

  it('records every request of the workspace, newest first, and nothing of the others', () => {
    expect(logs).toHaveLength(7);
    const times = logs.map((l) => Number(l.time!.seconds) * 1000 + l.time!.nanos / 1e6);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(new Set(logs.map((l) => l.workspaceId))).toEqual(new Set([w.workspaceId]));
  });

  it('a served request: model, provider, route, tokens, cost, latency, attempts, key, conversation id', async () => {
    const served = logs.find((l) => l.conversationId === 'conv-1')!;
    expect(served).toMatchObject({
      gateway: 'main', apiKeyId: w.apiKeyId, endpoint: 'chat_completions', requestedModel: 'openai/gpt-4o', provider: 'openai', model: 'gpt-4o',
      route: 'direct', status: 200, errorCode: '', rejectedStage: '', streamed: false,
    });
    expect(served.apiKeyPrefix.length).toBeGreaterThan(4);
    expect(served.usage!.promptTokens).toBeGreaterThan(0n);
    expect(served.usage!.completionTokens).toBeGreaterThan(0n);
    // gpt-4o at the catalogue's $2.50 / $10 per Mtok, rounded up to the nano-dollar.
    const expected = (served.usage!.promptTokens * 2_500_000n + served.usage!.completionTokens * 10_000_000n + 999n) / 1000n;
    expect(served.costNanos).toBe(expected);
    expect(served.celResults['route:direct']).toBe('true');
    expect(served.attempts).toEqual([expect.objectContaining({ provider: 'openai', model: 'gpt-4o', status: 200, fallbackReason: '' })]);
    expect(served.latencyMs).toBeGreaterThanOrEqual(served.timeToFirstTokenMs);
    // Not recorded: no headers, no bodies.
    const full = (await root.logs.getRequestLog({ id: served.id })).requestLog!;
    expect(full.requestHeaders).toEqual({});
    expect(full.requestBody).toBeUndefined();
  });

  it('the attempt chain with the fallback reason', () => {
    const fb = logs.find((l) => l.route === 'flaky')!;
    expect(fb.status).toBe(200);
    expect(fb.model).toBe('gpt-4o');
    expect(fb.attempts.map((a) => [a.model, a.status, a.fallbackReason])).toEqual([
      ['gpt-4o-fail-500', 500, 'server_error'],
      ['gpt-4o', 200, ''],
    ]);
  });

  it('rejections: the stage, the error code and the limit outcomes', async () => {
    const notFound = logs.find((l) => l.requestedModel === 'nope')!;
    expect(notFound).toMatchObject({ status: 404, errorCode: 'model_not_found', rejectedStage: 'route', provider: '', costNanos: 0n });
    const limited = logs.filter((l) => l.rateLimits.length);
    expect(limited.map((l) => [l.status, l.rateLimits[0]!.outcome, l.rateLimits[0]!.key, l.rateLimits[0]!.name]).sort()).toEqual([
      [200, 'allowed', 'e:alice', 'per-user'],
      [429, 'rejected', 'e:alice', 'per-user'],
    ]);
    const rejected = limited.find((l) => l.status === 429)!;
    expect(rejected).toMatchObject({ errorCode: 'rate_limit_exceeded', rejectedStage: 'rate_limit' });
    // Requests without the header are outside the CEL-keyed limit.
    expect(logs.find((l) => l.conversationId === 'conv-1')!.rateLimits).toEqual([]);
    // The 401 belongs to no workspace: root sees it across workspaces.
    const all = await waitForRequestLogs(s, root, '-', 11);
    const unauth = all.find((l) => l.status === 401)!;
    expect(unauth).toMatchObject({ workspaceId: '', apiKeyId: '', errorCode: 'invalid_api_key', rejectedStage: 'authenticate' });
  });

  it('recorded stream: headers redacted, the streamed text reassembled, searchable', async () => {
    const rec = await byPrompt('zanzibar sluice');
    expect(rec.streamed).toBe(true);
    expect(rec.requestHeaders.authorization).toBe('[REDACTED]');
    expect(rec.requestHeaders['x-internal-token']).toBe('[REDACTED]');
    expect(rec.requestHeaders.cookie).toBe('[REDACTED]');
    expect(rec.requestHeaders['x-team']).toBe('blue');
    expect(rec.responseHeaders['x-sluice-provider']).toBe('openai');
    expect(rec.responseHeaders['content-type']).toContain('text/event-stream');
    expect(toJson(ValueSchema, rec.requestBody!)).toMatchObject({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'Tell me about the Zanzibar sluice' }] });
    const response = toJson(ValueSchema, rec.responseBody!) as { object: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(response.object).toBe('chat.completion');
    expect(response.choices[0]!.message).toEqual({ role: 'assistant', content: 'echo: Tell me about the Zanzibar sluice' });
    expect(response.choices[0]!.finish_reason).toBe('stop');
    expect(BigInt(response.usage.completion_tokens)).toBe(rec.usage!.completionTokens);
    // The completion is searchable too, case-insensitively.
    expect((await root.logs.listRequestLogs({ workspaceId: w.workspaceId, text: 'ECHO: TELL ME' })).requestLogs.map((l) => l.id)).toEqual([rec.id]);
    // List pages leave the bodies out.
    const listed = (await root.logs.listRequestLogs({ workspaceId: w.workspaceId, text: 'zanzibar' })).requestLogs[0]!;
    expect(listed.requestBody).toBeUndefined();
    expect(listed.requestHeaders).toEqual({});
  });

  it('filters: header, gateway, model, provider, key, status class, error code, route, conversation, time range', async () => {
    const ids = async (filter: Record<string, unknown>) => (await root.logs.listRequestLogs({ workspaceId: w.workspaceId, ...filter })).requestLogs.map((l) => l.id).sort();
    const where = (pred: (l: RequestLog) => boolean) => logs.filter(pred).map((l) => l.id).sort();
    expect(await ids({ header: 'x-team=blue' })).toEqual(where((l) => l.streamed));
    expect(await ids({ header: 'X-Team=red' })).toHaveLength(1);
    expect(await ids({ header: 'x-team=blu' })).toEqual([]);
    expect(await ids({ gateway: 'main' })).toHaveLength(7);
    expect(await ids({ gateway: 'elsewhere' })).toEqual([]);
    expect(await ids({ model: 'openai/gpt-4o' })).toEqual(where((l) => l.model === 'gpt-4o' || l.requestedModel === 'openai/gpt-4o'));
    expect(await ids({ model: 'nope' })).toEqual(where((l) => l.requestedModel === 'nope'));
    expect(await ids({ provider: 'openai' })).toEqual(where((l) => l.provider === 'openai'));
    expect(await ids({ apiKeyId: w.apiKeyId })).toHaveLength(7);
    expect(await ids({ statusClass: StatusClass.STATUS_CLASS_4XX })).toEqual(where((l) => l.status >= 400 && l.status < 500));
    expect(await ids({ statusClass: StatusClass.STATUS_CLASS_2XX })).toHaveLength(5);
    expect(await ids({ statusClass: StatusClass.STATUS_CLASS_5XX })).toEqual([]);
    expect(await ids({ errorCode: 'rate_limit_exceeded' })).toHaveLength(1);
    expect(await ids({ route: 'flaky' })).toHaveLength(1);
    expect(await ids({ conversationId: 'conv-1' })).toHaveLength(1);
    expect(await ids({ startTime: timestampFromMs(started - 60_000), endTime: timestampFromMs(Date.now() + 1000) })).toHaveLength(7);
    expect(await ids({ startTime: timestampFromMs(Date.now() + 60_000) })).toEqual([]);
    expect(await ids({ endTime: timestampFromMs(started - 60_000) })).toEqual([]);
  });

  it('cursor pagination walks every record once, newest first', async () => {
    const seen: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await root.logs.listRequestLogs({ workspaceId: w.workspaceId, pageSize: 2, pageToken });
      expect(page.requestLogs.length).toBeLessThanOrEqual(2);
      seen.push(...page.requestLogs.map((l) => l.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(pages).toBe(4);
    expect(seen).toEqual(logs.map((l) => l.id));
  });

  it('workspace isolation: a workspace token sees only its own logs', async () => {
    const token = (await root.workspaces.createWorkspaceToken({ workspaceId: other.workspaceId, name: 'reader' })).secret;
    const scoped = createSluiceClient({ baseUrl: s.baseUrl, token });
    const own = await scoped.logs.listRequestLogs({});
    expect(own.requestLogs.map((l) => l.requestedModel)).toEqual(['mock/echo']);
    expect(await codeOf(scoped.logs.listRequestLogs({ workspaceId: w.workspaceId }))).toBe(Code.PermissionDenied);
    expect(await codeOf(scoped.logs.listRequestLogs({ workspaceId: '-' }))).toBe(Code.PermissionDenied);
    expect(await codeOf(scoped.logs.getRequestLog({ id: logs[0]!.id }))).toBe(Code.NotFound);
    expect(await codeOf(scoped.logs.listMcpCallLogs({ workspaceId: w.workspaceId }))).toBe(Code.PermissionDenied);
  });

  it('the pipeline gauges are on /metrics', async () => {
    await s.sluice.logs.pipeline.flush();
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('sluice_log_queue_depth')).toBe(0);
    expect(value('sluice_log_spill_bytes')).toBe(0);
    expect(value('sluice_log_database_up')).toBe(1);
    expect(value('sluice_log_records_written')).toBeGreaterThanOrEqual(9);
    expect(value('sluice_log_records_dropped')).toBe(0);
  });

  it('the same over tRPC', async () => {
    const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const page = (await trpc.log.listRequestLogs.query({ workspaceId: w.workspaceId, errorCode: 'model_not_found' })) as { requestLogs: { id: string; status: number }[] };
    expect(page.requestLogs.map((l) => [l.id, l.status])).toEqual([[logs.find((l) => l.requestedModel === 'nope')!.id, 404]]);
    const one = (await trpc.log.getRequestLog.query({ id: logs[0]!.id })) as { requestLog: { id: string } };
    expect(one.requestLog.id).toBe(logs[0]!.id);
  });

  it('invalid input is invalid_argument naming the field', async () => {
    const field = async (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => {
          const err = ConnectError.from(e);
          expect(err.code).toBe(Code.InvalidArgument);
          return err.message;
        },
      );
    expect(await field(root.logs.listRequestLogs({ workspaceId: w.workspaceId, header: 'no-equals' }))).toContain('header');
    expect(await field(root.logs.listRequestLogs({ workspaceId: w.workspaceId, startTime: timestampFromMs(2000), endTime: timestampFromMs(1000) }))).toContain('end_time');
    expect(await field(root.logs.listRequestLogs({ workspaceId: w.workspaceId, statusClass: 3 as StatusClass }))).toContain('status_class');
    expect(await field(root.logs.listRequestLogs({ workspaceId: w.workspaceId, pageToken: 'garbage' }))).toContain('page_token');
    expect(await field(root.logs.listRequestLogs({ workspaceId: w.workspaceId, pageSize: 5000 }))).toContain('page_size');
    expect(await field(root.logs.listRequestLogs({ workspaceId: w.workspaceId, text: 'x'.repeat(1001) }))).toContain('text');
    expect(await field(root.logs.listRequestLogs({}))).toContain('workspace_id');
    expect(await field(root.logs.getRequestLog({ id: '' }))).toContain('id');
    expect(await field(root.logs.listMcpCallLogs({ workspaceId: w.workspaceId, status: 'weird' }))).toContain('status');
    const mcpToken = (await root.logs.listRequestLogs({ workspaceId: w.workspaceId, pageSize: 1 })).nextPageToken;
    expect(await field(root.logs.listMcpCallLogs({ workspaceId: w.workspaceId, pageToken: mcpToken }))).toContain('page_token');
    expect(await codeOf(root.logs.getRequestLog({ id: 'req_missing' }))).toBe(Code.NotFound);
  });
});

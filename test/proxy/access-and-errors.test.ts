/**
 * Authentication, authorisation and bad input on the data plane: each
 * rejection comes in the surface's envelope (OpenAI on OpenAI routes,
 * Anthropic on /v1/messages) and no provider is called.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ProviderType } from '@sluice/client/gen/provider';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import type { ProxyContext } from '../../src/policy/context.js';

describe('data-plane access and errors', () => {
  let s: RunningSluice;
  let w: BuiltWorkspace;
  let fake: FakeUpstream;
  let other: string;
  let revoked: string;
  let expired: string;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
    fake = await startFakeUpstream('openai');
    w = await buildWorkspace(s, { workspace: 'acme', providers: [{ name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url, models: ['gpt-4o'] }] });
    const provider = (await w.client.providers.listProviders({ workspaceId: w.workspaceId })).providers[0]!;
    await w.client.providers.createModel({ providerId: provider.id, model: { name: 'gpt-4o-mini' } });
    await w.client.gateways.createGateway({ workspaceId: w.workspaceId, gateway: { name: 'other', models: ['openai/gpt-4o-mini'] } });
    other = (await w.client.apiKeys.createApiKey({ workspaceId: w.workspaceId, apiKey: { name: 'other-only', gateways: ['other'] } })).secret;
    const r = await w.client.apiKeys.createApiKey({ workspaceId: w.workspaceId, apiKey: { name: 'revoked', gateways: ['main'] } });
    await w.client.apiKeys.revokeApiKey({ id: r.apiKey!.id });
    revoked = r.secret;
    const e = await w.client.apiKeys.createApiKey({ workspaceId: w.workspaceId, apiKey: { name: 'expiring', gateways: ['main'], expireTime: timestampFromDate(new Date(Date.now() + 1500)) } });
    expired = e.secret;
    await s.sluice.snapshots.refresh();
  });
  afterAll(async () => {
    await fake?.close();
    await s?.close();
  });

  const chat = (body: unknown, headers: Record<string, string> = {}, path = '/v1/chat/completions') =>
    fetch(`${s.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${w.apiKey}`, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const messages = (body: unknown, headers: Record<string, string>) =>
    fetch(`${s.baseUrl}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify(body) });
  const ok = { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] };

  async function expectOpenAIError(res: Response, status: number, code: string | null) {
    expect(res.status).toBe(status);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const body = (await res.json()) as { error: { message: string; type: string; code: string | null; param: string | null } };
    expect(Object.keys(body)).toEqual(['error']);
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
    return body.error;
  }

  it('serves a valid request (the baseline for the rejections below), passing unknown fields through', async () => {
    const res = await chat({ ...ok, vendor_extension: { safe_mode: true } });
    expect(res.status).toBe(200);
    expect(fake.requests.length).toBe(1);
    expect(fake.requests[0]?.body).toMatchObject({ model: 'gpt-4o', vendor_extension: { safe_mode: true } });
    fake.reset();
  });

  it('answers 401 for a missing, unknown, revoked or expired key, in both envelopes', async () => {
    await expectOpenAIError(await chat(ok, { authorization: '' }), 401, 'invalid_api_key');
    await expectOpenAIError(await chat(ok, { authorization: 'Bearer sk-sluice-unknownunknownunknownunknown' }), 401, 'invalid_api_key');
    await expectOpenAIError(await chat(ok, { authorization: `Bearer ${revoked}` }), 401, 'invalid_api_key');
    await new Promise((r) => setTimeout(r, 1600));
    await expectOpenAIError(await chat(ok, { authorization: `Bearer ${expired}` }), 401, 'invalid_api_key');
    const res = await messages({ model: 'openai/gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': 'sk-sluice-nope' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect(fake.requests).toEqual([]);
  });

  it('accepts x-api-key as well as Authorization: Bearer', async () => {
    const res = await chat(ok, { authorization: '', 'x-api-key': w.apiKey });
    expect(res.status).toBe(200);
    fake.reset();
  });

  it('answers 403 for a gateway the key may not use and 404 for unknown gateways and models', async () => {
    await expectOpenAIError(await chat(ok, { authorization: `Bearer ${other}` }, '/gateways/main/v1/chat/completions'), 403, 'gateway_not_allowed');
    await expectOpenAIError(await chat(ok, {}, '/gateways/nope/v1/chat/completions'), 404, 'gateway_not_found');
    const e = await expectOpenAIError(await chat({ ...ok, model: 'openai/gpt-9' }), 404, 'model_not_found');
    expect(e.param).toBe('model');
    const res = await messages({ model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': w.apiKey });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(fake.requests).toEqual([]);
  });

  it('rejects malformed requests with 400 in the right envelope', async () => {
    await expectOpenAIError(await chat('{"model": "openai/gpt-4o", '), 400, 'invalid_json');
    await expectOpenAIError(await chat({ messages: [] }), 400, 'invalid_request');
    await expectOpenAIError(await chat({ model: 'openai/gpt-4o' }), 400, 'invalid_request');
    await expectOpenAIError(await chat({ ...ok, stream: 'yes' }), 400, 'invalid_request');
    await expectOpenAIError(await chat('[1,2]'), 400, 'invalid_request');
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i++) deep = { a: deep };
    await expectOpenAIError(await chat({ ...ok, metadata: deep }), 400, 'invalid_request');
    const res = await fetch(`${s.baseUrl}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': w.apiKey }, body: '{not json' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const big = await chat({ ...ok, padding: 'x'.repeat(33 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(fake.requests).toEqual([]);
  });

  it('answers unknown data-plane paths in the surface envelope', async () => {
    await expectOpenAIError(await fetch(`${s.baseUrl}/v1/completions-nope`, { method: 'POST' }), 404, 'unknown_endpoint');
    const res = await fetch(`${s.baseUrl}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('lists what each gateway serves: every enabled model, or its `models` list', async () => {
    const ids = async (path: string, key: string) =>
      ((await (await fetch(`${s.baseUrl}${path}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(await ids('/gateways/main/v1/models', w.apiKey)).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini']);
    expect(await ids('/v1/models', w.apiKey)).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini']);
    expect(await ids('/gateways/other/v1/models', other)).toEqual(['openai/gpt-4o-mini']);
    // Unprefixed names resolve when unambiguous; models outside the gateway's list do not.
    expect((await chat({ ...ok, model: 'gpt-4o' })).status).toBe(200);
    const outside = await chat(ok, { authorization: `Bearer ${other}` }, '/gateways/other/v1/chat/completions');
    await expectOpenAIError(outside, 404, 'model_not_found');
    fake.reset();
  });
});

describe('requests the body parser refuses', () => {
  let s: RunningSluice;
  const settled: ProxyContext[] = [];
  beforeAll(async () => {
    s = await startTestServer('sqlite', {}, { settle: (ctx) => settled.push(ctx) });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('are settled (logged) too, as rejected at parse, under the request id they were answered with', async () => {
    const bad = await fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-x' }, body: '{"model": ' });
    expect(bad.status).toBe(400);
    const messages = await fetch(`${s.baseUrl}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(messages.status).toBe(400);
    expect(settled.map((c) => [c.endpoint, c.surface, c.rejectedStage, c.status, c.error?.details.code])).toEqual([
      ['chat_completions', 'openai-chat', 'parse', 400, 'invalid_json'],
      ['messages', 'anthropic-messages', 'parse', 400, 'invalid_json'],
    ]);
    expect(settled[0]!.requestId).toBe(bad.headers.get('x-request-id'));
  });
});

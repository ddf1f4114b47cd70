/**
 * Recording switched on per provider (the gateway does not record), on SQLite
 * and PostgreSQL: an Anthropic Messages stream through the official
 * `@anthropic-ai/sdk` is stored with its request and its reassembled
 * message; requests served by a provider that does not record keep no
 * bodies; a client that leaves mid-stream is recorded as aborted with the
 * text it received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { toJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { createSluiceClient, type SluiceClient } from '@sluice/client';
import { SpendEnforcement, SpendPeriod } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import type { RequestLog } from '@sluice/client/gen/log';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { DIALECTS } from '../helpers/database.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { waitForRequestLogs } from './log-helpers.js';

describe.each(DIALECTS)('recording per provider on %s', (dialect) => {
  let s: RunningSluice;
  let anthropicFake: FakeUpstream;
  let openaiFake: FakeUpstream;
  let w: BuiltWorkspace;
  let root: SluiceClient;
  let logs: RequestLog[];

  beforeAll(async () => {
    s = await startTestServer(dialect);
    anthropicFake = await startFakeUpstream('anthropic');
    openaiFake = await startFakeUpstream('openai');
    root = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    w = await buildWorkspace(s, {
      workspace: 'rec',
      providers: [
        { name: 'anthropic', type: ProviderType.ANTHROPIC, baseUrl: anthropicFake.url, models: ['claude-sonnet-4-5'] },
        { name: 'openai', type: ProviderType.OPENAI, baseUrl: openaiFake.url, models: ['gpt-4o'] },
      ],
    });
    const providers = (await root.providers.listProviders({ workspaceId: w.workspaceId })).providers;
    const anthropicId = providers.find((p) => p.name === 'anthropic')!.id;
    await root.providers.updateProvider({ provider: { id: anthropicId, recordBodies: true }, updateMask: { paths: ['record_bodies'] } });
    // An alert budget of one micro-dollar: every request is over it, admitted, and recorded as warned.
    await root.gateways.createSpendLimit({
      workspaceId: w.workspaceId,
      spendLimit: { name: 'tiny', amountMicros: 1n, period: SpendPeriod.DAILY, enforcement: SpendEnforcement.ALERT, scope: { kind: { case: 'workspace', value: true } } },
    });
    await s.sluice.snapshots.refresh();

    const anthropic = new Anthropic({ baseURL: s.baseUrl, apiKey: w.apiKey, maxRetries: 0 });
    const stream = anthropic.messages.stream({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'Describe the Rhine locks' }] });
    const final = await stream.finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text' });

    // A prompt with a NUL character (PostgreSQL refuses U+0000 in text): recorded all the same.
    await anthropic.messages.create({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'nul\u0000inside' }] });

    // Not recorded: served by the openai provider.
    const plain = await fetch(`${s.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'not recorded' }] }),
    });
    expect(plain.status).toBe(200);

    // A client that leaves after the first events of a slow stream.
    anthropicFake.enqueue({ chunkDelayMs: 150 });
    const controller = new AbortController();
    const res = await fetch(`${s.baseUrl}/v1/messages`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'x-api-key': w.apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }] }),
    });
    const reader = res.body!.getReader();
    let seen = '';
    while (!seen.includes('text_delta')) seen += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    logs = await waitForRequestLogs(s, root, w.workspaceId, 4);
  }, 60_000);
  afterAll(async () => {
    await anthropicFake?.close();
    await openaiFake?.close();
    await s?.close();
  });

  it('records the Anthropic stream, reassembled into one message', async () => {
    const id = logs.find((l) => l.endpoint === 'messages' && !l.clientAborted && l.streamed)!.id;
    const rec = (await root.logs.getRequestLog({ id })).requestLog!;
    expect(rec).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-5', streamed: true, status: 200 });
    // The SDK sends its key as x-api-key or as a bearer token: either way only [REDACTED] is stored.
    expect(rec.requestHeaders['x-api-key'] ?? rec.requestHeaders.authorization).toBe('[REDACTED]');
    expect(JSON.stringify(rec.requestHeaders)).not.toContain(w.apiKey);
    expect(rec.requestHeaders['anthropic-version']).toBeTruthy();
    expect(toJson(ValueSchema, rec.requestBody!)).toMatchObject({ system: 'Be brief.', stream: true });
    const message = toJson(ValueSchema, rec.responseBody!) as { type: string; role: string; content: { type: string; text: string }[]; stop_reason: string; usage: { output_tokens: number } };
    expect(message).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'end_turn' });
    expect(message.content).toEqual([{ type: 'text', text: 'echo: Describe the Rhine locks' }]);
    expect(BigInt(message.usage.output_tokens)).toBe(rec.usage!.completionTokens);
    expect((await root.logs.listRequestLogs({ workspaceId: w.workspaceId, text: 'rhine locks' })).requestLogs.map((l) => l.id)).toEqual([id]);
  });

  it('records each budget outcome: an alert budget over its amount is warned, with what is left', () => {
    for (const l of logs) expect(l.spendLimits).toEqual([expect.objectContaining({ name: 'tiny', outcome: 'warned', key: `w:${w.workspaceId}`, remaining: 0n })]);
    expect(logs.every((l) => l.rateLimits.length === 0)).toBe(true);
  });

  it('a NUL in the prompt does not cost the record', async () => {
    const rec = logs.find((l) => l.endpoint === 'messages' && !l.streamed)!;
    expect(rec.status).toBe(200);
    const full = (await root.logs.getRequestLog({ id: rec.id })).requestLog!;
    expect(JSON.stringify(toJson(ValueSchema, full.requestBody!))).toMatch(/nul(\\u0000|\uFFFD)inside/);
    expect(s.sluice.logs.stats().dropped).toBe(0);
  });

  it('keeps no bodies for a provider that does not record', async () => {
    const rec = (await root.logs.getRequestLog({ id: logs.find((l) => l.provider === 'openai')!.id })).requestLog!;
    expect(rec.status).toBe(200);
    expect(rec.requestBody).toBeUndefined();
    expect(rec.responseBody).toBeUndefined();
    expect(rec.requestHeaders).toEqual({});
  });

  it('a client that left mid-stream: aborted, with the text it had received', async () => {
    const cut = logs.find((l) => l.clientAborted)!;
    expect(cut).toMatchObject({ endpoint: 'messages', streamed: true, status: 200, provider: 'anthropic' });
    const rec = (await root.logs.getRequestLog({ id: cut.id })).requestLog!;
    const message = toJson(ValueSchema, rec.responseBody!) as { content: { text: string }[]; stop_reason?: string | null };
    const text = message.content[0]!.text;
    expect(text.length).toBeGreaterThan(0);
    expect('echo: one two three four five six seven eight nine ten'.startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan('echo: one two three four five six seven eight nine ten'.length);
  });
});

/**
 * Streaming through the gateway: chunks are forwarded as they arrive (the
 * client holds the first chunk while the upstream is still sending), the
 * upstream is always asked for usage and what the client did not ask for is
 * stripped, and a client disconnect aborts the upstream call while keeping
 * the usage seen so far.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderType } from '@sluice/client/gen/provider';
import type { ProxyContext } from '../../src/policy/context.js';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

describe('streaming', () => {
  let s: RunningSluice;
  let openai: FakeUpstream;
  let anthropic: FakeUpstream;
  let w: BuiltWorkspace;
  const settled: ProxyContext[] = [];
  beforeAll(async () => {
    s = await startTestServer('sqlite', {}, { settle: (ctx) => settled.push(ctx) });
    openai = await startFakeUpstream('openai');
    anthropic = await startFakeUpstream('anthropic');
    w = await buildWorkspace(s, {
      workspace: 'stream',
      providers: [
        { name: 'openai', type: ProviderType.OPENAI, baseUrl: openai.url, models: ['gpt-4o'] },
        { name: 'anthropic', type: ProviderType.ANTHROPIC, baseUrl: anthropic.url, models: ['claude-sonnet-4-5'] },
      ],
    });
  });
  afterAll(async () => {
    await openai?.close();
    await anthropic?.close();
    await s?.close();
  });

  const post = (body: unknown, signal?: AbortSignal) =>
    fetch(`${s.baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${w.apiKey}` }, body: JSON.stringify(body), signal });

  it('forwards the first chunk while the upstream is still sending', async () => {
    openai.enqueue({ chunkDelayMs: 250 });
    const started = Date.now();
    const res = await post({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'one two three four five six' }] });
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    expect(new TextDecoder().decode(first.value)).toContain('chat.completion.chunk');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    const total = Date.now() - started;
    expect(rest).toContain('data: [DONE]');
    // Several chunk delays passed between the first chunk and the end of the stream.
    expect(total - firstAt).toBeGreaterThan(500);
  });

  it('always asks the upstream for usage and strips the usage chunk the client did not ask for', async () => {
    openai.reset();
    const res = await post({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'hello' }] });
    const text = await res.text();
    expect(openai.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(text).not.toContain('"usage"');
    const ctx = settled.at(-1)!;
    expect(ctx.usage?.completionTokens).toBeGreaterThan(0);

    const withUsage = await (await post({ model: 'openai/gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello' }] })).text();
    expect(withUsage).toContain('"usage"');
  });

  it('aborts the upstream when the client disconnects and keeps the usage seen so far', async () => {
    anthropic.enqueue({ chunkDelayMs: 300 });
    const abort = new AbortController();
    const res = await post({ model: 'anthropic/claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: 'a long answer please with many words in it' }] }, abort.signal);
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await new Promise((r) => setTimeout(r, 800));
    const ctx = settled.find((c) => c.served?.provider === 'anthropic' && c.clientAborted);
    expect(ctx).toBeDefined();
    expect(ctx!.usage?.promptTokens).toBeGreaterThan(0);
    expect(ctx!.finishedAt! - ctx!.startedAt).toBeLessThan(1500);
    // The upstream saw its client (the gateway) hang up mid-stream.
    expect(anthropic.requests.at(-1)?.aborted).toBe(true);
  });
});

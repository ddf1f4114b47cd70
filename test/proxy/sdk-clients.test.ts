/**
 * The official `openai` and `@anthropic-ai/sdk` clients against a running
 * gateway, across every provider type: each provider type is backed by a
 * fake upstream speaking that provider's wire format (or the built-in mock).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { ProviderType } from '@sluice/client/gen/provider';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

interface Case {
  type: ProviderType;
  provider: string;
  model: string;
  fake?: 'openai' | 'anthropic' | 'gemini' | 'azure';
  embeddings: boolean;
  tools: boolean;
}

const CASES: Case[] = [
  { type: ProviderType.OPENAI, provider: 'openai', model: 'gpt-4o', fake: 'openai', embeddings: true, tools: true },
  { type: ProviderType.OPENAI_COMPATIBLE, provider: 'vllm', model: 'llama-3.1-8b', fake: 'openai', embeddings: true, tools: true },
  { type: ProviderType.AZURE_OPENAI, provider: 'azure', model: 'gpt4o-deployment', fake: 'azure', embeddings: true, tools: true },
  { type: ProviderType.ANTHROPIC, provider: 'anthropic', model: 'claude-sonnet-4-5', fake: 'anthropic', embeddings: false, tools: true },
  { type: ProviderType.GOOGLE, provider: 'gemini', model: 'gemini-2.0-flash', fake: 'gemini', embeddings: true, tools: true },
  { type: ProviderType.MOCK, provider: 'mock', model: 'mock-fast', embeddings: true, tools: false },
];

const WEATHER_TOOL = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

describe('official SDKs through Sluice, every provider type', () => {
  let s: RunningSluice;
  let w: BuiltWorkspace;
  const fakes: FakeUpstream[] = [];
  beforeAll(async () => {
    s = await startTestServer('sqlite');
    const providers = [];
    for (const c of CASES) {
      let baseUrl = '';
      if (c.fake) {
        const fake = await startFakeUpstream(c.fake);
        fakes.push(fake);
        baseUrl = fake.url;
      }
      providers.push({ name: c.provider, type: c.type, baseUrl, models: [c.model], azureApiVersion: c.fake === 'azure' ? '2024-10-21' : undefined });
    }
    w = await buildWorkspace(s, { workspace: 'sdk', providers });
  });
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
    await s?.close();
  });

  const openai = () => new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey: w.apiKey, maxRetries: 0 });
  const anthropic = () => new Anthropic({ baseURL: s.baseUrl, apiKey: w.apiKey, maxRetries: 0 });

  it('lists exactly the models the key can reach', async () => {
    const models = await openai().models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(CASES.map((c) => `${c.provider}/${c.model}`).sort());
    const one = await openai().models.retrieve('openai/gpt-4o');
    expect(one.id).toBe('openai/gpt-4o');
    await expect(openai().models.retrieve('nope/nope')).rejects.toMatchObject({ status: 404 });
  });

  describe.each(CASES)('$provider ($model)', (c) => {
    const model = `${c.provider}/${c.model}`;

    it('chat completion via the openai SDK', async () => {
      const { data, response } = await openai()
        .chat.completions.create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello to Sluice' }], max_tokens: 64 })
        .withResponse();
      expect(data.object).toBe('chat.completion');
      expect(data.choices[0]?.message.role).toBe('assistant');
      expect(data.choices[0]?.message.content?.length).toBeGreaterThan(0);
      expect(data.usage?.prompt_tokens).toBeGreaterThan(0);
      expect(data.usage?.completion_tokens).toBeGreaterThan(0);
      expect(response.headers.get('x-sluice-provider')).toBe(c.provider);
      expect(response.headers.get('x-sluice-model')).toBe(model);
      expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    });

    it('streaming chat via the openai SDK, with usage when asked', async () => {
      const stream = await openai().chat.completions.create({ model, messages: [{ role: 'user', content: 'Stream a short greeting' }], stream: true, stream_options: { include_usage: true } });
      let text = '';
      let usage: OpenAI.CompletionUsage | undefined | null;
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish ??= chunk.choices[0]?.finish_reason;
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text.length).toBeGreaterThan(0);
      expect(finish).toBe('stop');
      expect(usage?.completion_tokens).toBeGreaterThan(0);
    });

    it.runIf(c.tools)('tool calls via the openai SDK, streamed and not', async () => {
      const res = await openai().chat.completions.create({ model, messages: [{ role: 'user', content: 'call get_weather for Paris' }], tools: [WEATHER_TOOL], tool_choice: 'auto' });
      expect(res.choices[0]?.finish_reason).toBe('tool_calls');
      const call = res.choices[0]?.message.tool_calls?.[0];
      expect(call?.type === 'function' && call.function.name).toBe('get_weather');
      expect(() => JSON.parse(call?.type === 'function' ? call.function.arguments : '')).not.toThrow();

      const stream = openai().chat.completions.stream({ model, messages: [{ role: 'user', content: 'call get_weather for Paris' }], tools: [WEATHER_TOOL] });
      const final = await stream.finalChatCompletion();
      const streamed = final.choices[0]?.message.tool_calls?.[0];
      expect(streamed?.type === 'function' && streamed.function.name).toBe('get_weather');
    });

    it.runIf(c.embeddings)('embeddings via the openai SDK', async () => {
      const res = await openai().embeddings.create({ model, input: ['first text', 'second text'] });
      expect(res.data).toHaveLength(2);
      expect(res.data[0]?.embedding.length).toBeGreaterThan(0);
      expect(res.data[1]?.index).toBe(1);
    });

    it.runIf(!c.embeddings)('embeddings are refused with a clear error', async () => {
      await expect(openai().embeddings.create({ model, input: 'x' })).rejects.toMatchObject({ status: 400, code: 'unsupported_endpoint' });
    });

    it('messages via the Anthropic SDK', async () => {
      const msg = await anthropic().messages.create({ model, max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'Say hello to Sluice' }] });
      expect(msg.type).toBe('message');
      expect(msg.role).toBe('assistant');
      const text = msg.content.find((b) => b.type === 'text');
      expect(text?.type === 'text' && text.text.length).toBeGreaterThan(0);
      expect(msg.usage.output_tokens).toBeGreaterThan(0);
    });

    it('streaming messages via the Anthropic SDK', async () => {
      const stream = anthropic().messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Stream a short greeting' }] });
      let deltas = 0;
      stream.on('text', () => deltas++);
      const final = await stream.finalMessage();
      expect(deltas).toBeGreaterThan(0);
      expect(final.stop_reason).toBe('end_turn');
      expect(final.content.some((b) => b.type === 'text' && b.text.length > 0)).toBe(true);
    });

    it.runIf(c.tools)('tool use via the Anthropic SDK, streamed', async () => {
      const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }];
      const final = await anthropic().messages.stream({ model, max_tokens: 256, tools, messages: [{ role: 'user', content: 'call get_weather for Paris' }] }).finalMessage();
      expect(final.stop_reason).toBe('tool_use');
      const use = final.content.find((b) => b.type === 'tool_use');
      expect(use?.type === 'tool_use' && use.name).toBe('get_weather');
    });
  });
});

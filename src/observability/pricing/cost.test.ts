import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import type { Usage } from '../../llm/usage.js';
import { costNanos, costPerMtokMicros, estimatePromptTokens, worstCaseCostNanos } from './cost.js';
import { priceFor, type ModelPrice } from './price-catalogue.js';

function price(providerKind: string, upstreamModel: string): ModelPrice {
  const p = priceFor({ providerKind, upstreamModel });
  if (!p) throw new Error(`${providerKind}/${upstreamModel} is not priced`);
  return p;
}

function usage(u: Partial<Usage>): Usage {
  return { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, ...u };
}

const flat = (micros: bigint): ModelPrice => ({
  inputPerMtokMicros: micros,
  outputPerMtokMicros: micros,
  cachedInputPerMtokMicros: micros,
  cacheWritePerMtokMicros: micros,
  source: 'override',
});

describe('costNanos', () => {
  it('gpt-4o with cached and reasoning tokens', () => {
    // 600 uncached × $2.50/M + 400 cached × $1.25/M + 500 completion (200 of them reasoning) × $10/M
    // = $0.0015 + $0.0005 + $0.005 = $0.007
    const u = usage({ promptTokens: 1000, cachedTokens: 400, completionTokens: 500, reasoningTokens: 200 });
    expect(costNanos(u, price('openai', 'gpt-4o'))).toBe(7_000_000n);
  });

  it('reasoning tokens are billed once, inside completionTokens', () => {
    const p = price('openai', 'o4-mini');
    const base = usage({ promptTokens: 100, completionTokens: 1000 });
    expect(costNanos({ ...base, reasoningTokens: 900 }, p)).toBe(costNanos(base, p));
    // 100 × $1.10/M + 1000 × $4.40/M = $0.00011 + $0.0044
    expect(costNanos(base, p)).toBe(4_510_000n);
  });

  it('Claude Sonnet 4.5 with cache reads and cache writes', () => {
    // 2,000 uncached × $3/M + 3,000 read × $0.30/M + 5,000 written × $3.75/M + 1,000 out × $15/M
    // = $0.006 + $0.0009 + $0.01875 + $0.015 = $0.04065
    const u = usage({ promptTokens: 10_000, cachedTokens: 3_000, cacheWriteTokens: 5_000, completionTokens: 1_000 });
    expect(costNanos(u, price('anthropic', 'claude-sonnet-4-5'))).toBe(40_650_000n);
  });

  it('switches to the long-context tier when the whole prompt exceeds the threshold (Gemini 2.5 Pro)', () => {
    const p = price('google', 'gemini-2.5-pro');
    // At 200,000 prompt tokens, still base: 200,000 × $1.25/M + 1,000 × $10/M = $0.25 + $0.01
    expect(costNanos(usage({ promptTokens: 200_000, completionTokens: 1_000 }), p)).toBe(260_000_000n);
    // Above it every token moves to the tier: 200,001 × $2.50/M + 1,000 × $15/M = $0.5000025 + $0.015
    expect(costNanos(usage({ promptTokens: 200_001, completionTokens: 1_000 }), p)).toBe(515_002_500n);
    // Cached tokens count towards the threshold: 150,000 cached + 60,000 uncached is over 200k.
    // 60,000 × $2.50/M + 150,000 × $0.25/M = $0.15 + $0.0375
    expect(costNanos(usage({ promptTokens: 210_000, cachedTokens: 150_000 }), p)).toBe(187_500_000n);
  });

  it('agrees with the package’s own calcPrice to the nano', () => {
    const cases: [string, string, Usage][] = [
      ['openai', 'gpt-4o-mini', usage({ promptTokens: 12_345, cachedTokens: 1_024, completionTokens: 678 })],
      ['anthropic', 'claude-sonnet-4-5', usage({ promptTokens: 250_000, cachedTokens: 100_000, cacheWriteTokens: 20_000, completionTokens: 4_321 })],
      ['anthropic', 'claude-3-5-haiku', usage({ promptTokens: 4_740, cacheWriteTokens: 4_735, completionTokens: 255 })],
      ['google', 'gemini-2.5-pro', usage({ promptTokens: 300_000, cachedTokens: 50_000, completionTokens: 8_000 })],
      ['google', 'gemini-2.5-flash', usage({ promptTokens: 777, completionTokens: 3_333 })],
    ];
    for (const [providerId, model, u] of cases) {
      const theirs = calcPrice(
        { input_tokens: u.promptTokens, cache_read_tokens: u.cachedTokens, cache_write_tokens: u.cacheWriteTokens, output_tokens: u.completionTokens },
        model,
        { providerId },
      );
      const ours = Number(costNanos(u, price(providerId, model)));
      expect(Math.abs(ours - theirs!.total_price * 1e9)).toBeLessThanOrEqual(1);
    }
  });

  it('a single token on a cheap model costs a non-zero number of nanos', () => {
    // $0.02/M → 20 nano-dollars per token.
    expect(costNanos(usage({ promptTokens: 1 }), price('openai', 'text-embedding-3-small'))).toBe(20n);
    // $0.10/M → 100 nano-dollars.
    expect(costNanos(usage({ promptTokens: 1 }), price('google', 'gemini-2.5-flash-lite'))).toBe(100n);
    // 1 micro-dollar per Mtok is a thousandth of a nano per token: rounded up to 1.
    expect(costNanos(usage({ promptTokens: 1 }), flat(1n))).toBe(1n);
  });

  it('rounds up once per request, not once per token class', () => {
    // 1 uncached + 1 cached + 1 written + 1 completion at 1 micro/Mtok = 4 pico-dollars → 1 nano, not 4.
    expect(costNanos(usage({ promptTokens: 3, cachedTokens: 1, cacheWriteTokens: 1, completionTokens: 1 }), flat(1n))).toBe(1n);
    // An exact multiple is not rounded: 1,000 tokens at 1 micro/Mtok = 1,000 pico = 1 nano.
    expect(costNanos(usage({ promptTokens: 1_000 }), flat(1n))).toBe(1n);
    expect(costNanos(usage({ promptTokens: 1_001 }), flat(1n))).toBe(2n);
  });

  it('zero usage and the mock provider cost nothing', () => {
    expect(costNanos(usage({}), price('openai', 'gpt-4o'))).toBe(0n);
    expect(costNanos(usage({ promptTokens: 1_000_000, completionTokens: 1_000_000 }), price('mock', 'm'))).toBe(0n);
  });

  it('never bills negative uncached tokens when cache counts exceed the prompt', () => {
    // 5 cached × 1,000 + 10 written × 2,000 pico; the "−5 uncached" is treated as 0.
    const p: ModelPrice = { ...flat(5_000n), cachedInputPerMtokMicros: 1_000n, cacheWritePerMtokMicros: 2_000n };
    expect(costNanos(usage({ promptTokens: 10, cachedTokens: 5, cacheWriteTokens: 10 }), p)).toBe(25n);
  });

  it('rejects counts that are not non-negative integers', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => costNanos(usage({ promptTokens: bad }), flat(1n))).toThrow(/promptTokens/);
    }
  });

  it('stays exact far beyond the float range of Number', () => {
    // 9,007,199,254,740,991 tokens at $1M/Mtok: 9.007e21 pico-dollars, exact in bigint.
    const huge = usage({ completionTokens: Number.MAX_SAFE_INTEGER });
    expect(costNanos(huge, flat(1_000_000_000_000n))).toBe((BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000_000_000n) / 1000n);
  });
});

describe('worstCaseCostNanos', () => {
  it('prices every prompt token at the dearest input-side rate and the full output budget', () => {
    // gpt-4o: 1,000 × $2.50/M + 500 × $10/M = $0.0025 + $0.005
    expect(worstCaseCostNanos(1_000, 500, price('openai', 'gpt-4o'))).toBe(7_500_000n);
    // Claude: a cache write ($3.75/M) is dearer than input ($3/M): 1,000 × $3.75/M + 500 × $15/M
    expect(worstCaseCostNanos(1_000, 500, price('anthropic', 'claude-sonnet-4-5'))).toBe(11_250_000n);
    // Past the tier threshold the tier rates apply: 250,000 × $2.50/M + 1,000 × $15/M
    expect(worstCaseCostNanos(250_000, 1_000, price('google', 'gemini-2.5-pro'))).toBe(640_000_000n);
  });

  it('is at least the settled cost of the same request, whatever the cache split', () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % (n + 1);
    };
    const prices = [
      price('openai', 'gpt-4o'),
      price('openai', 'o3'),
      price('anthropic', 'claude-sonnet-4-5'),
      price('anthropic', 'claude-opus-4-1'),
      price('google', 'gemini-2.5-pro'),
      price('google', 'gemini-2.0-flash'),
      price('mock', 'm'),
    ];
    for (let i = 0; i < 1_000; i++) {
      const p = prices[i % prices.length]!;
      const estimate = random(400_000);
      const maxOutput = random(64_000);
      const promptTokens = random(estimate);
      const cachedTokens = random(promptTokens);
      const cacheWriteTokens = random(promptTokens - cachedTokens);
      const completionTokens = random(maxOutput);
      const actual = costNanos(usage({ promptTokens, cachedTokens, cacheWriteTokens, completionTokens, reasoningTokens: random(completionTokens) }), p);
      expect(worstCaseCostNanos(estimate, maxOutput, p)).toBeGreaterThanOrEqual(actual);
    }
  });
});

describe('costPerMtokMicros', () => {
  it('is base input plus base output, for the lowest_cost pool strategy', () => {
    expect(costPerMtokMicros(price('openai', 'gpt-4o'))).toBe(12_500_000n);
    expect(costPerMtokMicros(price('google', 'gemini-2.5-pro'))).toBe(11_250_000n);
    expect(costPerMtokMicros(price('mock', 'm'))).toBe(0n);
  });
});

describe('estimatePromptTokens', () => {
  it('counts ASCII at four characters a token, keys included, and skips the model name', () => {
    const body = { model: 'gpt-4o-a-very-long-model-name', messages: [{ role: 'user', content: 'Hello there, how are you?' }] };
    // "messages" 8 + "role" 4 + "user" 4 + "content" 7 + 25 characters of text = 48 → 12
    expect(estimatePromptTokens(body)).toBe(12);
  });

  it('counts tool schemas', () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
        },
      },
    ];
    const without = estimatePromptTokens({ messages });
    const withTools = estimatePromptTokens({ messages, tools });
    // The schema's text: every key and value except JSON punctuation.
    const schemaChars = JSON.stringify({ tools }).replace(/[{}[\]":,]/g, '').length;
    expect(withTools - without).toBeGreaterThanOrEqual(Math.floor(schemaChars / 4));
  });

  it('counts each non-ASCII character as a whole token', () => {
    expect(estimatePromptTokens({ prompt: '東京の天気は？' })).toBe(2 + 7);
    expect(estimatePromptTokens({ prompt: '😀😀' })).toBe(2 + 2);
  });

  it('counts a media part as a flat allowance, not its base64 bytes', () => {
    const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(1_000_000)}` } };
    const body = { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, image] }] };
    const estimate = estimatePromptTokens(body);
    expect(estimate).toBeGreaterThanOrEqual(1_600);
    expect(estimate).toBeLessThan(1_700);
    const gemini = { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/png', data: 'A'.repeat(100_000) } }] }] };
    expect(estimatePromptTokens(gemini)).toBeLessThan(1_700);
  });

  it('counts token-id arrays one token per id', () => {
    const ids = Array.from({ length: 200_000 }, (_, i) => i % 7);
    // "input" is 5 characters → 2 tokens, plus one per id.
    expect(estimatePromptTokens({ model: 'text-embedding-3-small', input: ids })).toBe(200_002);
  });

  it('handles bodies that are not objects', () => {
    expect(estimatePromptTokens('abcdefgh')).toBe(2);
    expect(estimatePromptTokens(null)).toBe(0);
    expect(estimatePromptTokens(undefined)).toBe(0);
  });
});

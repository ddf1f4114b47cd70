import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../errors.js';
import { OPEN_MODEL_HOSTS, priceFor, usdPerMtokToMicros, type ModelPrice } from './price-catalogue.js';

/** [provider kind, upstream model, input, output, cached input, cache write] in micro-dollars per Mtok. */
const CURRENT: [string, string, bigint, bigint, bigint, bigint][] = [
  ['openai', 'gpt-4o', 2_500_000n, 10_000_000n, 1_250_000n, 2_500_000n],
  ['openai', 'gpt-4o-mini', 150_000n, 600_000n, 75_000n, 150_000n],
  ['openai', 'gpt-4.1', 2_000_000n, 8_000_000n, 500_000n, 2_000_000n],
  ['openai', 'o3', 2_000_000n, 8_000_000n, 500_000n, 2_000_000n],
  ['openai', 'o4-mini', 1_100_000n, 4_400_000n, 275_000n, 1_100_000n],
  ['openai', 'gpt-5', 1_250_000n, 10_000_000n, 125_000n, 1_250_000n],
  ['anthropic', 'claude-sonnet-4-5', 3_000_000n, 15_000_000n, 300_000n, 3_750_000n],
  ['anthropic', 'claude-opus-4-1', 15_000_000n, 75_000_000n, 1_500_000n, 18_750_000n],
  ['anthropic', 'claude-3-5-haiku', 800_000n, 4_000_000n, 80_000n, 1_000_000n],
  ['anthropic', 'claude-haiku-4-5', 1_000_000n, 5_000_000n, 100_000n, 1_250_000n],
  ['anthropic', 'claude-sonnet-4-20250514', 3_000_000n, 15_000_000n, 300_000n, 3_750_000n],
  ['google', 'gemini-2.5-pro', 1_250_000n, 10_000_000n, 125_000n, 1_250_000n],
  ['google', 'gemini-2.5-flash', 300_000n, 2_500_000n, 30_000n, 300_000n],
  ['google', 'gemini-2.0-flash', 100_000n, 400_000n, 25_000n, 100_000n],
  ['google', 'gemini-2.5-flash-lite', 100_000n, 400_000n, 10_000n, 100_000n],
];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function rates(p: ModelPrice | undefined): bigint[] | undefined {
  return p && [p.inputPerMtokMicros, p.outputPerMtokMicros, p.cachedInputPerMtokMicros, p.cacheWritePerMtokMicros];
}

describe('priceFor: catalogue', () => {
  it.each(CURRENT)('%s %s is priced, non-zero, exactly', (providerKind, upstreamModel, input, output, cached, write) => {
    const price = priceFor({ providerKind, upstreamModel });
    expect(price?.source).toBe('catalogue');
    expect(price!.inputPerMtokMicros).toBeGreaterThan(0n);
    expect(price!.outputPerMtokMicros).toBeGreaterThan(0n);
    expect(rates(price)).toEqual([input, output, cached, write]);
  });

  it('keeps long-context tiers as the package defines them (Gemini 2.5 Pro, Claude Sonnet 4.5 above 200k prompt tokens)', () => {
    expect(priceFor({ providerKind: 'google', upstreamModel: 'gemini-2.5-pro' })?.tiers).toEqual([
      { promptTokensAbove: 200_000, inputPerMtokMicros: 2_500_000n, outputPerMtokMicros: 15_000_000n, cachedInputPerMtokMicros: 250_000n, cacheWritePerMtokMicros: 2_500_000n },
    ]);
    expect(priceFor({ providerKind: 'anthropic', upstreamModel: 'claude-sonnet-4-5' })?.tiers).toEqual([
      { promptTokensAbove: 200_000, inputPerMtokMicros: 6_000_000n, outputPerMtokMicros: 22_500_000n, cachedInputPerMtokMicros: 600_000n, cacheWritePerMtokMicros: 7_500_000n },
    ]);
    expect(priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4o' })).not.toHaveProperty('tiers');
  });

  it('resolves aliases, dated ids, case and the Gemini `models/` prefix the way the package does', () => {
    const same = (a: [string, string], b: [string, string]): void => {
      expect(rates(priceFor({ providerKind: a[0], upstreamModel: a[1] }))).toEqual(rates(priceFor({ providerKind: b[0], upstreamModel: b[1] })));
    };
    same(['anthropic', 'claude-3-5-haiku-20241022'], ['anthropic', 'claude-3-5-haiku']);
    same(['anthropic', 'claude-sonnet-4-5-20250929'], ['anthropic', 'claude-sonnet-4-5']);
    same(['anthropic', 'claude-opus-4-1-20250805'], ['anthropic', 'claude-opus-4-1']);
    same(['openai', 'gpt-4o-2024-08-06'], ['openai', 'gpt-4o']);
    same(['openai', 'GPT-4o'], ['openai', 'gpt-4o']);
    same(['google', 'models/gemini-2.5-pro'], ['google', 'gemini-2.5-pro']);
    same(['google', 'gemini-2.0-flash-001'], ['google', 'gemini-2.0-flash']);
    same(['azure_openai', 'gpt-4o'], ['openai', 'gpt-4o']);
  });

  it('prices embedding models by input only (output rate zero)', () => {
    expect(rates(priceFor({ providerKind: 'openai', upstreamModel: 'text-embedding-3-small' }))).toEqual([20_000n, 0n, 20_000n, 20_000n]);
  });

  it('returns undefined for unknown models and provider kinds', () => {
    expect(priceFor({ providerKind: 'openai', upstreamModel: 'no-such-model' })).toBeUndefined();
    expect(priceFor({ providerKind: 'anthropic', upstreamModel: 'gpt-4o' })).toBeUndefined();
    expect(priceFor({ providerKind: 'bedrock', upstreamModel: 'gpt-4o' })).toBeUndefined();
    expect(priceFor({ providerKind: 'openai_compatible', upstreamModel: 'my-finetune-7b' })).toBeUndefined();
  });

  it('prices the mock provider at zero', () => {
    expect(priceFor({ providerKind: 'mock', upstreamModel: 'anything' })).toEqual({
      inputPerMtokMicros: 0n,
      outputPerMtokMicros: 0n,
      cachedInputPerMtokMicros: 0n,
      cacheWritePerMtokMicros: 0n,
      source: 'catalogue',
    });
  });

  it('memoises per (kind, model, override) and hands out frozen prices', () => {
    const a = priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4.1' });
    expect(priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4.1' })).toBe(a);
    expect(priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4.1', override: { outputPerMtokMicros: '1' } })).not.toBe(a);
    expect(priceFor({ providerKind: 'azure_openai', upstreamModel: 'gpt-4.1' })).not.toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(priceFor({ providerKind: 'google', upstreamModel: 'gemini-2.5-pro' })?.tiers)).toBe(true);
  });
});

describe('priceFor: openai_compatible', () => {
  it('uses the catalogue provider whose API URL matches the base URL', () => {
    expect(rates(priceFor({ providerKind: 'openai_compatible', upstreamModel: 'llama-3.3-70b-versatile', baseUrl: 'https://api.groq.com/openai/v1' }))).toEqual([
      590_000n, 790_000n, 590_000n, 590_000n,
    ]);
    expect(rates(priceFor({ providerKind: 'openai_compatible', upstreamModel: 'meta-llama/Llama-3.3-70B-Instruct', baseUrl: 'https://router.huggingface.co/novita/v3/openai' }))).toEqual([
      135_000n, 400_000n, 135_000n, 135_000n,
    ]);
  });

  it("falls back to the package's model-name rules (deepseek-*)", () => {
    const expected = calcPrice({ input_tokens: 1_000_000, output_tokens: 1_000_000 }, 'deepseek-chat', { providerId: 'deepseek' });
    const price = priceFor({ providerKind: 'openai_compatible', upstreamModel: 'deepseek-chat', baseUrl: 'http://localhost:8000/v1' });
    expect(Number(price!.inputPerMtokMicros + price!.outputPerMtokMicros) / 1e6).toBeCloseTo(expected!.total_price, 9);
  });

  it('otherwise takes the most expensive host pricing that model id (meta-llama/...)', () => {
    const price = priceFor({ providerKind: 'openai_compatible', upstreamModel: 'meta-llama/Llama-3.3-70B-Instruct' });
    const totals = OPEN_MODEL_HOSTS.flatMap((providerId) => {
      const r = calcPrice({ input_tokens: 1_000_000, output_tokens: 1_000_000 }, 'meta-llama/Llama-3.3-70B-Instruct', { providerId });
      return r ? [r.total_price] : [];
    });
    expect(totals.length).toBeGreaterThan(3);
    expect(Number(price!.inputPerMtokMicros + price!.outputPerMtokMicros) / 1e6).toBe(Math.max(...totals));
  });

  it('lists only provider ids the pinned package knows', () => {
    for (const providerId of OPEN_MODEL_HOSTS) expect(findProvider({ providerId })?.id).toBe(providerId);
  });
});

describe('priceFor: overrides', () => {
  it('an override field replaces only that field', () => {
    const price = priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4o', override: { outputPerMtokMicros: '9000000' } });
    expect(rates(price)).toEqual([2_500_000n, 9_000_000n, 1_250_000n, 2_500_000n]);
    expect(price?.source).toBe('mixed');
  });

  it('an overridden input rate leaves a catalogue cache rate alone but feeds a missing one', () => {
    // gpt-4o has a cached-input rate but no cache-write rate.
    const price = priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4o', override: { inputPerMtokMicros: '2000000' } });
    expect(rates(price)).toEqual([2_000_000n, 10_000_000n, 1_250_000n, 2_000_000n]);
    expect(price?.source).toBe('mixed');
  });

  it('every field overridden: source override, no catalogue tiers', () => {
    const override = { inputPerMtokMicros: '1', outputPerMtokMicros: '2', cachedInputPerMtokMicros: '3', cacheWritePerMtokMicros: '4' };
    expect(priceFor({ providerKind: 'google', upstreamModel: 'gemini-2.5-pro', override })).toEqual({
      inputPerMtokMicros: 1n,
      outputPerMtokMicros: 2n,
      cachedInputPerMtokMicros: 3n,
      cacheWritePerMtokMicros: 4n,
      source: 'override',
    });
  });

  it('an overridden field is flat across the catalogue tiers; the other fields keep theirs', () => {
    const price = priceFor({ providerKind: 'google', upstreamModel: 'gemini-2.5-pro', override: { inputPerMtokMicros: '1000000' } });
    expect(price?.inputPerMtokMicros).toBe(1_000_000n);
    expect(price?.tiers).toEqual([
      { promptTokensAbove: 200_000, inputPerMtokMicros: 1_000_000n, outputPerMtokMicros: 15_000_000n, cachedInputPerMtokMicros: 250_000n, cacheWritePerMtokMicros: 1_000_000n },
    ]);
  });

  it('prices a model the catalogue lacks when input and output are overridden; cache rates fall back to input', () => {
    const price = priceFor({ providerKind: 'openai_compatible', upstreamModel: 'my-finetune-7b', override: { inputPerMtokMicros: '200000', outputPerMtokMicros: '600000' } });
    expect(rates(price)).toEqual([200_000n, 600_000n, 200_000n, 200_000n]);
    expect(price?.source).toBe('override');
    expect(priceFor({ providerKind: 'openai', upstreamModel: 'no-such-model', override: { inputPerMtokMicros: '200000' } })).toBeUndefined();
  });

  it('overrides apply on top of the zero mock price', () => {
    const price = priceFor({ providerKind: 'mock', upstreamModel: 'm', override: { inputPerMtokMicros: '1000000', outputPerMtokMicros: '2000000' } });
    expect(rates(price)).toEqual([1_000_000n, 2_000_000n, 1_000_000n, 1_000_000n]);
    expect(price?.source).toBe('override');
  });

  it('rejects an override that is not a non-negative integer string', () => {
    for (const bad of ['1.5', '-1', '', ' 1', '1e6']) {
      const error = thrown(() => priceFor({ providerKind: 'openai', upstreamModel: 'gpt-4o', override: { inputPerMtokMicros: bad } }));
      expect(error).toBeInstanceOf(SluiceError);
      expect(error).toMatchObject({ kind: 'invalid_argument' });
    }
  });
});

describe('usdPerMtokToMicros', () => {
  it('shifts the decimal exactly', () => {
    expect(usdPerMtokToMicros(0.075)).toBe(75_000n);
    expect(usdPerMtokToMicros(1.1)).toBe(1_100_000n);
    expect(usdPerMtokToMicros(0.0375)).toBe(37_500n);
    expect(usdPerMtokToMicros(0.01875)).toBe(18_750n);
    expect(usdPerMtokToMicros(0.275)).toBe(275_000n);
    expect(usdPerMtokToMicros(22.5)).toBe(22_500_000n);
    expect(usdPerMtokToMicros(0)).toBe(0n);
    expect(usdPerMtokToMicros(150)).toBe(150_000_000n);
    expect(usdPerMtokToMicros(1e21)).toBe(10n ** 27n);
  });

  it('rounds digits past the micro half up (float artefacts in the data)', () => {
    expect(usdPerMtokToMicros(0.18000000000000002)).toBe(180_000n);
    expect(usdPerMtokToMicros(0.08333333333333334)).toBe(83_333n);
    expect(usdPerMtokToMicros(1.5e-6)).toBe(2n);
    expect(usdPerMtokToMicros(4e-7)).toBe(0n);
  });

  it('rejects negative and non-finite numbers', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(thrown(() => usdPerMtokToMicros(bad))).toMatchObject({ kind: 'invalid_argument' });
  });

  it('agrees with every per-token price of the OpenAI, Anthropic and Google catalogues', () => {
    let checked = 0;
    for (const providerId of ['openai', 'anthropic', 'google']) {
      for (const model of findProvider({ providerId })!.models) {
        const records = Array.isArray(model.prices) ? model.prices.map((c) => c.prices) : [model.prices];
        for (const record of records) {
          for (const [key, value] of Object.entries(record)) {
            if (!key.endsWith('_mtok') || value === undefined) continue;
            for (const usd of typeof value === 'number' ? [value] : [value.base, ...value.tiers.map((t) => t.price)]) {
              // Integer micros back to a float is correctly rounded, so it must give the catalogue's number.
              expect(Number(usdPerMtokToMicros(usd)) / 1e6).toBe(usd);
              checked += 1;
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  });
});

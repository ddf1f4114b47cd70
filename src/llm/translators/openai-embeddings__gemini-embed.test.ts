import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../errors.js';
import { createOpenAIEmbeddingsToGeminiEmbed } from './openai-embeddings__gemini-embed.js';

const TARGET = { model: 'gemini-embedding-001', stream: false };

function refusal(input: unknown): { kind: string; field?: string; reason?: string } {
  try {
    createOpenAIEmbeddingsToGeminiEmbed().request({ input }, TARGET);
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    const e = err as SluiceError;
    return { kind: e.kind, field: e.violations[0]?.field, reason: e.violations[0]?.reason };
  }
  throw new Error('expected a SluiceError');
}

describe('openai-embeddings → gemini-embed', () => {
  it('refuses token-array input, since Gemini embeds text', () => {
    expect(refusal([1, 2, 3])).toEqual({ kind: 'invalid_argument', field: 'input', reason: 'UNSUPPORTED' });
    expect(refusal([[1, 2], [3]])).toEqual({ kind: 'invalid_argument', field: 'input', reason: 'UNSUPPORTED' });
    expect(refusal(['text', 4])).toEqual({ kind: 'invalid_argument', field: 'input', reason: 'UNSUPPORTED' });
    expect(refusal([])).toEqual({ kind: 'invalid_argument', field: 'input', reason: 'REQUIRED' });
    expect(refusal(undefined)).toEqual({ kind: 'invalid_argument', field: 'input', reason: 'REQUIRED' });
  });

  it('refuses an unknown encoding_format', () => {
    const t = createOpenAIEmbeddingsToGeminiEmbed();
    expect(() => t.request({ input: 'x', encoding_format: 'int8' }, TARGET)).toThrow(/encoding_format/);
  });

  it('encodes base64 as the little-endian float32 bytes OpenAI clients decode', () => {
    const values = [0.1, -0.2, 1 / 3, 3.4028234663852886e38, -0, 1e-45, 123456.789];
    const t = createOpenAIEmbeddingsToGeminiEmbed();
    t.request({ input: 'x', encoding_format: 'base64' }, TARGET);
    const { body } = t.response({ embeddings: [{ values }] });
    const encoded = (body.data as { embedding: string }[])[0]?.embedding ?? '';
    const bytes = Buffer.from(encoded, 'base64');
    expect(bytes.length).toBe(values.length * 4);
    // Decode the way the openai SDK does (a Float32Array over the bytes), and byte by byte as little-endian.
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, values.length));
    expect(decoded).toEqual(values.map(Math.fround));
    expect(values.map((_, i) => bytes.readFloatLE(i * 4))).toEqual(values.map(Math.fround));
    expect(Buffer.from([0xcd, 0xcc, 0xcc, 0x3d]).equals(bytes.subarray(0, 4))).toBe(true);
  });

  it('estimates usage at ⌈characters / 4⌉ per input, counted only once a response arrives', () => {
    const t = createOpenAIEmbeddingsToGeminiEmbed();
    t.request({ input: ['abcd', 'abcde', ''] }, TARGET);
    expect(t.usage().promptTokens).toBe(0);
    const { body, usage } = t.response({ embeddings: [{ values: [1] }, { values: [2] }, { values: [3] }] });
    expect(usage).toEqual({ promptTokens: 3, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });
    expect(body.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(t.usage()).toEqual(usage);
  });

  it('does not stream', () => {
    const t = createOpenAIEmbeddingsToGeminiEmbed();
    expect(t.streamEvent({ data: '{}' })).toEqual([]);
    expect(t.streamEnd(true)).toEqual([]);
  });
});

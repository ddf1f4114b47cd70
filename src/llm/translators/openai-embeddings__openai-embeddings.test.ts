import { describe, expect, it } from 'vitest';
import { createOpenAIEmbeddingsToOpenAIEmbeddings } from './openai-embeddings__openai-embeddings.js';

describe('openai-embeddings → openai-embeddings', () => {
  it('replaces only the model and keeps the response as it came', () => {
    const t = createOpenAIEmbeddingsToOpenAIEmbeddings();
    const body = { model: 'alias', input: [[1, 2]], extra: { a: 1 } };
    expect(t.request(body, { model: 'text-embedding-3-large', stream: false })).toEqual({ path: '/embeddings', body: { ...body, model: 'text-embedding-3-large' } });
    const upstream = { object: 'list', data: [], model: 'text-embedding-3-large', usage: { prompt_tokens: 4, total_tokens: 4 } };
    expect(t.response(upstream)).toEqual({ body: upstream, usage: { promptTokens: 4, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 } });
  });

  it('counts no tokens when the upstream reports none, and does not stream', () => {
    const t = createOpenAIEmbeddingsToOpenAIEmbeddings();
    expect(t.response({ object: 'list', data: [] }).usage.promptTokens).toBe(0);
    expect(t.streamEvent({ data: '{}' })).toEqual([]);
    expect(t.streamEnd(true)).toEqual([]);
  });

  it('maps the OpenAI error envelope, deriving a missing type from the status', () => {
    const t = createOpenAIEmbeddingsToOpenAIEmbeddings();
    expect(t.error(401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key', param: null } })).toEqual({
      status: 401,
      message: 'Incorrect API key provided',
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    });
    expect(t.error(429, { error: { message: 'slow down' } })).toEqual({ status: 429, message: 'slow down', type: 'rate_limit_error' });
  });
});

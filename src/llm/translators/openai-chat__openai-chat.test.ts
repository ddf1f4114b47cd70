import { describe, expect, it } from 'vitest';
import type { SseEvent } from '../sse.js';
import { createOpenAIChatToOpenAIChat, openAIUpstreamError } from './openai-chat__openai-chat.js';

const target = { model: 'gpt-4.1-2025-04-14', stream: true };

function chunk(fields: Record<string, unknown>): SseEvent {
  return { data: JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4.1', ...fields }) };
}

const text = chunk({ choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }], usage: null });
const usageOnly = chunk({
  choices: [],
  usage: { prompt_tokens: 12, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 2 } },
});

describe('openai-chat → openai-chat request', () => {
  it('replaces the model and keeps unknown fields and stream_options keys', () => {
    const body = { model: 'alias', messages: [], seed: 7, logit_bias: { '50256': -100 }, stream: true, stream_options: { include_obfuscation: false } };
    const call = createOpenAIChatToOpenAIChat().request(structuredClone(body), target);
    expect(call).toEqual({
      path: '/chat/completions',
      body: { ...body, model: target.model, stream_options: { include_obfuscation: false, include_usage: true } },
    });
  });

  it('leaves a non-streaming body alone but for the model', () => {
    const body = { model: 'alias', messages: [{ role: 'user', content: 'x' }] };
    expect(createOpenAIChatToOpenAIChat().request(body, { model: 'm', stream: false }).body).toEqual({ ...body, model: 'm' });
  });
});

describe('openai-chat → openai-chat stream', () => {
  it('strips the usage-only chunk the client did not ask for, but records its usage', () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [], stream: true }, target);
    // The `"usage": null` that include_usage adds to every chunk goes too.
    expect(t.streamEvent(text)).toEqual([chunk({ choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] })]);
    expect(t.streamEvent(usageOnly)).toEqual([]);
    expect(t.usage()).toEqual({ promptTokens: 12, completionTokens: 5, cachedTokens: 8, cacheWriteTokens: 0, reasoningTokens: 2 });
  });

  it('forwards the usage chunk when the client asked for it', () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [], stream: true, stream_options: { include_usage: true } }, target);
    expect(t.streamEvent(usageOnly)).toEqual([usageOnly]);
  });

  it('treats a usage chunk with choices null or absent as usage-only', () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [] }, target);
    expect(t.streamEvent(chunk({ choices: null, usage: { prompt_tokens: 3, completion_tokens: 1 } }))).toEqual([]);
    expect(t.streamEvent(chunk({ usage: { prompt_tokens: 4, completion_tokens: 2 } }))).toEqual([]);
    expect(t.usage().promptTokens).toBe(4);
  });

  it("keeps Azure's prompt_filter_results chunk, which has empty choices but no usage", () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [] }, target);
    const filter = chunk({ choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] });
    expect(t.streamEvent(filter)).toEqual([filter]);
  });

  it('records usage carried on a chunk with choices and forwards that chunk', () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [] }, target);
    const last = chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 3 } });
    expect(t.streamEvent(last)).toEqual([last]);
    expect(t.usage().completionTokens).toBe(3);
  });

  it('forwards data it cannot parse unchanged', () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [] }, target);
    const odd = { data: '{"choices": [' };
    expect(t.streamEvent(odd)).toEqual([odd]);
  });

  it('forwards [DONE] once and does not add another at the end', () => {
    const t = createOpenAIChatToOpenAIChat();
    t.request({ messages: [] }, target);
    expect(t.streamEvent({ data: '[DONE]' })).toEqual([{ data: '[DONE]' }]);
    expect(t.streamEvent({ data: '[DONE]' })).toEqual([]);
    expect(t.streamEnd(true)).toEqual([]);
  });

  it('adds [DONE] when a complete upstream did not send it, and nothing to a cut stream', () => {
    const complete = createOpenAIChatToOpenAIChat();
    complete.request({ messages: [] }, target);
    complete.streamEvent(text);
    expect(complete.streamEnd(true)).toEqual([{ data: '[DONE]' }]);

    const cut = createOpenAIChatToOpenAIChat();
    cut.request({ messages: [] }, target);
    cut.streamEvent(text);
    expect(cut.streamEnd(false)).toEqual([]);
    expect(cut.usage().promptTokens).toBe(0);
  });
});

describe('openai-chat → openai-chat errors', () => {
  it('keeps the envelope and omits null code and param', () => {
    const body = { error: { message: 'Invalid API key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
    expect(createOpenAIChatToOpenAIChat().error(401, body)).toEqual({ status: 401, message: 'Invalid API key', type: 'invalid_request_error', code: 'invalid_api_key' });
  });

  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [409, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [503, 'api_error'],
  ])('derives the type of a %i without one', (status, type) => {
    expect(openAIUpstreamError(status, { error: { message: 'm' } })).toEqual({ status, message: 'm', type });
  });

  it('parses a JSON text body', () => {
    expect(openAIUpstreamError(400, '{"error":{"message":"bad","type":"invalid_request_error","param":"n"}}')).toEqual({
      status: 400,
      message: 'bad',
      type: 'invalid_request_error',
      param: 'n',
    });
  });

  it('keeps a non-JSON body as the message, truncated to 2000 characters', () => {
    const error = openAIUpstreamError(502, 'x'.repeat(5000));
    expect(error).toEqual({ status: 502, message: 'x'.repeat(2000), type: 'api_error' });
  });

  it('serialises a JSON body that is not the envelope, and names the status for an empty one', () => {
    expect(openAIUpstreamError(422, { detail: 'bad input' })).toEqual({ status: 422, message: '{"detail":"bad input"}', type: 'invalid_request_error' });
    expect(openAIUpstreamError(500, '')).toEqual({ status: 500, message: 'upstream answered HTTP 500', type: 'api_error' });
  });
});

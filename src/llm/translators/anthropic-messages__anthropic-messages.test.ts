import { describe, expect, it } from 'vitest';
import type { SseEvent } from '../sse.js';
import { anthropicUpstreamError, createAnthropicMessagesToAnthropicMessages } from './anthropic-messages__anthropic-messages.js';

const target = { model: 'claude-sonnet-4-5-20250929', stream: true };

function event(type: string, fields: Record<string, unknown> = {}): SseEvent {
  return { event: type, data: JSON.stringify({ type, ...fields }) };
}

const start = event('message_start', {
  message: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    content: [],
    model: 'claude-sonnet-4-5-20250929',
    usage: { input_tokens: 20, cache_creation_input_tokens: 5, cache_read_input_tokens: 100, output_tokens: 1 },
  },
});

describe('anthropic-messages → anthropic-messages', () => {
  it('replaces the model, forces stream for streams and keeps every other field', () => {
    const body = { model: 'alias', max_tokens: 10, messages: [], top_k: 5, context_management: { edits: [] } };
    expect(createAnthropicMessagesToAnthropicMessages().request(structuredClone(body), target)).toEqual({
      path: '/messages',
      body: { ...body, model: target.model, stream: true },
    });
    expect(createAnthropicMessagesToAnthropicMessages().request(structuredClone(body), { ...target, stream: false }).body).toEqual({ ...body, model: target.model });
  });

  it('forwards every event unchanged and adds nothing at the end', () => {
    const t = createAnthropicMessagesToAnthropicMessages();
    t.request({ messages: [] }, target);
    const ping = { event: 'ping', data: '{"type": "ping"}' };
    const odd = { event: 'content_block_delta', data: '{not json' };
    expect([start, ping, odd].flatMap((e) => t.streamEvent(e))).toEqual([start, ping, odd]);
    expect(t.streamEnd(true)).toEqual([]);
    expect(t.streamEnd(false)).toEqual([]);
  });

  it('keeps message_start input counts when message_delta carries only output_tokens', () => {
    const t = createAnthropicMessagesToAnthropicMessages();
    t.request({ messages: [] }, target);
    t.streamEvent(start);
    t.streamEvent(event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 42 } }));
    expect(t.usage()).toEqual({ promptTokens: 125, completionTokens: 42, cachedTokens: 100, cacheWriteTokens: 5, reasoningTokens: 0 });
  });

  it('lets cumulative message_delta counters overwrite, null ones not', () => {
    const t = createAnthropicMessagesToAnthropicMessages();
    t.request({ messages: [] }, target);
    t.streamEvent(start);
    t.streamEvent(
      event('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { input_tokens: 30, cache_creation_input_tokens: null, cache_read_input_tokens: 100, output_tokens: 50, output_tokens_details: { thinking_tokens: 20 } },
      }),
    );
    expect(t.usage()).toEqual({ promptTokens: 135, completionTokens: 50, cachedTokens: 100, cacheWriteTokens: 5, reasoningTokens: 20 });
  });

  it('reads usage from a whole response and passes the body through', () => {
    const body = { id: 'msg_1', type: 'message', content: [], usage: { input_tokens: 3, output_tokens: 4, cache_read_input_tokens: null } };
    expect(createAnthropicMessagesToAnthropicMessages().response(body)).toEqual({
      body,
      usage: { promptTokens: 3, completionTokens: 4, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
    });
  });
});

describe('anthropic errors', () => {
  const envelope = (type: string) => ({ type: 'error', error: { type, message: 'm' }, request_id: 'req_1' });

  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
  ])('keeps the shared type of a %i', (status, type) => {
    expect(anthropicUpstreamError(status, envelope(type))).toEqual({ status, message: 'm', type });
  });

  it.each([
    [529, 'overloaded_error', 'api_error'],
    [402, 'billing_error', 'invalid_request_error'],
    [413, 'request_too_large', 'invalid_request_error'],
    [504, 'timeout_error', 'api_error'],
  ])('maps a %i %s to %s and keeps the Anthropic type as code', (status, anthropicType, type) => {
    expect(anthropicUpstreamError(status, envelope(anthropicType))).toEqual({ status, message: 'm', type, code: anthropicType });
  });

  it('keeps a non-JSON body as the message', () => {
    expect(anthropicUpstreamError(503, 'upstream connect error')).toEqual({ status: 503, message: 'upstream connect error', type: 'api_error' });
  });
});

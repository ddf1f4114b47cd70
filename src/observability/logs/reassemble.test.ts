import { describe, expect, it } from 'vitest';
import { reassembleStream } from './reassemble.js';
import { completionText, promptText } from './search-text.js';
import { isSecretHeader, redactHeaders } from './redact.js';

describe('reassembleStream', () => {
  it('OpenAI chunks: text, parallel tool-call argument deltas, finish reason, usage', () => {
    const events = [
      { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { id: 'c1', choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] },
      { id: 'c1', choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: null }] },
      { id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } }] } }] },
      { id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }] } }] },
      { id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: 'ty":"Oslo"}' } }] } }] },
      { id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      { id: 'c1', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } },
    ].map((e) => JSON.stringify(e));
    expect(reassembleStream('openai-chat', [...events, '[DONE]'])).toEqual({
      object: 'chat.completion',
      id: 'c1',
      created: 1,
      model: 'gpt-4o',
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 },
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'Hello',
            tool_calls: [
              { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
              { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
        },
      ],
    });
  });

  it('OpenAI: a mid-stream error event lands under error', () => {
    const out = reassembleStream('openai-chat', [JSON.stringify({ id: 'x', choices: [{ index: 0, delta: { content: 'par' } }] }), JSON.stringify({ error: { message: 'boom', code: 'upstream_stream_error' } })]);
    expect(out.error).toEqual({ message: 'boom', code: 'upstream_stream_error' });
    expect((out.choices as { message: { content: string } }[])[0]!.message.content).toBe('par');
  });

  it('Anthropic events: text, thinking and tool_use blocks, stop reason and usage', () => {
    const events = [
      { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', content: [], stop_reason: null, usage: { input_tokens: 9, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi ' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'there' } },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'tu_1', name: 'lookup', input: {} } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"q":' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"sluice"}' } },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 12 } },
      { type: 'message_stop' },
    ].map((e) => JSON.stringify(e));
    expect(reassembleStream('anthropic-messages', events)).toEqual({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude',
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 9, output_tokens: 12 },
      content: [
        { type: 'thinking', thinking: 'hmm', signature: 'sig' },
        { type: 'text', text: 'Hi there' },
        { type: 'tool_use', id: 'tu_1', name: 'lookup', input: { q: 'sluice' } },
      ],
    });
  });
});

describe('search text', () => {
  it('prompt: system, message parts, tool-call arguments, embedding inputs; not images', () => {
    expect(
      promptText({
        system: [{ type: 'text', text: 'be brief' }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
          { role: 'assistant', content: null, tool_calls: [{ function: { name: 'f', arguments: '{"a":1}' } }] },
        ],
      }),
    ).toEqual(['be brief', 'look', '{"a":1}']);
    expect(promptText({ input: ['one', 'two'] })).toEqual(['one', 'two']);
  });
  it('completion: OpenAI choices and Anthropic content', () => {
    expect(completionText({ choices: [{ message: { content: 'hi', tool_calls: [{ function: { name: 'f', arguments: '{}' } }] } }] })).toEqual(['hi', 'f {}']);
    expect(completionText({ type: 'message', content: [{ type: 'text', text: 'yo' }] })).toEqual(['yo']);
  });
});

describe('redactHeaders', () => {
  it('redacts credentials and anything that looks like one, keeps the rest', () => {
    expect(
      redactHeaders({
        authorization: 'Bearer sk-sluice-secret',
        'x-api-key': 'k',
        'X-Goog-Api-Key': 'g',
        cookie: 'a=b',
        'x-my-session-token': 't',
        'x-client-secret': 's',
        'proxy-authorization': 'Basic x',
        'x-user-id': 'alice',
        accept: ['a', 'b'],
        'x-none': undefined,
      }),
    ).toEqual({
      authorization: '[REDACTED]',
      'x-api-key': '[REDACTED]',
      'x-goog-api-key': '[REDACTED]',
      cookie: '[REDACTED]',
      'x-my-session-token': '[REDACTED]',
      'x-client-secret': '[REDACTED]',
      'proxy-authorization': '[REDACTED]',
      'x-user-id': 'alice',
      accept: 'a, b',
    });
    expect(isSecretHeader('x-sluice-conversation-id')).toBe(false);
    expect(isSecretHeader('anthropic-version')).toBe(false);
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../errors.js';
import { formatSse, type SseEvent } from '../sse.js';
import type { Translator } from '../translator.js';
import { createAnthropicMessagesToOpenAIChat } from './anthropic-messages__openai-chat.js';

const target = { model: 'gpt-4.1-2025-04-14', stream: true };
const user = { role: 'user', content: 'Weather in Paris and Rome?' };

function request(body: Record<string, unknown>, stream = false): Record<string, unknown> {
  return createAnthropicMessagesToOpenAIChat().request({ max_tokens: 100, messages: [user], ...body }, { ...target, stream }).body;
}

function violation(fn: () => unknown): { kind: string; fields: string[] } {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return { kind: err.kind, fields: err.violations.map((v) => v.field) };
    throw err;
  }
  throw new Error('expected a SluiceError');
}

function chunk(choice: Record<string, unknown> | undefined, usage: Record<string, unknown> | null = null): SseEvent {
  const choices = choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [];
  return { data: JSON.stringify({ id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1, model: 'gpt-4.1', choices, usage }) };
}

const delta = (d: Record<string, unknown>) => chunk({ delta: d });
const call = (index: number, fields: Record<string, unknown>) => delta({ tool_calls: [{ index, ...fields }] });
const finish = (reason: string) => chunk({ delta: {}, finish_reason: reason });
const usage = chunk(undefined, { prompt_tokens: 100, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 60 }, completion_tokens_details: { reasoning_tokens: 5 } });
const done = { data: '[DONE]' };

const toolStream: SseEvent[] = [
  delta({ role: 'assistant', content: '', refusal: null }),
  delta({ content: 'Checking' }),
  delta({ content: ' both.' }),
  call(0, { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '' } }),
  call(0, { function: { arguments: '{"city":' } }),
  call(0, { function: { arguments: '"Paris"}' } }),
  call(1, { id: 'call_rome', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }),
  finish('tool_calls'),
  usage,
  done,
];

function translator(): Translator {
  const t = createAnthropicMessagesToOpenAIChat();
  t.request({ max_tokens: 100, messages: [user], stream: true }, target);
  return t;
}

function run(t: Translator, events: SseEvent[], complete = true): SseEvent[] {
  return [...events.flatMap((e) => t.streamEvent(e)), ...t.streamEnd(complete)];
}

function parsed(events: SseEvent[]): Record<string, unknown>[] {
  return events.map((e) => {
    const data = JSON.parse(e.data) as Record<string, unknown>;
    expect(e.event).toBe(data.type);
    return data;
  });
}

describe('anthropic-messages → openai-chat request', () => {
  it('drops top_k, thinking, cache_control and thinking blocks, and asks for stream usage', () => {
    const body = request(
      {
        top_k: 40,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        messages: [
          user,
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 's' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            ],
          },
        ],
      },
      true,
    );
    expect(body).toEqual({
      model: target.model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        user,
        { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      ],
      max_tokens: 100,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('puts tool results first, one tool message each, then the rest of the user turn', () => {
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Also this:' },
          { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'A1' }, { type: 'text', text: 'A2' }] },
          { type: 'tool_result', tool_use_id: 'toolu_2', is_error: true, content: 'boom' },
          { type: 'tool_result', tool_use_id: 'toolu_3' },
        ],
      },
    ];
    expect(request({ messages }).messages).toEqual([
      { role: 'tool', tool_call_id: 'toolu_1', content: 'A1\n\nA2' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: boom' },
      { role: 'tool', tool_call_id: 'toolu_3', content: '' },
      { role: 'user', content: [{ type: 'text', text: 'Also this:' }] },
    ]);
  });

  it.each([
    [{ type: 'any' }, { tool_choice: 'required' }],
    [{ type: 'none' }, { tool_choice: 'none' }],
    [{ type: 'tool', name: 'get_weather', disable_parallel_tool_use: true }, { tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false }],
    [{ type: 'auto', disable_parallel_tool_use: true }, { tool_choice: 'auto', parallel_tool_calls: false }],
  ])('maps tool_choice %j', (choice, expected) => {
    expect(request({ tools: [], tool_choice: choice })).toMatchObject(expected);
  });

  it('keeps system turns inside messages', () => {
    expect(request({ messages: [{ role: 'system', content: 'Rules.' }, user] }).messages).toEqual([{ role: 'system', content: 'Rules.' }, user]);
  });

  it('refuses server tools, documents and file images, naming the field', () => {
    expect(violation(() => request({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }))).toEqual({ kind: 'invalid_argument', fields: ['tools[0]'] });
    const pdf = [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } }] }];
    expect(violation(() => request({ messages: pdf })).fields).toEqual(['messages[0].content[0].type']);
    const file = [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] }];
    expect(violation(() => request({ messages: file })).fields).toEqual(['messages[0].content[0].source']);
    expect(violation(() => request({ tool_choice: { type: 'tool' } })).fields).toEqual(['tool_choice.name']);
  });
});

describe('anthropic-messages → openai-chat response', () => {
  const response = (message: Record<string, unknown>, finishReason: string) =>
    createAnthropicMessagesToOpenAIChat().response({
      id: 'chatcmpl-abc',
      model: 'gpt-4.1',
      choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: null, ...message }, finish_reason: finishReason }],
      usage: { prompt_tokens: 100, completion_tokens: 20, prompt_tokens_details: { cached_tokens: 60 } },
    }).body;

  it('gives unparseable tool arguments as an empty input', () => {
    const body = response({ tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }, 'tool_calls');
    expect(body).toEqual({
      id: 'msg_abc',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4.1',
      content: [{ type: 'tool_use', id: 'call_1', name: 'f', input: {} }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 60, output_tokens: 20 },
    });
  });

  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['content_filter', 'refusal'],
  ])('maps finish_reason %s to stop_reason %s', (finishReason, stopReason) => {
    expect(response({ content: 'x' }, finishReason).stop_reason).toBe(stopReason);
  });

  it('gives a refusal as text with stop_reason refusal', () => {
    expect(response({ refusal: 'I cannot help with that.' }, 'stop')).toMatchObject({ content: [{ type: 'text', text: 'I cannot help with that.' }], stop_reason: 'refusal' });
  });
});

describe('anthropic-messages → openai-chat stream', () => {
  it('emits the Anthropic event sequence, blocks numbered in order', () => {
    const types = parsed(run(translator(), toolStream)).map((e) => `${String(e.type)}${e.index === undefined ? '' : `#${String(e.index)}`}`);
    expect(types).toEqual([
      'message_start',
      'content_block_start#0',
      'content_block_delta#0',
      'content_block_delta#0',
      'content_block_stop#0',
      'content_block_start#1',
      'content_block_delta#1',
      'content_block_delta#1',
      'content_block_stop#1',
      'content_block_start#2',
      'content_block_delta#2',
      'content_block_stop#2',
      'message_delta',
      'message_stop',
    ]);
  });

  it('puts the final usage in message_delta, after waiting for the usage chunk', () => {
    const t = translator();
    const beforeUsage = toolStream.slice(0, 8).flatMap((e) => t.streamEvent(e));
    expect(parsed(beforeUsage).map((e) => e.type)).not.toContain('message_delta');
    const [messageDelta] = parsed(t.streamEvent(usage));
    expect(messageDelta).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 60, output_tokens: 20 },
    });
    expect(t.usage()).toEqual({ promptTokens: 100, completionTokens: 20, cachedTokens: 60, cacheWriteTokens: 0, reasoningTokens: 5 });
    expect(t.streamEvent(done)).toEqual([]);
    expect(t.streamEnd(true)).toEqual([]);
  });

  it('closes at [DONE] when the upstream sent no usage', () => {
    const out = parsed(run(translator(), [delta({ content: 'Hi' }), finish('length'), done]));
    expect(out.slice(-3)).toEqual([
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 } },
      { type: 'message_stop' },
    ]);
  });

  it('closes a complete stream without a finish reason with end_turn', () => {
    const out = parsed(run(translator(), [delta({ content: 'Hi' })], true));
    expect(out.slice(-3).map((e) => e.type)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(out.at(-2)).toMatchObject({ delta: { stop_reason: 'end_turn' } });
  });

  it('adds nothing to a cut stream and keeps the usage seen so far', () => {
    const t = translator();
    const out = run(t, toolStream.slice(0, 5), false);
    expect(parsed(out).at(-1)).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } });
    expect(t.usage().promptTokens).toBe(0);
  });

  it('handles usage on the finish chunk itself, and text after a tool call in a new block', () => {
    const t = translator();
    const finishWithUsage = { data: JSON.stringify({ id: 'x', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 7, completion_tokens: 2 } }) };
    const out = parsed(run(t, [call(0, { id: 'c', function: { name: 'f', arguments: '{}' } }), delta({ content: 'done' }), finishWithUsage]));
    expect(out.map((e) => `${String(e.type)}${e.index === undefined ? '' : `#${String(e.index)}`}`)).toEqual([
      'message_start',
      'content_block_start#0',
      'content_block_delta#0',
      'content_block_stop#0',
      'content_block_start#1',
      'content_block_delta#1',
      'content_block_stop#1',
      'message_delta',
      'message_stop',
    ]);
    expect(out.at(-2)).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 7, output_tokens: 2 } });
  });

  it('routes a late argument fragment to the block of its tool call', () => {
    const out = parsed(run(translator(), [call(0, { id: 'a', function: { name: 'f', arguments: '{"x":' } }), call(1, { id: 'b', function: { name: 'g', arguments: '{}' } }), call(0, { function: { arguments: '1}' } })]));
    expect(out.filter((e) => e.type === 'content_block_delta').map((e) => [e.index, (e.delta as { partial_json: string }).partial_json])).toEqual([
      [0, '{"x":'],
      [1, '{}'],
      [0, '1}'],
    ]);
  });

  it('turns a mid-stream OpenAI error chunk into an Anthropic error event and then stops', () => {
    const t = translator();
    const error = { data: JSON.stringify({ error: { message: 'The server had an error', type: 'server_error', param: null, code: null } }) };
    const out = run(t, [delta({ content: 'Hi' }), error, delta({ content: ' there' })], true);
    expect(out.at(-1)).toEqual({ event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'The server had an error' } }) });
    expect(parsed(out).map((e) => e.type)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'error']);
  });

  it("waits past Azure's prompt_filter_results chunk for the message id and model", () => {
    const filter = { data: JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] }) };
    const [start] = parsed(run(translator(), [filter, delta({ role: 'assistant', content: '' }), delta({ content: 'Hi' })]));
    expect(start).toMatchObject({ type: 'message_start', message: { id: 'msg_abc', model: 'gpt-4.1' } });
  });

  it('ends a streamed refusal with stop_reason refusal', () => {
    const out = parsed(run(translator(), [delta({ refusal: 'I cannot help with that.' }), finish('stop'), usage]));
    expect(out.at(-2)).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'refusal' } });
  });

  it('reports a malformed chunk as an Anthropic error event', () => {
    const out = run(translator(), [delta({ content: 'Hi' }), { data: '{"choices":[' }]);
    expect(parsed(out).at(-1)).toEqual({ type: 'error', error: { type: 'api_error', message: 'malformed upstream stream event' } });
  });

  it('is read by the official Anthropic SDK as one message with both tool calls and the real usage', async () => {
    const sse = run(translator(), toolStream).map(formatSse).join('');
    const client = new Anthropic({
      apiKey: 'test',
      baseURL: 'http://sluice.test',
      maxRetries: 0,
      fetch: async () => new Response(sse, { headers: { 'content-type': 'text/event-stream' } }),
    });
    const message = await client.messages.stream({ model: 'x', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }).finalMessage();
    expect(message.id).toBe('msg_abc');
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'call_paris', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: { city: 'Rome' } },
    ]);
    expect(message.usage).toMatchObject({ input_tokens: 40, cache_read_input_tokens: 60, output_tokens: 20 });
  });
});

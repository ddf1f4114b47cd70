import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../errors.js';
import { formatSse, type SseEvent } from '../sse.js';
import type { Translator } from '../translator.js';
import { createOpenAIChatToAnthropicMessages } from './openai-chat__anthropic-messages.js';

const target = { model: 'claude-sonnet-4-5-20250929', stream: true, created: 1767225600 };
const user = { role: 'user', content: 'Weather in Paris and Rome?' };

function request(body: Record<string, unknown>, stream = false): Record<string, unknown> {
  return createOpenAIChatToAnthropicMessages().request({ messages: [user], ...body }, { ...target, stream }).body;
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

function ev(type: string, fields: Record<string, unknown> = {}): SseEvent {
  return { event: type, data: JSON.stringify({ type, ...fields }) };
}

const messageStart = ev('message_start', {
  message: {
    id: 'msg_01abc',
    type: 'message',
    role: 'assistant',
    content: [],
    model: 'claude-sonnet-4-5-20250929',
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 10, cache_creation_input_tokens: 2, cache_read_input_tokens: 4, output_tokens: 1 },
  },
});
const blockStart = (index: number, block: Record<string, unknown>) => ev('content_block_start', { index, content_block: block });
const blockDelta = (index: number, delta: Record<string, unknown>) => ev('content_block_delta', { index, delta });
const blockStop = (index: number) => ev('content_block_stop', { index });
const messageDelta = (stopReason: string, usage: Record<string, unknown>) => ev('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage });
const messageStop = ev('message_stop');
const tool = (id: string) => ({ type: 'tool_use', id, name: 'get_weather', input: {} });

/** Thinking, text, tool, text, tool: content block indexes 0–4, tool call indexes 0 and 1. */
const interleaved: SseEvent[] = [
  messageStart,
  blockStart(0, { type: 'thinking', thinking: '', signature: '' }),
  blockDelta(0, { type: 'thinking_delta', thinking: 'Two cities.' }),
  blockDelta(0, { type: 'signature_delta', signature: 'sig' }),
  blockStop(0),
  blockStart(1, { type: 'text', text: '' }),
  blockDelta(1, { type: 'text_delta', text: 'Checking Paris' }),
  blockStop(1),
  blockStart(2, tool('toolu_paris')),
  blockDelta(2, { type: 'input_json_delta', partial_json: '' }),
  blockDelta(2, { type: 'input_json_delta', partial_json: '{"city": "Pa' }),
  blockDelta(2, { type: 'input_json_delta', partial_json: 'ris"}' }),
  blockStop(2),
  blockStart(3, { type: 'text', text: '' }),
  blockDelta(3, { type: 'text_delta', text: ' and Rome.' }),
  blockStop(3),
  blockStart(4, tool('toolu_rome')),
  blockDelta(4, { type: 'input_json_delta', partial_json: '{"city": "Rome"}' }),
  blockStop(4),
  { event: 'ping', data: '{"type": "ping"}' },
  messageDelta('tool_use', { output_tokens: 57, output_tokens_details: { thinking_tokens: 12 } }),
  messageStop,
];

function translator(includeUsage: boolean): Translator {
  const t = createOpenAIChatToAnthropicMessages();
  t.request({ messages: [user], stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) }, target);
  return t;
}

function run(t: Translator, events: SseEvent[], complete = true): SseEvent[] {
  return [...events.flatMap((e) => t.streamEvent(e)), ...t.streamEnd(complete)];
}

function chunks(events: SseEvent[]): Record<string, unknown>[] {
  return events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data) as Record<string, unknown>);
}

interface ToolCallDelta {
  index: number;
  id?: string;
  function: { name?: string; arguments: string };
}

function toolCallDeltas(events: SseEvent[]): ToolCallDelta[] {
  return chunks(events).flatMap((c) => {
    const choices = (c.choices ?? []) as { delta: { tool_calls?: ToolCallDelta[] } }[];
    return choices.flatMap((choice) => choice.delta.tool_calls ?? []);
  });
}

describe('openai-chat → anthropic-messages request', () => {
  it('rejects tool call arguments that are not a JSON object, naming the field', () => {
    const messages = [
      user,
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } },
        ],
      },
    ];
    expect(violation(() => request({ messages }))).toEqual({ kind: 'invalid_argument', fields: ['messages[1].tool_calls[1].function.arguments'] });
    const array = [user, { role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }] }];
    expect(violation(() => request({ messages: array })).fields).toEqual(['messages[1].tool_calls[0].function.arguments']);
  });

  it('sends empty tool call arguments as an empty input object', () => {
    const messages = [user, { role: 'assistant', content: '', tool_calls: [{ id: 'c', type: 'function', function: { name: 'now', arguments: '' } }] }];
    expect(request({ messages }).messages).toEqual([user, { role: 'assistant', content: [{ type: 'tool_use', id: 'c', name: 'now', input: {} }] }]);
  });

  it('refuses n > 1 and accepts n = 1', () => {
    expect(violation(() => request({ n: 2 }))).toEqual({ kind: 'invalid_argument', fields: ['n'] });
    expect(request({ n: 1 }).messages).toEqual([user]);
  });

  it.each([
    ['required', { type: 'any' }],
    ['none', { type: 'none' }],
    [{ type: 'function', function: { name: 'get_weather' } }, { type: 'tool', name: 'get_weather' }],
  ])('maps tool_choice %j', (choice, expected) => {
    expect(request({ tools: [], tool_choice: choice }).tool_choice).toEqual(expected);
  });

  it('maps parallel_tool_calls: false to disable_parallel_tool_use, with or without tool_choice', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather' } }];
    expect(request({ tools, parallel_tool_calls: false }).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(request({ tools, tool_choice: 'required', parallel_tool_calls: false }).tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(request({ tools }).tools).toEqual([{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }]);
  });

  it('defaults max_tokens and prefers max_completion_tokens', () => {
    expect(request({}).max_tokens).toBe(4096);
    expect(request({ max_tokens: 100 }).max_tokens).toBe(100);
    expect(request({ max_tokens: 100, max_completion_tokens: 200 }).max_tokens).toBe(200);
  });

  it('maps a single stop string, one system message to a string, and keeps temperature over top_p', () => {
    const body = request({ messages: [{ role: 'system', content: 'Be brief.' }, user], stop: 'END', temperature: 0, top_p: 0.5 });
    expect(body).toMatchObject({ system: 'Be brief.', stop_sequences: ['END'], temperature: 0 });
    expect(body).not.toHaveProperty('top_p');
    expect(request({ top_p: 0.5 }).top_p).toBe(0.5);
  });

  it('puts consecutive tool results in one user turn and a following user message in its own', () => {
    const messages = [
      user,
      { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }, { id: 'b', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'a', content: 'A' },
      { role: 'tool', tool_call_id: 'b', content: 'B' },
      { role: 'user', content: 'Thanks' },
    ];
    expect((request({ messages }).messages as unknown[]).slice(2)).toEqual([
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'a', content: 'A' },
          { type: 'tool_result', tool_use_id: 'b', content: 'B' },
        ],
      },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  it('refuses content and roles Anthropic cannot take, naming the field', () => {
    const audio = [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }];
    expect(violation(() => request({ messages: audio })).fields).toEqual(['messages[0].content[0].type']);
    const image = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }] }];
    expect(violation(() => request({ messages: image })).fields).toEqual(['messages[0].content[0].image_url.url']);
    expect(violation(() => request({ messages: [{ role: 'function', name: 'f', content: 'x' }] })).fields).toEqual(['messages[0].role']);
    expect(violation(() => request({ messages: [null] })).fields).toEqual(['messages[0]']);
    expect(violation(() => request({ tools: [{ type: 'custom', custom: { name: 'x' } }] })).fields).toEqual(['tools[0]']);
  });

  it('turns json_object into a system instruction and requires a schema for json_schema', () => {
    expect(request({ response_format: { type: 'json_object' } }).system).toBe('Respond with a single valid JSON object and no other text.');
    expect(violation(() => request({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } })).fields).toEqual(['response_format.json_schema.schema']);
    expect(request({ response_format: { type: 'text' } })).not.toHaveProperty('output_config');
  });
});

describe('openai-chat → anthropic-messages response', () => {
  const response = (fields: Record<string, unknown>) => {
    const t = createOpenAIChatToAnthropicMessages();
    t.request({ messages: [user] }, { ...target, stream: false });
    return t.response({ id: 'msg_01abc', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 }, ...fields });
  };

  it('drops thinking blocks from the content but counts their tokens', () => {
    const { body, usage } = response({
      content: [
        { type: 'thinking', thinking: 'hmm', signature: 's' },
        { type: 'text', text: 'Hello' },
        { type: 'text', text: ' world' },
      ],
      usage: { input_tokens: 5, output_tokens: 40, output_tokens_details: { thinking_tokens: 30 } },
    });
    expect(body).toMatchObject({ id: 'chatcmpl-01abc', object: 'chat.completion', created: 1767225600, model: 'claude-x', choices: [{ message: { role: 'assistant', content: 'Hello world', refusal: null } }] });
    expect(usage).toEqual({ promptTokens: 5, completionTokens: 40, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 30 });
    expect(body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 40, total_tokens: 45, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 30 } });
  });

  it('has null content when the reply is only tool calls', () => {
    const { body } = response({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }], stop_reason: 'tool_use' });
    expect(body.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['pause_turn', 'stop'],
  ])('maps stop_reason %s to finish_reason %s', (stopReason, finish) => {
    expect((response({ stop_reason: stopReason }).body.choices as { finish_reason: string }[])[0]!.finish_reason).toBe(finish);
  });
});

describe('openai-chat → anthropic-messages stream', () => {
  it('counts tool call indexes apart from content blocks', () => {
    const deltas = toolCallDeltas(run(translator(false), interleaved));
    expect(deltas).toEqual([
      { index: 0, id: 'toolu_paris', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"city": "Pa' } },
      { index: 0, function: { arguments: 'ris"}' } },
      { index: 1, id: 'toolu_rome', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 1, function: { arguments: '{"city": "Rome"}' } },
    ]);
  });

  it('stamps the same id, created and model on every chunk and drops thinking', () => {
    const all = chunks(run(translator(true), interleaved));
    expect(new Set(all.map((c) => `${String(c.id)} ${String(c.created)} ${String(c.model)}`))).toEqual(new Set(['chatcmpl-01abc 1767225600 claude-sonnet-4-5-20250929']));
    expect(JSON.stringify(all)).not.toContain('Two cities');
  });

  it('accumulates usage from message_start and message_delta and reports it in the final chunk', () => {
    const t = translator(true);
    const out = run(t, interleaved);
    expect(t.usage()).toEqual({ promptTokens: 16, completionTokens: 57, cachedTokens: 4, cacheWriteTokens: 2, reasoningTokens: 12 });
    const [usageChunk, done] = out.slice(-2);
    expect(JSON.parse(usageChunk!.data)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 16, completion_tokens: 57, total_tokens: 73, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 12 } },
    });
    expect(done).toEqual({ data: '[DONE]' });
  });

  it('omits the usage chunk and the usage: null fields when the client did not ask', () => {
    const t = translator(false);
    const out = run(t, interleaved);
    expect(out.filter((e) => e.data.includes('"usage"'))).toEqual([]);
    expect(t.usage().completionTokens).toBe(57);
  });

  it('turns a mid-stream error event into an OpenAI error chunk and then stops', () => {
    const t = translator(true);
    const error = ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });
    const out = run(t, [messageStart, blockStart(0, { type: 'text', text: '' }), blockDelta(0, { type: 'text_delta', text: 'Hel' }), error, blockDelta(0, { type: 'text_delta', text: 'lo' })]);
    expect(out.at(-1)).toEqual({ data: JSON.stringify({ error: { message: 'Overloaded', type: 'api_error', param: null, code: 'overloaded_error' } }) });
    expect(out.map((e) => e.data).join('')).not.toContain('lo"');
    expect(t.usage().promptTokens).toBe(16);
  });

  it('reports a malformed upstream event as an error chunk', () => {
    const out = run(translator(false), [messageStart, { event: 'content_block_delta', data: '{"type":"content_block_delta",' }]);
    expect(JSON.parse(out.at(-1)!.data)).toEqual({ error: { message: 'malformed upstream stream event', type: 'api_error', param: null, code: null } });
  });

  it('adds nothing to a cut stream and keeps the usage seen so far', () => {
    const t = translator(true);
    const out = run(t, interleaved.slice(0, 8), false);
    expect(out.at(-1)!.data).toContain('Checking Paris');
    expect(t.usage()).toEqual({ promptTokens: 16, completionTokens: 1, cachedTokens: 4, cacheWriteTokens: 2, reasoningTokens: 0 });
  });

  it('closes a complete stream that lacked message_stop with the usage chunk and [DONE]', () => {
    const out = run(translator(true), interleaved.slice(0, -1));
    expect(out.at(-2)!.data).toContain('"choices":[],"usage":{');
    expect(out.at(-1)).toEqual({ data: '[DONE]' });
  });

  it('is read by the official OpenAI SDK as one completion with both tool calls', async () => {
    const sse = run(translator(true), interleaved).map(formatSse).join('');
    const client = new OpenAI({
      apiKey: 'test',
      baseURL: 'http://sluice.test/v1',
      maxRetries: 0,
      fetch: async () => new Response(sse, { headers: { 'content-type': 'text/event-stream' } }),
    });
    const stream = client.chat.completions.stream({ model: 'x', messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } });
    const completion = await stream.finalChatCompletion();
    expect(completion.choices[0]!.message.content).toBe('Checking Paris and Rome.');
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(completion.choices[0]!.message.tool_calls?.map((c) => (c.type === 'function' ? [c.id, c.function.arguments] : []))).toEqual([
      ['toolu_paris', '{"city": "Paris"}'],
      ['toolu_rome', '{"city": "Rome"}'],
    ]);
    expect(completion.usage?.prompt_tokens).toBe(16);
  });
});

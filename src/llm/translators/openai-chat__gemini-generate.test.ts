import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../errors.js';
import type { SseEvent } from '../sse.js';
import type { Translator } from '../translator.js';
import { createOpenAIChatToGeminiGenerate } from './openai-chat__gemini-generate.js';

const CREATED = 1767323045;
const TARGET = { model: 'gemini-2.5-flash', stream: false, created: CREATED };

function translator(): Translator {
  return createOpenAIChatToGeminiGenerate();
}

function upstreamBody(body: Record<string, unknown>, stream = false): Record<string, unknown> {
  return translator().request(body, { ...TARGET, stream }).body;
}

function violation(fn: () => unknown): { kind: string; field: string; reason: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    const e = err as SluiceError;
    return { kind: e.kind, field: e.violations[0]?.field ?? '', reason: e.violations[0]?.reason ?? '' };
  }
  throw new Error('expected a SluiceError');
}

function sse(chunk: unknown): SseEvent {
  return { data: JSON.stringify(chunk) };
}

function payloads(events: SseEvent[]): unknown[] {
  return events.map((e) => (e.data === '[DONE]' ? e.data : JSON.parse(e.data)));
}

const user = (content: unknown) => ({ role: 'user', content });
const call = (id: string, name: string, args: string) => ({ id, type: 'function', function: { name, arguments: args } });

describe('request', () => {
  it('refuses tool call arguments that are not a JSON object, naming the field', () => {
    const body = { messages: [user('hi'), { role: 'assistant', content: null, tool_calls: [call('a', 'f', '{}'), call('b', 'f', '{"city":')] }] };
    expect(violation(() => upstreamBody(body))).toEqual({ kind: 'invalid_argument', field: 'messages[1].tool_calls[1].function.arguments', reason: 'INVALID_FORMAT' });
    const array = { messages: [user('hi'), { role: 'assistant', tool_calls: [call('a', 'f', '[1]')] }] };
    expect(violation(() => upstreamBody(array)).field).toBe('messages[1].tool_calls[0].function.arguments');
  });

  it('treats empty arguments as no arguments', () => {
    const body = { messages: [user('hi'), { role: 'assistant', tool_calls: [call('a', 'list', '')] }] };
    expect((upstreamBody(body).contents as unknown[])[1]).toEqual({
      role: 'model',
      parts: [{ functionCall: { name: 'list', args: {} }, thoughtSignature: 'skip_thought_signature_validator' }],
    });
  });

  it('refuses a tool result whose call id no earlier assistant message made', () => {
    const body = { messages: [user('hi'), { role: 'tool', tool_call_id: 'nope', content: 'x' }] };
    expect(violation(() => upstreamBody(body))).toEqual({ kind: 'invalid_argument', field: 'messages[1].tool_call_id', reason: 'UNKNOWN_REFERENCE' });
  });

  it('names each tool result after the latest call with its id, even when ids repeat across turns', () => {
    const body = {
      messages: [
        user('hi'),
        { role: 'assistant', tool_calls: [call('call_0', 'first', '{}')] },
        { role: 'tool', tool_call_id: 'call_0', content: '1' },
        { role: 'assistant', tool_calls: [call('call_0', 'second', '{}')] },
        { role: 'tool', tool_call_id: 'call_0', content: [{ type: 'text', text: 'done' }] },
      ],
    };
    const contents = upstreamBody(body).contents as { parts: { functionResponse?: unknown }[] }[];
    expect(contents[2]?.parts[0]?.functionResponse).toEqual({ name: 'first', response: { content: 1 } });
    expect(contents[4]?.parts[0]?.functionResponse).toEqual({ name: 'second', response: { content: { result: 'done' } } });
  });

  it('refuses content Gemini cannot take, naming the part', () => {
    expect(violation(() => upstreamBody({ messages: [user([{ type: 'video', video: {} }])] }))).toEqual({
      kind: 'invalid_argument',
      field: 'messages[0].content[0].type',
      reason: 'UNSUPPORTED',
    });
    expect(violation(() => upstreamBody({ messages: [user([{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }])] })).field).toBe('messages[0].content[0].image_url.url');
    expect(violation(() => upstreamBody({ messages: [user([{ type: 'file', file: { file_id: 'file-1' } }])] })).field).toBe('messages[0].content[0].file.file_data');
    expect(violation(() => upstreamBody({ messages: [{ role: 'function', name: 'f', content: 'x' }] })).field).toBe('messages[0].role');
    expect(violation(() => upstreamBody({})).field).toBe('messages');
    expect(violation(() => upstreamBody({ messages: 'hi' })).field).toBe('messages');
    expect(violation(() => upstreamBody({ messages: [user('x'), null] })).field).toBe('messages[1]');
    expect(violation(() => upstreamBody({ messages: [user([{ type: 'text', text: 'a' }, 'b'])] })).field).toBe('messages[0].content[1]');
    expect(violation(() => upstreamBody({ messages: [{ role: 'assistant', tool_calls: [{ id: 'a', type: 'function' }] }] })).field).toBe('messages[0].tool_calls[0].function.name');
    expect(violation(() => upstreamBody({ messages: [user('x')], tools: [{ type: 'function' }] })).field).toBe('tools[0].function.name');
  });

  it('keeps each system text as its own part of the one system instruction', () => {
    const body = upstreamBody({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'a' }, { type: 'text', text: '' }, { type: 'text', text: 'b' }] },
        user('x'),
        { role: 'developer', content: 'c' },
      ],
    });
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'a' }, { text: 'b' }, { text: 'c' }] });
    expect(body.contents).toEqual([{ role: 'user', parts: [{ text: 'x' }] }]);
  });

  it('sends audio and PDFs inline and guesses image types from the URL, image/jpeg when unknown', () => {
    const parts = (
      upstreamBody({
        messages: [
          user([
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
            { type: 'image_url', image_url: { url: 'https://cdn.example.com/p/123' } },
            { type: 'image_url', image_url: { url: 'https://cdn.example.com/p/cat.GIF#frag' } },
          ]),
        ],
      }).contents as { parts: unknown[] }[]
    )[0]?.parts;
    expect(parts).toEqual([
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://cdn.example.com/p/123' } },
      { fileData: { mimeType: 'image/gif', fileUri: 'https://cdn.example.com/p/cat.GIF#frag' } },
    ]);
  });

  it('signs only the first call of each assistant turn and merges consecutive turns of one role', () => {
    const body = {
      messages: [
        user('a'),
        user([{ type: 'text', text: 'b' }]),
        { role: 'assistant', content: [{ type: 'text', text: 'c' }], tool_calls: [call('1', 'f', '{}'), call('2', 'g', '{}')] },
        { role: 'assistant', content: 'd' },
        { role: 'assistant', content: '', tool_calls: [call('3', 'h', '{"x":1}')] },
      ],
    };
    expect(upstreamBody(body).contents).toEqual([
      { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
      {
        role: 'model',
        parts: [
          { text: 'c' },
          { functionCall: { name: 'f', args: {} }, thoughtSignature: 'skip_thought_signature_validator' },
          { functionCall: { name: 'g', args: {} } },
          { text: 'd' },
          { functionCall: { name: 'h', args: { x: 1 } }, thoughtSignature: 'skip_thought_signature_validator' },
        ],
      },
    ]);
  });

  it('maps every tool_choice form, and sends none without tools', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }];
    const config = (tool_choice: unknown) => upstreamBody({ messages: [user('x')], tools, tool_choice }).toolConfig;
    expect(config('none')).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(config('required')).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(config({ type: 'function', function: { name: 'f' } })).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] } });
    expect(config(undefined)).toBeUndefined();
    expect(violation(() => config({ type: 'allowed_tools' })).field).toBe('tool_choice');
    expect(upstreamBody({ messages: [user('x')], tool_choice: 'required' })).toEqual({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] });
    expect(violation(() => upstreamBody({ messages: [user('x')], tools: [{ type: 'custom', custom: { name: 'c' } }] })).field).toBe('tools[0].type');
  });

  it('asks for JSON for json_object, and maps reasoning effort to a thinking budget', () => {
    expect(upstreamBody({ messages: [user('x')], response_format: { type: 'json_object' }, reasoning_effort: 'none' }).generationConfig).toEqual({
      responseMimeType: 'application/json',
      thinkingConfig: { thinkingBudget: 0 },
    });
    expect(upstreamBody({ messages: [user('x')], response_format: { type: 'text' }, max_tokens: 5 }).generationConfig).toEqual({ maxOutputTokens: 5 });
    expect(violation(() => upstreamBody({ messages: [user('x')], reasoning_effort: 'extreme' })).field).toBe('reasoning_effort');
  });

  it('converts JSON Schema to the subset Gemini accepts', () => {
    const parameters = {
      type: 'object',
      properties: {
        tree: { $ref: '#/definitions/node' },
        implied: { properties: { a: { type: 'integer', format: 'int64' } }, required: ['a', 'missing'] },
        list: { items: { type: 'number', format: 'decimal' } },
        choice: { allOf: [{ $ref: '#/definitions/color' }], description: 'Pick one' },
        empty: { type: 'object', properties: {}, additionalProperties: true },
        level: { type: 'integer', enum: [1, 2] },
        either: { type: ['string', 'integer'] },
        external: { $ref: 'https://example.com/schema.json' },
      },
      definitions: {
        node: { type: 'object', properties: { child: { $ref: '#/definitions/node' }, name: { type: 'string', pattern: '^[a-z]+$' } } },
        color: { type: 'string', enum: ['red', 'blue'] },
      },
    };
    const body = upstreamBody({ messages: [user('x')], tools: [{ type: 'function', function: { name: 'f', parameters } }] });
    expect((body.tools as { functionDeclarations: unknown[] }[])[0]?.functionDeclarations[0]).toEqual({
      name: 'f',
      parameters: {
        type: 'OBJECT',
        properties: {
          tree: { type: 'OBJECT', properties: { child: {}, name: { type: 'STRING', pattern: '^[a-z]+$' } } },
          implied: { type: 'OBJECT', properties: { a: { type: 'INTEGER', format: 'int64' } }, required: ['a'] },
          list: { type: 'ARRAY', items: { type: 'NUMBER' } },
          choice: { type: 'STRING', enum: ['red', 'blue'], description: 'Pick one' },
          empty: { type: 'OBJECT' },
          level: { type: 'INTEGER', enum: ['1', '2'] },
          either: { anyOf: [{ type: 'STRING' }, { type: 'INTEGER' }] },
          external: {},
        },
      },
    });
  });
});

describe('response', () => {
  it('leaves thoughts out of the content and gives tool calls null content', () => {
    const t = translator();
    t.request({ messages: [user('x')] }, TARGET);
    const { body } = t.response({
      responseId: 'r1',
      candidates: [{ content: { parts: [{ text: 'planning…', thought: true }, { functionCall: { name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP' }],
    });
    expect(body).toEqual({
      id: 'chatcmpl-r1',
      object: 'chat.completion',
      created: CREATED,
      model: 'gemini-2.5-flash',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_r1_0', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
    });
  });

  it('answers a blocked prompt with empty, filtered choices and keeps its usage', () => {
    const t = translator();
    t.request({ messages: [user('x')], n: 2 }, TARGET);
    const { body, usage } = t.response({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 }, responseId: 'r2' });
    expect(body.choices).toEqual([0, 1].map((index) => ({ index, message: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: 'content_filter' })));
    expect(usage.promptTokens).toBe(9);
  });

  it('maps filter finish reasons to content_filter', () => {
    for (const reason of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII']) {
      const t = translator();
      t.request({ messages: [user('x')] }, TARGET);
      const { body } = t.response({ candidates: [{ finishReason: reason }] });
      expect((body.choices as { finish_reason: string; message: unknown }[])[0]).toMatchObject({ finish_reason: 'content_filter', message: { content: '' } });
    }
  });
});

describe('stream', () => {
  const text = (t: string, extra: Record<string, unknown> = {}) => ({ responseId: 's1', modelVersion: 'gemini-2.5-flash-001', candidates: [{ content: { parts: [{ text: t }] }, ...extra }] });

  it('keeps id, created and model stable, and takes usage from the last chunk', () => {
    const t = translator();
    t.request({ messages: [user('x')], stream: true, stream_options: { include_usage: true } }, { ...TARGET, stream: true });
    const events = [
      ...t.streamEvent(sse({ ...text('a'), usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1, cachedContentTokenCount: 4, thoughtsTokenCount: 7 } })),
      ...t.streamEvent(sse({ ...text('b', { finishReason: 'MAX_TOKENS' }), responseId: 'other', usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 3 } })),
      ...t.streamEnd(true),
    ];
    const chunks = payloads(events).slice(0, -1) as { id: string; created: number; model: string }[];
    expect(new Set(chunks.map((c) => `${c.id} ${c.created} ${c.model}`))).toEqual(new Set([`chatcmpl-s1 ${CREATED} gemini-2.5-flash-001`]));
    expect(payloads(events).slice(-3)).toEqual([
      expect.objectContaining({ choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'length' }], usage: null }),
      expect.objectContaining({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } } }),
      '[DONE]',
    ]);
    expect(t.usage()).toEqual({ promptTokens: 10, completionTokens: 3, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });
  });

  it('keeps the usage seen so far when the stream is cut, and closes nothing', () => {
    const t = translator();
    t.request({ messages: [user('x')], stream: true, stream_options: { include_usage: true } }, { ...TARGET, stream: true });
    t.streamEvent(sse({ ...text('a'), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1 } }));
    expect(t.streamEnd(false)).toEqual([]);
    expect(t.usage()).toMatchObject({ promptTokens: 5, completionTokens: 1 });
  });

  it('turns an error event into an OpenAI error chunk and ends the stream there', () => {
    const t = translator();
    t.request({ messages: [user('x')], stream: true }, { ...TARGET, stream: true });
    const first = payloads(t.streamEvent(sse(text('partial'))));
    expect(first).toHaveLength(2);
    const error = t.streamEvent(sse({ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } }));
    expect(payloads(error)).toEqual([{ error: { message: 'The model is overloaded. Please try again later.', type: 'api_error', code: 'unavailable', param: null } }]);
    expect(t.streamEvent(sse(text('late')))).toEqual([]);
    expect(t.streamEnd(true)).toEqual([]);
  });

  it('reports a malformed event as an error chunk', () => {
    const t = translator();
    t.request({ messages: [user('x')], stream: true }, { ...TARGET, stream: true });
    expect(payloads(t.streamEvent({ data: '{"candidates": [' }))).toEqual([{ error: { message: 'malformed event in the upstream stream', type: 'api_error', code: 'unavailable', param: null } }]);
  });

  it('answers a blocked prompt with a filtered finish for each choice', () => {
    const t = translator();
    t.request({ messages: [user('x')], stream: true }, { ...TARGET, stream: true });
    const out = payloads(t.streamEvent(sse({ promptFeedback: { blockReason: 'SAFETY' }, responseId: 'b' }))) as { choices: unknown[] }[];
    expect(out.map((c) => c.choices[0])).toEqual([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'content_filter' },
    ]);
    expect(payloads(t.streamEnd(true))).toEqual(['[DONE]']);
  });

  it('numbers tool calls per choice across chunks and finishes with tool_calls', () => {
    const t = translator();
    t.request({ messages: [user('x')], stream: true }, { ...TARGET, stream: true });
    const fc = (name: string) => ({ functionCall: { name, args: {} } });
    const events = [
      ...t.streamEvent(sse({ responseId: 'c', candidates: [{ content: { parts: [fc('a')] } }] })),
      ...t.streamEvent(sse({ responseId: 'c', candidates: [{ content: { parts: [{ text: 'thinking', thought: true }, fc('b')] }, finishReason: 'STOP' }] })),
    ];
    const deltas = (payloads(events) as { choices: { delta: Record<string, unknown>; finish_reason: string | null }[] }[]).map((c) => c.choices[0]);
    expect(deltas).toEqual([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { tool_calls: [{ index: 0, id: 'call_c_0', type: 'function', function: { name: 'a', arguments: '{}' } }] }, logprobs: null, finish_reason: null },
      { index: 0, delta: { tool_calls: [{ index: 1, id: 'call_c_1', type: 'function', function: { name: 'b', arguments: '{}' } }] }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' },
    ]);
  });
});

describe('error', () => {
  it('maps Google errors by HTTP status, the canonical status as code', () => {
    const t = translator();
    const google = (code: number, status: string) => ({ error: { code, message: `m${code}`, status } });
    expect(t.error(400, google(400, 'INVALID_ARGUMENT'))).toEqual({ status: 400, message: 'm400', type: 'invalid_request_error', code: 'invalid_argument' });
    expect(t.error(403, google(403, 'PERMISSION_DENIED'))).toMatchObject({ type: 'permission_error', code: 'permission_denied' });
    expect(t.error(404, google(404, 'NOT_FOUND'))).toMatchObject({ type: 'not_found_error', code: 'not_found' });
    expect(t.error(429, google(429, 'RESOURCE_EXHAUSTED'))).toMatchObject({ type: 'rate_limit_error', code: 'resource_exhausted' });
    expect(t.error(500, google(500, 'INTERNAL'))).toMatchObject({ type: 'api_error', code: 'internal' });
    expect(t.error(503, JSON.stringify(google(503, 'UNAVAILABLE')))).toMatchObject({ status: 503, type: 'api_error', code: 'unavailable' });
  });

  it('treats an invalid API key as an authentication failure', () => {
    const body = { error: { code: 400, message: 'API key not valid.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }] } };
    expect(translator().error(400, body)).toEqual({ status: 401, message: 'API key not valid.', type: 'authentication_error', code: 'invalid_api_key' });
  });

  it('keeps the text of a body that is not Google-shaped', () => {
    expect(translator().error(502, '<html>Bad Gateway</html>')).toEqual({ status: 502, message: '<html>Bad Gateway</html>', type: 'api_error' });
    expect(translator().error(504, '')).toEqual({ status: 504, message: 'upstream answered HTTP 504', type: 'api_error' });
  });
});

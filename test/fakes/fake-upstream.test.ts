/**
 * The fake upstreams over real HTTP: the official `openai` and
 * `@anthropic-ai/sdk` clients accept what they send (which is how we know the
 * wire formats are exact), raw `fetch` checks framing and error envelopes,
 * and every steering knob is exercised.
 */
import { Agent, request as httpRequest } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { embeddingVector } from './conversation.js';
import { startFakeUpstream, type FakeKind, type FakeUpstream } from './fake-upstream.js';

interface SseBlock {
  event?: string;
  data: string;
}

/** Splits an event stream into its events, keeping the raw `event:` and `data:` values. */
function parseSse(text: string): SseBlock[] {
  return text
    .split(/\r?\n\r?\n/)
    .filter((block) => block !== '')
    .map((block) => {
      const parsed: SseBlock = { data: '' };
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event: ')) parsed.event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) parsed.data = line.slice('data: '.length);
      }
      return parsed;
    });
}

function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function json(response: Response): Promise<unknown> {
  const body: unknown = await response.json();
  return body;
}

const started: FakeUpstream[] = [];
async function fake(kind: FakeKind, options?: Parameters<typeof startFakeUpstream>[1]): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream(kind, options);
  started.push(upstream);
  return upstream;
}
afterAll(async () => {
  await Promise.all(started.map((upstream) => upstream.close()));
});

/** A valid minimal request for each kind, with extra headers and an optional model / stream flag. */
function call(upstream: FakeUpstream, options: { headers?: Record<string, string>; model?: string; stream?: boolean; text?: string } = {}): Promise<Response> {
  const text = options.text ?? 'hello there';
  const headers = options.headers ?? {};
  switch (upstream.kind) {
    case 'openai':
      return postJson(
        `${upstream.url}/chat/completions`,
        { model: options.model ?? 'gpt-4o', messages: [{ role: 'user', content: text }], ...(options.stream ? { stream: true } : {}) },
        { authorization: 'Bearer sk-test', ...headers },
      );
    case 'azure':
      return postJson(
        `${upstream.url}/openai/deployments/${options.model ?? 'gpt-4o'}/chat/completions?api-version=2024-10-21`,
        { messages: [{ role: 'user', content: text }], ...(options.stream ? { stream: true } : {}) },
        { 'api-key': 'az-test', ...headers },
      );
    case 'anthropic':
      return postJson(
        `${upstream.url}/messages`,
        { model: options.model ?? 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: text }], ...(options.stream ? { stream: true } : {}) },
        { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01', ...headers },
      );
    case 'gemini':
      return postJson(
        `${upstream.url}/models/${options.model ?? 'gemini-2.0-flash'}:${options.stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
        { contents: [{ role: 'user', parts: [{ text }] }] },
        { 'x-goog-api-key': 'g-test', ...headers },
      );
  }
}

const weatherTool = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
const timeTool = { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };

describe('OpenAI fake', () => {
  let upstream: FakeUpstream;
  let client: OpenAI;
  beforeAll(async () => {
    upstream = await fake('openai');
    client = new OpenAI({ baseURL: upstream.url, apiKey: 'sk-test', maxRetries: 0 });
  });
  beforeEach(() => upstream.reset());

  it('answers a chat completion the SDK accepts, with deterministic text, usage and headers', async () => {
    const { data, request_id, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello there' }] })
      .withResponse();
    expect(data).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: hello there', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 5,
        completion_tokens: 4,
        total_tokens: 9,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(request_id).toMatch(/^req_/);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('9999');
  });

  it('streams parallel tool calls whose argument deltas the SDK reassembles, with a final usage chunk when asked', async () => {
    const stream = client.chat.completions.stream({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'please call get_weather {"city": "Paris"} and call get_time' }],
      tools: [weatherTool, timeTool],
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    stream.on('chunk', (chunk) => chunks.push(chunk));
    const completion = await stream.finalChatCompletion();
    expect(completion.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        content: null,
        tool_calls: [
          { id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
    });
    const weatherDeltas = chunks.filter((chunk) => chunk.choices[0]?.delta.tool_calls?.[0]?.index === 0 && !chunk.choices[0].delta.tool_calls[0].id);
    expect(weatherDeltas.length).toBe(3);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    expect(completion.usage).toEqual(last?.usage);
  });

  it('streams text in several deltas ending with data: [DONE], and sends no usage unless asked', async () => {
    const response = await call(upstream, { stream: true, text: 'one two three four' });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await response.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text).not.toContain('event:');
    const events = parseSse(text);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data) as { object: string; choices: { delta: { content?: string } }[] });
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && !('usage' in chunk))).toBe(true);
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta.content).filter((c) => c !== undefined);
    expect(deltas).toEqual(['', 'echo:', ' one', ' two', ' three', ' four']);

    const sdkChunks = [];
    for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true })) sdkChunks.push(chunk);
    expect(sdkChunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('echo: hi');
  });

  it('answers n choices, honours max_tokens (finish_reason length) and stop sequences', async () => {
    const two = await client.chat.completions.create({ model: 'gpt-4o', n: 2, messages: [{ role: 'user', content: 'hello there' }] });
    expect(two.choices.map((choice) => choice.index)).toEqual([0, 1]);
    expect(two.usage?.completion_tokens).toBe(8);
    const short = await client.chat.completions.create({ model: 'gpt-4o', max_completion_tokens: 3, messages: [{ role: 'user', content: 'hello there' }] });
    expect(short.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: 'echo: hello' } });
    const stopped = await client.chat.completions.create({ model: 'gpt-4o', stop: [' there'], messages: [{ role: 'user', content: 'hello there' }] });
    expect(stopped.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'echo: hello' } });
  });

  it('answers the tool results turn with text instead of calling again', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o',
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'call get_weather' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
    });
    expect(completion.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: 'echo: sunny' } });
  });

  it('serves embeddings: the SDK default (base64) decodes to the float vectors', async () => {
    const base64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'], dimensions: 8 });
    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'], dimensions: 8, encoding_format: 'float' });
    expect(upstream.requests.map((r) => (r.body as { encoding_format: string }).encoding_format)).toEqual(['base64', 'float']);
    expect(base64.data.map((d) => d.embedding)).toEqual(floats.data.map((d) => d.embedding));
    expect(floats).toMatchObject({ object: 'list', model: 'text-embedding-3-small', usage: { prompt_tokens: 2, total_tokens: 2 } });
    const [alpha, beta] = floats.data.map((d) => d.embedding);
    expect(alpha).toHaveLength(8);
    expect(Math.hypot(...(alpha ?? []))).toBeCloseTo(1, 5);
    expect(alpha).not.toEqual(beta);
    expect(alpha).toEqual(embeddingVector('alpha', 8));
    const full = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
    expect(full.data[0]?.embedding).toHaveLength(1536);
  });

  it('lists and retrieves models; an unknown one is the SDK NotFoundError', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small']);
    expect(await client.models.retrieve('gpt-4o-mini')).toMatchObject({ id: 'gpt-4o-mini', object: 'model', owned_by: 'system' });
    const error: unknown = await client.models.retrieve('gpt-nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    const custom = await fake('openai', { models: ['m-1'] });
    const customList = await new OpenAI({ baseURL: custom.url, apiKey: 'k', maxRetries: 0 }).models.list();
    expect(customList.data.map((m) => m.id)).toEqual(['m-1']);
  });

  it('a 429 with retry-after reaches the SDK as a RateLimitError with OpenAI rate-limit headers', async () => {
    upstream.enqueue({ status: 429, retryAfter: 7 });
    const error: unknown = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    if (!(error instanceof OpenAI.RateLimitError)) return;
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests' });
    expect(error.requestID).toMatch(/^req_/);
    expect(error.headers?.get('retry-after')).toBe('7');
    expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(error.headers?.get('x-ratelimit-reset-requests')).toBe('7s');
  });

  it('model names steer failures the SDK sees: fail-500, fail-401', async () => {
    const create = (model: string): Promise<unknown> => client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(await create('gpt-4o-fail-500')).toBeInstanceOf(OpenAI.InternalServerError);
    expect(await create('gpt-4o-fail-401')).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(await create('gpt-4o-fail-4000')).not.toBeInstanceOf(Error);
  });

  it.each([
    ['no model', { messages: [{ role: 'user', content: 'hi' }] }, { message: 'you must provide a model parameter', param: null, code: null }],
    ['no messages', { model: 'gpt-4o' }, { param: 'messages', code: 'missing_required_parameter' }],
    ['empty messages', { model: 'gpt-4o', messages: [] }, { param: 'messages', code: 'empty_array' }],
    ['unknown role', { model: 'gpt-4o', messages: [{ role: 'human', content: 'hi' }] }, { param: 'messages[0].role', code: 'invalid_value' }],
    ['stream_options without stream', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } }, { param: 'stream_options' }],
    ['tool_choice without tools', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], tool_choice: 'required' }, { param: 'tool_choice' }],
    ['tool result without a tool call', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }, { role: 'tool', tool_call_id: 'call_x', content: 'r' }] }, { param: 'messages.[1].role' }],
    [
      'tool call without its result',
      {
        model: 'gpt-4o',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'user', content: 'and?' },
        ],
      },
      { param: 'messages.[1].role', message: expect.stringContaining('call_x') },
    ],
  ])('rejects %s like OpenAI', async (_name, body, error) => {
    const response = await postJson(`${upstream.url}/chat/completions`, body, { authorization: 'Bearer sk-test' });
    expect(response.status).toBe(400);
    expect(await json(response)).toEqual({ error: Object.assign({ message: expect.any(String), type: 'invalid_request_error', param: null, code: null }, error) });
  });

  it('rejects bad JSON, a wrong path and missing or unknown keys in OpenAI envelopes', async () => {
    const notJson = await fetch(`${upstream.url}/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer k' }, body: '{"model":' });
    expect(notJson.status).toBe(400);
    expect(await json(notJson)).toMatchObject({ error: { message: expect.stringContaining('could not parse the JSON body'), type: 'invalid_request_error' } });
    const wrongPath = await postJson(`${upstream.url}/chat/completion`, {}, { authorization: 'Bearer k' });
    expect(wrongPath.status).toBe(404);
    expect(await json(wrongPath)).toEqual({ error: { message: 'Invalid URL (POST /v1/chat/completion)', type: 'invalid_request_error', param: null, code: null } });
    const noKey = await postJson(`${upstream.url}/chat/completions`, {});
    expect(noKey.status).toBe(401);
    expect(await json(noKey)).toMatchObject({ error: { message: expect.stringContaining("You didn't provide an API key"), code: null } });

    const guarded = await fake('openai', { apiKeys: ['sk-good-key-1234'] });
    const wrong: unknown = await new OpenAI({ baseURL: guarded.url, apiKey: 'sk-bad-key-9876', maxRetries: 0 }).models.list().catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(wrong).toMatchObject({ status: 401, code: 'invalid_api_key', message: expect.stringContaining('sk-********9876') });
    expect((await new OpenAI({ baseURL: guarded.url, apiKey: 'sk-good-key-1234' }).models.list()).data.length).toBe(3);
  });
});

describe('Azure OpenAI fake', () => {
  let upstream: FakeUpstream;
  let client: AzureOpenAI;
  beforeAll(async () => {
    upstream = await fake('azure');
    client = new AzureOpenAI({ endpoint: upstream.url, apiKey: 'az-test', apiVersion: '2024-10-21', deployment: 'gpt-4o-prod', maxRetries: 0 });
  });
  beforeEach(() => upstream.reset());

  it('serves the AzureOpenAI SDK client on the deployment path, with content-filter annotations', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi azure' }] });
    expect(completion).toMatchObject({
      model: 'gpt-4o-prod',
      choices: [{ message: { content: 'echo: hi azure' }, content_filter_results: { hate: { filtered: false } } }],
      prompt_filter_results: [{ prompt_index: 0 }],
    });
    expect(upstream.requests[0]).toMatchObject({
      path: '/openai/deployments/gpt-4o-prod/chat/completions',
      query: { 'api-version': '2024-10-21' },
      headers: { 'api-key': 'az-test' },
    });
  });

  it('opens streams with the prompt-filter chunk that has no choices and empty ids', async () => {
    const chunks = [];
    for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi azure' }], stream: true })) chunks.push(chunk);
    expect(chunks[0]).toMatchObject({ id: '', model: '', choices: [], prompt_filter_results: [{ prompt_index: 0 }] });
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('echo: hi azure');
  });

  it('serves embeddings on the deployment path', async () => {
    const embeddings = await client.embeddings.create({ model: 'ignored', input: 'alpha', dimensions: 4 });
    expect(embeddings.data[0]?.embedding).toEqual(embeddingVector('alpha', 4));
  });

  it('answers Azure platform errors: no api-key 401, no api-version 404, 429 with retry-after-ms', async () => {
    const noKey = await postJson(`${upstream.url}/openai/deployments/d/chat/completions?api-version=2024-10-21`, { messages: [{ role: 'user', content: 'x' }] });
    expect(noKey.status).toBe(401);
    expect(await json(noKey)).toEqual({ error: { code: '401', message: expect.stringContaining('Access denied') } });
    const noVersion = await postJson(`${upstream.url}/openai/deployments/d/chat/completions`, {}, { 'api-key': 'k' });
    expect(noVersion.status).toBe(404);
    expect(await json(noVersion)).toEqual({ error: { code: '404', message: 'Resource not found' } });
    const limited = await call(upstream, { model: 'gpt-4o-fail-429-retry-after-2' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.headers.get('retry-after-ms')).toBe('2000');
    expect(await json(limited)).toMatchObject({ error: { code: '429' } });
    const invalid = await postJson(`${upstream.url}/openai/deployments/d/chat/completions?api-version=2024-10-21`, {}, { 'api-key': 'k' });
    expect(await json(invalid)).toMatchObject({ error: { type: 'invalid_request_error', param: 'messages' } });
  });
});

describe('Anthropic fake', () => {
  let upstream: FakeUpstream;
  let client: Anthropic;
  const tools = [
    { name: 'get_weather', description: 'Weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } },
    { name: 'get_time', input_schema: { type: 'object' as const, properties: {} } },
  ];
  beforeAll(async () => {
    upstream = await fake('anthropic');
    // The SDK appends /v1/messages to its base URL itself.
    client = new Anthropic({ baseURL: upstream.origin, apiKey: 'sk-ant-test', maxRetries: 0 });
  });
  beforeEach(() => upstream.reset());

  it('answers messages.create as the SDK expects, with request-id', async () => {
    const message = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'hi claude' }] });
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'echo: hi claude' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 4, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    });
    expect(message.id).toMatch(/^msg_/);
    expect(message._request_id).toMatch(/^req_/);
    // SDKs for API version 2026-10-21 send the key as a Bearer token.
    expect(upstream.requests[0]).toMatchObject({ path: '/v1/messages', headers: { authorization: 'Bearer sk-ant-test', 'anthropic-version': '2026-10-21' } });
  });

  it('streams parallel tool use that messages.stream() assembles into finalMessage()', async () => {
    const stream = client.messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 256,
      tools,
      messages: [{ role: 'user', content: 'call get_weather {"city":"Paris"} then call get_time' }],
    });
    const events: Anthropic.MessageStreamEvent[] = [];
    stream.on('streamEvent', (event) => events.push(event));
    const message = await stream.finalMessage();
    expect(message).toMatchObject({
      stop_reason: 'tool_use',
      content: [
        { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'get_time', input: {} },
      ],
    });
    const jsonDeltas = events.filter((event) => event.type === 'content_block_delta' && event.index === 0 && event.delta.type === 'input_json_delta');
    expect(jsonDeltas.length).toBe(4);
    expect(events[0]?.type).toBe('message_start');
    expect(events.slice(-2).map((event) => event.type)).toEqual(['message_delta', 'message_stop']);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(1);
  });

  it('frames SSE with event: and data: lines, a blank line after each, in the documented order', async () => {
    const response = await call(upstream, { stream: true, text: 'hi there' });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('request-id')).toMatch(/^req_/);
    const text = await response.text();
    expect(text).toMatch(/^event: message_start\ndata: \{.*\}\n\n/);
    expect(text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n')).toBe(true);
    const events = parseSse(text);
    expect(events.every((event) => (JSON.parse(event.data) as { type: string }).type === event.event)).toBe(true);
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start = JSON.parse(events[0]?.data ?? '') as { message: { usage: { input_tokens: number } } };
    const delta = JSON.parse(events[7]?.data ?? '') as { usage: { output_tokens: number }; delta: { stop_reason: string } };
    expect(start.message.usage.input_tokens).toBe(2);
    expect(delta).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 4 } });
  });

  const base = { model: 'claude-sonnet-4-5', max_tokens: 10 };
  it.each([
    ['no max_tokens', { model: 'm', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Field required'],
    ['an unknown role', { ...base, messages: [{ role: 'tool', content: 'x' }] }, "messages.0.role: Input should be 'user', 'assistant' or 'system'"],
    [
      'a tool_result without its tool_use',
      { ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }] },
      'messages.0.content.0: unexpected `tool_use_id`',
    ],
    [
      'a tool_use without its tool_result',
      {
        ...base,
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_x', name: 'f', input: {} }] },
          { role: 'user', content: 'y' },
        ],
      },
      'messages.1: `tool_use` ids were found without `tool_result` blocks',
    ],
    ['an OpenAI-only field', { ...base, messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }, 'stream_options: Extra inputs are not permitted'],
    ['a tool without input_schema', { ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'f' }] }, 'tools.0.custom.input_schema: Field required'],
  ])('rejects %s like Anthropic', async (_name, body, message) => {
    const response = await postJson(`${upstream.url}/messages`, body, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
    expect(response.status).toBe(400);
    expect(await json(response)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining(message) }, request_id: expect.stringMatching(/^req_/) });
  });

  it('accepts what the current API accepts: system messages, consecutive turns, sampling parameters only before 2026-10-21', async () => {
    const send = (body: Record<string, unknown>, version: string): Promise<Response> =>
      postJson(`${upstream.url}/messages`, { ...base, ...body }, { 'x-api-key': 'k', 'anthropic-version': version });
    const turns = {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'one' },
        { role: 'user', content: 'two' },
      ],
    };
    expect(await json(await send(turns, '2026-10-21'))).toMatchObject({ content: [{ text: 'echo: two' }], usage: { input_tokens: 5 } });
    expect((await send({ messages: [{ role: 'user', content: 'x' }], temperature: 0.2 }, '2023-06-01')).status).toBe(200);
    const removed = await send({ messages: [{ role: 'user', content: 'x' }], temperature: 1 }, '2026-10-21');
    expect(removed.status).toBe(400);
    expect(await json(removed)).toMatchObject({ error: { type: 'invalid_request_error', message: 'temperature: Extra inputs are not permitted' } });
  });

  it('requires anthropic-version and a key (x-api-key or Bearer), and 404s unknown paths', async () => {
    const body = { ...base, messages: [{ role: 'user' as const, content: 'x' }] };
    const noVersion = await postJson(`${upstream.url}/messages`, body, { 'x-api-key': 'k' });
    expect(noVersion.status).toBe(400);
    expect(await json(noVersion)).toMatchObject({ error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
    const badVersion = await postJson(`${upstream.url}/messages`, body, { 'x-api-key': 'k', 'anthropic-version': '2024-01-01' });
    expect(badVersion.status).toBe(400);
    expect((await postJson(`${upstream.url}/messages`, body, { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' })).status).toBe(200);
    expect((await postJson(`${upstream.url}/messages`, body, { authorization: 'Bearer k', 'anthropic-version': '2023-06-01' })).status).toBe(200);
    const noKey = await postJson(`${upstream.url}/messages`, body, { 'anthropic-version': '2023-06-01' });
    expect(noKey.status).toBe(401);
    expect(await json(noKey)).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: 'x-api-key header is required' } });
    const missing = await postJson(`${upstream.url}/complete`, body, { 'x-api-key': 'k' });
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: 'Not Found' } });
    const guarded = await fake('anthropic', { apiKeys: ['good'] });
    const wrong: unknown = await new Anthropic({ baseURL: guarded.origin, apiKey: 'bad', maxRetries: 0 }).messages.create(body).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(wrong).toMatchObject({ status: 401, error: { error: { type: 'authentication_error', message: 'invalid x-api-key' } } });
  });

  it('answers 529 overloaded and 429 with retry-after and anthropic-ratelimit headers, as the SDK sees them', async () => {
    const overloaded: unknown = await client.messages.create({ model: 'claude-fail-529', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect(overloaded).toMatchObject({ status: 529, error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    upstream.enqueue({ status: 429, retryAfter: 3 });
    const limited: unknown = await client.messages.create({ ...base, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    if (!(limited instanceof Anthropic.RateLimitError)) return;
    expect(limited.requestID).toMatch(/^req_/);
    expect(limited.headers?.get('retry-after')).toBe('3');
    expect(limited.headers?.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(limited.headers?.get('anthropic-ratelimit-tokens-limit')).toBe('2000000');
    expect(limited.headers?.get('anthropic-ratelimit-requests-reset')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('sends a mid-stream error event that fails the SDK stream', async () => {
    upstream.enqueue({ errorAt: 3 });
    const response = await call(upstream, { stream: true });
    const events = parseSse(await response.text());
    expect(events.map((event) => event.event)).toEqual(['message_start', 'content_block_start', 'ping', 'error']);
    expect(JSON.parse(events[3]?.data ?? '')).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    upstream.enqueue({ errorAt: 3 });
    const failed: unknown = await client.messages.stream({ ...base, messages: [{ role: 'user', content: 'x' }] }).finalMessage().catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Anthropic.APIError);
    expect(failed).toMatchObject({ error: { error: { type: 'overloaded_error' } } });
  });
});

describe('Gemini fake', () => {
  let upstream: FakeUpstream;
  const headers = { 'x-goog-api-key': 'g-test' };
  beforeAll(async () => {
    upstream = await fake('gemini');
  });
  beforeEach(() => upstream.reset());

  interface GeminiResponse {
    candidates: { content: { parts: { text?: string; functionCall?: { name: string; args: unknown } }[]; role: string }; finishReason?: string; index: number }[];
    usageMetadata: { promptTokenCount: number; candidatesTokenCount: number; totalTokenCount: number };
    modelVersion: string;
  }

  it('answers generateContent with candidates, usageMetadata and modelVersion', async () => {
    const response = await postJson(
      `${upstream.url}/models/gemini-2.0-flash:generateContent`,
      { systemInstruction: { parts: [{ text: 'Be brief.' }] }, contents: [{ role: 'user', parts: [{ text: 'hi gemini' }] }] },
      headers,
    );
    expect(response.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    expect(await json(response)).toMatchObject({
      candidates: [{ content: { parts: [{ text: 'echo: hi gemini' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 5 }] },
      modelVersion: 'gemini-2.0-flash',
      responseId: expect.any(String),
    });
  });

  it('streams alt=sse as CRLF-framed data events with running usage, the last one authoritative', async () => {
    const response = await postJson(`${upstream.url}/models/gemini-2.0-flash:streamGenerateContent?alt=sse`, { contents: [{ parts: [{ text: 'one two three' }] }] }, headers);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const text = await response.text();
    expect(text).not.toContain('event:');
    expect(text.split('\r\n\r\n').slice(0, -1).every((block) => /^data: \{.*\}$/.test(block))).toBe(true);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    const chunks = parseSse(text).map((event) => JSON.parse(event.data) as GeminiResponse);
    expect(chunks.length).toBe(4);
    expect(chunks.map((chunk) => chunk.candidates[0]?.content.parts[0]?.text).join('')).toBe('echo: one two three');
    expect(chunks.slice(0, -1).every((chunk) => chunk.candidates[0]?.finishReason === undefined)).toBe(true);
    expect(chunks.at(-1)?.candidates[0]?.finishReason).toBe('STOP');
    expect(chunks.map((chunk) => chunk.usageMetadata.candidatesTokenCount)).toEqual([2, 3, 4, 5]);
    expect(chunks.at(-1)?.usageMetadata).toMatchObject({ promptTokenCount: 3, candidatesTokenCount: 5, totalTokenCount: 8 });
  });

  it('sends whole functionCall parts, parallel calls together', async () => {
    const body = {
      contents: [{ role: 'user', parts: [{ text: 'call get_weather {"city":"Paris"} and call get_time' }] }],
      tools: [{ functionDeclarations: [{ name: 'get_weather' }, { name: 'get_time' }] }],
    };
    const whole = (await json(await postJson(`${upstream.url}/models/gemini-2.0-flash:generateContent`, body, headers))) as GeminiResponse;
    expect(whole.candidates[0]?.content.parts).toEqual([{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_time', args: {} } }]);
    const streamed = parseSse(await (await postJson(`${upstream.url}/models/gemini-2.0-flash:streamGenerateContent?alt=sse`, body, headers)).text());
    expect(streamed).toHaveLength(1);
    expect((JSON.parse(streamed[0]?.data ?? '') as GeminiResponse).candidates[0]).toMatchObject({ content: { parts: whole.candidates[0]?.content.parts }, finishReason: 'STOP' });
  });

  it('streams a JSON array without alt=sse', async () => {
    const response = await postJson(`${upstream.url}/models/gemini-2.0-flash:streamGenerateContent`, { contents: [{ parts: [{ text: 'a b' }] }] }, headers);
    const chunks = (await json(response)) as GeminiResponse[];
    expect(chunks.map((chunk) => chunk.candidates[0]?.content.parts[0]?.text)).toEqual(['echo:', ' a', ' b']);
  });

  it('takes the key from x-goog-api-key or ?key=; a missing key is 403 and a wrong one 400 API_KEY_INVALID', async () => {
    const guarded = await fake('gemini', { apiKeys: ['good'] });
    const body = { contents: [{ parts: [{ text: 'x' }] }] };
    expect((await postJson(`${guarded.url}/models/g:generateContent?key=good`, body)).status).toBe(200);
    expect((await postJson(`${guarded.url}/models/g:generateContent`, body, { 'x-goog-api-key': 'good' })).status).toBe(200);
    const missing = await postJson(`${guarded.url}/models/g:generateContent`, body);
    expect(missing.status).toBe(403);
    expect(await json(missing)).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    const wrong = await postJson(`${guarded.url}/models/g:generateContent?key=bad`, body);
    expect(wrong.status).toBe(400);
    expect(await json(wrong)).toMatchObject({
      error: { code: 400, status: 'INVALID_ARGUMENT', message: 'API key not valid. Please pass a valid API key.', details: expect.arrayContaining([expect.objectContaining({ reason: 'API_KEY_INVALID' })]) },
    });
  });

  it.each([
    ['no contents', {}, 'contents is not specified'],
    ['an OpenAI role', { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] }, 'Please use a valid role: user, model.'],
    ['an unknown field', { contents: [{ parts: [{ text: 'x' }] }], messages: [] }, 'Unknown name "messages": Cannot find field.'],
  ])('rejects %s like Gemini', async (_name, body, message) => {
    const response = await postJson(`${upstream.url}/models/gemini-2.0-flash:generateContent`, body, headers);
    expect(response.status).toBe(400);
    expect(await json(response)).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT', message: expect.stringContaining(message) } });
  });

  it('serves embedContent and batchEmbedContents with deterministic vectors', async () => {
    const single = await postJson(`${upstream.url}/models/text-embedding-004:embedContent`, { content: { parts: [{ text: 'alpha' }] }, outputDimensionality: 8 }, headers);
    expect(await json(single)).toEqual({ embedding: { values: embeddingVector('alpha', 8) } });
    const batch = await postJson(
      `${upstream.url}/models/text-embedding-004:batchEmbedContents`,
      { requests: ['alpha', 'beta'].map((text) => ({ model: 'models/text-embedding-004', content: { parts: [{ text }] } })) },
      headers,
    );
    const { embeddings } = (await json(batch)) as { embeddings: { values: number[] }[] };
    expect(embeddings.map((e) => e.values.length)).toEqual([768, 768]);
    expect(embeddings[0]?.values).toEqual(embeddingVector('alpha', 768));
    const noModel = await postJson(`${upstream.url}/models/text-embedding-004:batchEmbedContents`, { requests: [{ content: { parts: [{ text: 'x' }] } }] }, headers);
    expect(noModel.status).toBe(400);
    expect(await json(noModel)).toMatchObject({ error: { message: expect.stringContaining('requests[0].model') } });
  });

  it('answers 429 with RetryInfo and 404 for unknown paths in the Google envelope', async () => {
    upstream.enqueue({ status: 429, retryAfter: 9 });
    const limited = await call(upstream);
    expect(limited.status).toBe(429);
    expect(await json(limited)).toEqual({
      error: { code: 429, message: expect.any(String), status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '9s' }] },
    });
    const missing = await postJson(`${upstream.url}/models/gemini-2.0-flash:chat`, {}, headers);
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
  });
});

describe('steering', () => {
  const kinds: FakeKind[] = ['openai', 'azure', 'anthropic', 'gemini'];
  const upstreams = new Map<FakeKind, FakeUpstream>();
  const get = (kind: FakeKind): FakeUpstream => {
    const upstream = upstreams.get(kind);
    if (!upstream) throw new Error(`no ${kind} fake`);
    return upstream;
  };
  beforeAll(async () => {
    for (const kind of kinds) upstreams.set(kind, await fake(kind));
  });
  beforeEach(() => {
    for (const upstream of upstreams.values()) upstream.reset();
  });

  it.each([
    ['openai', { error: { message: expect.any(String), type: 'server_error', param: null, code: null } }],
    ['azure', { error: { message: expect.any(String), type: 'server_error', param: null, code: null } }],
    ['anthropic', { type: 'error', error: { type: 'api_error', message: expect.any(String) }, request_id: expect.any(String) }],
    ['gemini', { error: { code: 500, message: expect.any(String), status: 'INTERNAL' } }],
  ] as const)('x-fake-status answers in the %s error envelope', async (kind, shape) => {
    const response = await call(get(kind), { headers: { 'x-fake-status': '500' } });
    expect(response.status).toBe(500);
    expect(await json(response)).toEqual(shape);
  });

  it('applies enqueued behaviours in order, then the default; headers beat the queue, the queue beats the model name', async () => {
    const upstream = get('openai');
    upstream.enqueue({ status: 500 }, { status: 429 });
    upstream.setDefault({ status: 503 });
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await call(upstream)).status);
    expect(statuses).toEqual([500, 429, 503]);
    expect((await call(upstream, { headers: { 'x-fake-status': '502' } })).status).toBe(502);
    upstream.reset();
    upstream.enqueue({ status: 429 });
    expect((await call(upstream, { model: 'gpt-4o-fail-500' })).status).toBe(429);
    expect((await call(upstream, { model: 'gpt-4o-fail-500' })).status).toBe(500);
    expect((await call(upstream)).status).toBe(200);
    expect(() => upstream.enqueue({ status: 200 })).toThrow(RangeError);
  });

  it('answers an unreadable x-fake-* header with a 400 naming it, and sends errorBody verbatim', async () => {
    const bad = await call(get('openai'), { headers: { 'x-fake-status': 'soon' } });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ error: { param: 'x-fake-status', code: 'fake_invalid_header' } });
    const html = await call(get('anthropic'), { headers: { 'x-fake-status': '502' } });
    expect(html.status).toBe(502);
    get('gemini').enqueue({ status: 502, errorBody: '<html>Bad Gateway</html>' });
    const proxy = await call(get('gemini'));
    expect(proxy.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await proxy.text()).toBe('<html>Bad Gateway</html>');
    const custom = await call(get('openai'), { headers: { 'x-fake-status': '400', 'x-fake-error-body': '{"error":{"message":"context too long","code":"context_length_exceeded"}}' } });
    expect(await json(custom)).toEqual({ error: { message: 'context too long', code: 'context_length_exceeded' } });
  });

  it('sends retry-after from the header and the model name', async () => {
    const fromHeader = await call(get('openai'), { headers: { 'x-fake-status': '429', 'x-fake-retry-after': '5' } });
    expect(fromHeader.headers.get('retry-after')).toBe('5');
    expect(fromHeader.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const fromModel = await call(get('anthropic'), { model: 'claude-fail-429-retry-after-4' });
    expect(fromModel.status).toBe(429);
    expect(fromModel.headers.get('retry-after')).toBe('4');
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    expect((await call(get('openai'), { headers: { 'x-fake-status': '503', 'x-fake-retry-after': date } })).headers.get('retry-after')).toBe(date);
  });

  it('delays the first byte by x-fake-delay-ms and by slow-<ms> in the model name', async () => {
    for (const options of [{ headers: { 'x-fake-delay-ms': '250' } }, { model: 'gemini-slow-250' }]) {
      const startedAt = performance.now();
      const response = await call(get(options.model ? 'gemini' : 'openai'), { ...options, stream: true });
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(240);
      expect(response.status).toBe(200);
      await response.text();
    }
    const fast = performance.now();
    await (await call(get('openai'))).text();
    expect(performance.now() - fast).toBeLessThan(200);
  });

  it('spaces stream events by x-fake-chunk-delay-ms, sending the first one at once', async () => {
    const response = await call(get('anthropic'), { stream: true, headers: { 'x-fake-chunk-delay-ms': '40' } });
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    const startedAt = performance.now();
    const first = await reader.read();
    const firstAt = performance.now() - startedAt;
    let text = new TextDecoder().decode(first.value);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    const total = performance.now() - startedAt;
    expect(firstAt).toBeLessThan(35);
    const events = parseSse(text).length;
    expect(events).toBe(9);
    expect(total).toBeGreaterThanOrEqual(40 * (events - 1) - 10);
  });

  it('cuts a stream after N events: the client sees an aborted body, and the SDK stream throws', async () => {
    const response = await call(get('openai'), { stream: true, headers: { 'x-fake-cut-after': '2' } });
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    let received = '';
    const failure: unknown = await (async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return undefined;
        received += new TextDecoder().decode(chunk.value);
      }
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TypeError);
    expect(parseSse(received)).toHaveLength(2);
    expect(get('openai').requests[0]?.aborted).toBe(false);

    const client = new Anthropic({ baseURL: get('anthropic').origin, apiKey: 'k', maxRetries: 0 });
    const cut: unknown = await client.messages
      .stream({ model: 'claude-cut-after-4', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(cut).toBeInstanceOf(Error);
  });

  it('hangs up before any byte with cutAfter 0, and mid-body for whole JSON responses', async () => {
    get('openai').enqueue({ cutAfter: 0 });
    await expect(call(get('openai'))).rejects.toThrow(TypeError);
    get('gemini').enqueue({ cutAfter: 1 });
    const half = await call(get('gemini'));
    expect(half.status).toBe(200);
    await expect(half.text()).rejects.toThrow(TypeError);
    const client = new OpenAI({ baseURL: get('openai').url, apiKey: 'k', maxRetries: 0 });
    const failed: unknown = await client.chat.completions.create({ model: 'gpt-4o-cut-after-0', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('inserts one malformed data event at position N', async () => {
    const response = await call(get('openai'), { stream: true, headers: { 'x-fake-malformed': '1' } });
    const events = parseSse(await response.text());
    expect(events).toHaveLength(7);
    expect(() => JSON.parse(events[1]?.data ?? '')).toThrow(SyntaxError);
    expect(events.filter((_, i) => i !== 1 && i !== 6).every((event) => typeof JSON.parse(event.data) === 'object')).toBe(true);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const anthropic = parseSse(await (await call(get('anthropic'), { stream: true, model: 'claude-malformed-0' })).text());
    expect(anthropic[0]?.event).toBe('message_start');
    expect(() => JSON.parse(anthropic[0]?.data ?? '')).toThrow(SyntaxError);
    const client = new OpenAI({ baseURL: get('openai').url, apiKey: 'k', maxRetries: 0, logLevel: 'off' });
    const consume = async (): Promise<void> => {
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o-malformed-2', messages: [{ role: 'user', content: 'x' }], stream: true })) void chunk;
    };
    await expect(consume()).rejects.toThrow(SyntaxError);
  });

  it('sends an OpenAI mid-stream error chunk the SDK raises', async () => {
    const client = new OpenAI({ baseURL: get('openai').url, apiKey: 'k', maxRetries: 0 });
    get('openai').enqueue({ errorAt: 2 });
    const consume = async (): Promise<void> => {
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], stream: true })) void chunk;
    };
    await expect(consume()).rejects.toBeInstanceOf(OpenAI.APIError);
  });

  it.each([
    ['openai', { error: { type: 'invalid_request_error', param: 'messages[0].role', code: 'fake_expectation_failed' } }],
    ['anthropic', { type: 'error', error: { type: 'invalid_request_error' } }],
    ['gemini', { error: { code: 400, status: 'INVALID_ARGUMENT' } }],
  ] as const)('answers an x-fake-expect mismatch with a 400 in the %s envelope naming it', async (kind, shape) => {
    const expected = kind === 'gemini' ? { contents: [{ role: 'model' }] } : { messages: [{ role: 'system' }] };
    const path = kind === 'gemini' ? 'contents[0].role' : 'messages[0].role';
    const response = await call(get(kind), { headers: { 'x-fake-expect': JSON.stringify(expected) } });
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body).toMatchObject(shape);
    expect(JSON.stringify(body)).toContain(`x-fake-expect mismatch at ${path}: expected \\"${kind === 'gemini' ? 'model' : 'system'}\\", got \\"user\\"`);
    const matching = kind === 'gemini' ? { contents: [{ role: 'user', parts: [{ text: 'hello there' }] }] } : { messages: [{ role: 'user' }] };
    get(kind).enqueue({ expect: matching });
    expect((await call(get(kind))).status).toBe(200);
    get(kind).enqueue({ expect: { stream: true } });
    expect((await call(get(kind))).status).toBe(400);
  });

  it('overrides the reply: text, tool calls, usage counts in each provider’s fields, finish reason', async () => {
    const reply = { text: 'custom answer', usage: { inputTokens: 100, cachedTokens: 40, cacheCreationTokens: 5, outputTokens: 7, reasoningTokens: 3 }, finishReason: 'content_filter' };
    get('openai').enqueue({ reply });
    expect(await json(await call(get('openai')))).toMatchObject({
      choices: [{ message: { content: 'custom answer' }, finish_reason: 'content_filter' }],
      usage: { prompt_tokens: 100, completion_tokens: 7, total_tokens: 107, prompt_tokens_details: { cached_tokens: 40 }, completion_tokens_details: { reasoning_tokens: 3 } },
    });
    get('anthropic').enqueue({ reply: { ...reply, finishReason: 'refusal' } });
    expect(await json(await call(get('anthropic')))).toMatchObject({
      content: [{ type: 'text', text: 'custom answer' }],
      stop_reason: 'refusal',
      usage: { input_tokens: 100, cache_read_input_tokens: 40, cache_creation_input_tokens: 5, output_tokens: 7 },
    });
    get('gemini').enqueue({ reply: { ...reply, finishReason: 'SAFETY' } });
    expect(await json(await call(get('gemini')))).toMatchObject({
      candidates: [{ finishReason: 'SAFETY' }],
      usageMetadata: { promptTokenCount: 100, cachedContentTokenCount: 40, candidatesTokenCount: 7, thoughtsTokenCount: 3, totalTokenCount: 110 },
    });
    const toolReply = await call(get('openai'), { headers: { 'x-fake-reply': JSON.stringify({ toolCalls: [{ name: 'lookup', arguments: { q: 1 } }] }) } });
    expect(await json(toolReply)).toMatchObject({ choices: [{ finish_reason: 'tool_calls', message: { tool_calls: [{ function: { name: 'lookup', arguments: '{"q":1}' } }] } }] });
  });

  it('records method, path, query, headers, parsed body and time; reset() empties the same array', async () => {
    const upstream = get('gemini');
    const before = Date.now();
    await postJson(`${upstream.url}/models/gemini-2.0-flash:generateContent?key=g-test`, { contents: [{ parts: [{ text: 'x' }] }] }, { 'x-custom': 'yes' });
    await fetch(`${upstream.url}/models/gemini-2.0-flash:generateContent?key=g-test`, { method: 'POST', body: 'not json' });
    const requests = upstream.requests;
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1beta/models/gemini-2.0-flash:generateContent',
      query: { key: 'g-test' },
      headers: { 'x-custom': 'yes', 'content-type': 'application/json' },
      body: { contents: [{ parts: [{ text: 'x' }] }] },
      aborted: false,
    });
    expect(requests[0]?.time).toBeGreaterThanOrEqual(before);
    expect(requests[1]).toMatchObject({ body: undefined, rawBody: 'not json' });
    upstream.reset();
    expect(requests).toHaveLength(0);
  });

  it('marks a request aborted when the client goes away mid-stream', async () => {
    const upstream = get('openai');
    const controller = new AbortController();
    const response = await fetch(`${upstream.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'x-fake-chunk-delay-ms': '100' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a b c d e' }], stream: true }),
      signal: controller.signal,
    });
    await response.body?.getReader().read();
    controller.abort();
    await expect.poll(() => upstream.requests[0]?.aborted).toBe(true);
  });

  it('keeps connections alive between requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (url: string): Promise<boolean> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(url, { agent, headers: { authorization: 'Bearer k' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(req.reusedSocket));
        });
        req.on('error', reject);
        req.end();
      });
    const models = `${upstreams.get('openai')?.url ?? ''}/models`;
    expect(await get(models)).toBe(false);
    expect(await get(models)).toBe(true);
    agent.destroy();
  });
});

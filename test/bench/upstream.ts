/**
 * A fast loopback OpenAI-compatible upstream for the benchmark (its own
 * process). `POST …/chat/completions` answers a fixed, realistic
 * `chat.completion` (with usage); with `"stream": true` it sends an SSE stream
 * of N chunks (`--chunks`, default 20; a request may override it with the
 * `x-bench-chunks` header), a usage chunk when `stream_options.include_usage`
 * is set, then `data: [DONE]`. No artificial delay; every answer is prebuilt.
 *
 *   node --import tsx test/bench/upstream.ts [--port=0] [--chunks=20]
 *
 * Prints `{"port":N}` on stdout once listening on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

function arg(name: string, fallback: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : fallback;
}

const port = Number(arg('port', '0'));
const defaultChunks = Number(arg('chunks', process.env.BENCH_CHUNKS ?? '20'));
const MODEL = 'gpt-4o-mini-2024-07-18';
const CREATED = 1_730_000_000;

const ANSWER =
  'Sure. A keep-alive connection pool lets a proxy reuse TCP connections to the upstream, so each request skips the ' +
  'handshake; with pipelining off, one request is in flight per connection, and the pool size bounds concurrency. ' +
  'Measure throughput and tail latency together, on pinned cores, and compare runs taken in the same session.';

const usage = {
  prompt_tokens: 57,
  completion_tokens: 68,
  total_tokens: 125,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-BENCH0000000000000000000001',
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: ANSWER, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage,
    service_tier: 'default',
    system_fingerprint: 'fp_bench0001',
  }),
);

interface PrebuiltStream {
  chunks: Buffer[];
  usage: Buffer;
  done: Buffer;
}

const streams = new Map<number, PrebuiltStream>();

/** N content-bearing chunks: the role delta, N-2 content deltas, the finish chunk (N ≥ 2). */
function prebuilt(n: number): PrebuiltStream {
  let s = streams.get(n);
  if (s) return s;
  const base = { id: 'chatcmpl-BENCH0000000000000000000002', object: 'chat.completion.chunk', created: CREATED, model: MODEL, service_tier: 'default', system_fingerprint: 'fp_bench0001' };
  const words = ANSWER.split(' ');
  const sse = (o: unknown) => Buffer.from(`data: ${JSON.stringify(o)}\n\n`);
  const chunks: Buffer[] = [];
  chunks.push(sse({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }] }));
  for (let i = 0; i < n - 2; i++) {
    const content = (i === 0 ? '' : ' ') + words[i % words.length];
    chunks.push(sse({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] }));
  }
  chunks.push(sse({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] }));
  s = { chunks, usage: sse({ ...base, choices: [], usage }), done: Buffer.from('data: [DONE]\n\n') };
  streams.set(n, s);
  return s;
}

function reply(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
  let body: { stream?: unknown; stream_options?: { include_usage?: unknown } };
  try {
    body = JSON.parse(raw.toString('utf8')) as typeof body;
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid JSON body","type":"invalid_request_error","param":null,"code":null}}');
    return;
  }
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': completion.length, 'x-request-id': 'req_bench' });
    res.end(completion);
    return;
  }
  const header = req.headers['x-bench-chunks'];
  const n = Math.max(2, Number(typeof header === 'string' ? header : defaultChunks) || defaultChunks);
  const s = prebuilt(n);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_bench' });
  // One write per chunk, as a real upstream emits them; no delay between them.
  for (const c of s.chunks) res.write(c);
  if (body.stream_options?.include_usage === true) res.write(s.usage);
  res.end(s.done);
}

const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
  const path = req.url?.split('?')[0] ?? '';
  if (req.method === 'POST' && path.endsWith('/chat/completions')) {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => reply(req, res, parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
    return;
  }
  if (req.method === 'GET' && path.endsWith('/models')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: CREATED, owned_by: 'bench' }] }));
    return;
  }
  req.resume();
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":"not_found"}}');
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.maxRequestsPerSocket = 0;

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address ? address.port : port }) + '\n');
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections());

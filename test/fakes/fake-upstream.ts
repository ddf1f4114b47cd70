/**
 * Fake LLM upstreams for data-plane tests: a plain `node:http` server on
 * 127.0.0.1 speaking one provider's wire format (OpenAI, Azure OpenAI,
 * Anthropic Messages, Gemini v1beta) exactly enough for the official SDKs,
 * recording every request and steerable to fail. See README.md here.
 *
 * Per request, in this order: read and record → take the next queued
 * behaviour → merge the behaviour layers → wait `delayMs` → `cutAfter: 0`
 * hangs up → unknown path 404 → credentials → body not JSON → `expect` →
 * the provider's own validation → forced `status` → the reply. Validation
 * precedes a forced status so that a malformed upstream request is never
 * masked by an injected failure.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAnthropicDialect } from './anthropic.js';
import { behaviourFromHeaders, behaviourFromModel, FakeSteeringError, findMismatch, mergeBehaviours, type FakeBehaviour } from './behaviour.js';
import type { Answer, Dialect, ErrorSpec, FakeRequest, StreamEvent } from './dialect.js';
import { createGeminiDialect } from './gemini.js';
import { createAzureDialect, createOpenAiDialect } from './openai.js';

export type { FakeBehaviour, FakeReply, FakeToolCall, FakeUsage } from './behaviour.js';

/** The provider API a fake speaks. */
export type FakeKind = 'openai' | 'anthropic' | 'gemini' | 'azure';

/** Options fixed for the fake's lifetime. */
export interface FakeUpstreamOptions {
  /** Accepted API keys; by default any non-empty key is accepted. A wrong key gets the provider's auth error. */
  apiKeys?: string[];
  /** Models listed by OpenAI's `GET /models` (default: gpt-4o, gpt-4o-mini, text-embedding-3-small). */
  models?: string[];
}

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query, as sent (not percent-decoded). */
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names, as node:http gives them. */
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; `undefined` when empty or not JSON (see `rawBody`). */
  body: unknown;
  rawBody: string;
  /** `Date.now()` when the body had been read. */
  time: number;
  /** Set when the client closed the connection before the fake finished answering (never for the fake's own `cutAfter`). */
  aborted: boolean;
}

/** A running fake upstream. */
export interface FakeUpstream {
  readonly kind: FakeKind;
  /**
   * The base URL to configure as the provider's `base_url`:
   * `http://127.0.0.1:PORT/v1` (openai, anthropic), `…/v1beta` (gemini),
   * `http://127.0.0.1:PORT` (azure).
   */
  readonly url: string;
  /** `http://127.0.0.1:PORT`, e.g. the Anthropic SDK's `baseURL` (it appends `/v1/messages` itself). */
  readonly origin: string;
  /** Every request received, oldest first. `reset()` empties this same array. */
  readonly requests: RecordedRequest[];
  /** Queues behaviours for the next requests, one each, in order (every request consumes one, whatever its path). */
  enqueue(...behaviours: FakeBehaviour[]): void;
  /** Replaces the behaviour applied beneath every request's own layers. */
  setDefault(behaviour: FakeBehaviour): void;
  /** Forgets recorded requests, queued behaviours and the default. */
  reset(): void;
  /** Stops listening and destroys open connections (in-flight streams are cut). Idempotent. */
  close(): Promise<void>;
}

const DIALECTS: Record<FakeKind, (options: FakeUpstreamOptions) => Dialect> = {
  openai: (options) => createOpenAiDialect(options.models),
  azure: () => createAzureDialect(),
  anthropic: () => createAnthropicDialect(),
  gemini: () => createGeminiDialect(),
};

function checked(behaviour: FakeBehaviour): FakeBehaviour {
  if (behaviour.status !== undefined && !(Number.isInteger(behaviour.status) && behaviour.status >= 400 && behaviour.status <= 599)) {
    throw new RangeError(`fake upstream: status must be an HTTP error status (400-599), got ${behaviour.status}`);
  }
  return behaviour;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** A truncated copy of a JSON event near `at`, keeping its SSE event name. */
function malformedEvent(events: StreamEvent[], at: number): StreamEvent {
  const near = events[at] ?? events[at - 1];
  const template = near?.data.startsWith('{') ? near : (events.find((event) => event.data.startsWith('{')) ?? { data: '{"fake":"malformed"}' });
  const data = template.data.slice(0, Math.ceil(template.data.length / 2));
  return template.event === undefined ? { data } : { event: template.event, data };
}

/** One request/response: the response side of the pipeline, honouring the merged behaviour. */
class Exchange {
  behaviour: FakeBehaviour = {};
  private readonly controller = new AbortController();
  private hungUp = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly dialect: Dialect,
    private readonly requestId: string,
    record: RecordedRequest,
  ) {
    res.on('close', () => {
      this.controller.abort();
      if (!res.writableFinished && !this.hungUp) record.aborted = true;
    });
  }

  /** Waits `ms`; false when the client went away meanwhile. */
  async pause(ms: number | undefined): Promise<boolean> {
    if (ms) {
      try {
        await sleep(ms, undefined, { signal: this.controller.signal });
      } catch {
        return false;
      }
    }
    return !this.controller.signal.aborted;
  }

  /** Destroys the socket without finishing the response. */
  hangUp(): void {
    this.hungUp = true;
    this.res.destroy();
  }

  sendError(spec: ErrorSpec): Promise<void> {
    return this.sendJson(spec.status, this.dialect.errorBody(spec, this.requestId));
  }

  /** The forced `status`: `errorBody` verbatim (a string as HTML), else the provider's usual error. */
  sendForced(status: number): Promise<void> {
    const { errorBody, retryAfter } = this.behaviour;
    if (typeof errorBody === 'string') return this.sendText(status, 'text/html; charset=utf-8', errorBody);
    if (errorBody !== undefined) return this.sendJson(status, errorBody);
    return this.sendError(this.dialect.statusError(status, retryAfter));
  }

  sendJson(status: number, body: unknown): Promise<void> {
    return this.sendText(status, this.dialect.jsonContentType, JSON.stringify(body));
  }

  async sendText(status: number, contentType: string, text: string): Promise<void> {
    const bytes = Buffer.from(text);
    this.res.writeHead(status, { ...this.headers(status), 'content-type': contentType, 'content-length': bytes.length });
    if (this.behaviour.cutAfter === undefined) {
      this.res.end(bytes);
      return;
    }
    await this.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    this.hangUp();
  }

  async sendStream(answer: Extract<Answer, { kind: 'stream' }>): Promise<void> {
    const { errorAt, malformedAt, cutAfter, chunkDelayMs } = this.behaviour;
    let events = answer.events;
    if (errorAt !== undefined) events = [...events.slice(0, errorAt), this.midStreamError()];
    if (malformedAt !== undefined) {
      const at = Math.min(malformedAt, events.length);
      events = [...events.slice(0, at), malformedEvent(events, at), ...events.slice(at)];
    }
    this.res.writeHead(200, { ...this.headers(200), 'content-type': answer.framing.contentType, 'cache-control': 'no-cache' });
    for (const [index, event] of events.entries()) {
      if (cutAfter === index) return this.hangUp();
      if (index > 0 && !(await this.pause(chunkDelayMs))) return;
      if (this.controller.signal.aborted) return;
      await this.write(answer.framing.frame(event, index));
    }
    // Cutting after every event still withholds the stream's proper end.
    if (cutAfter !== undefined) return this.hangUp();
    this.res.end(answer.framing.end);
  }

  private midStreamError(): StreamEvent {
    const body = this.behaviour.errorBody ?? this.dialect.errorBody(this.dialect.statusError(this.dialect.midStreamStatus, undefined), this.requestId);
    return this.dialect.streamError(typeof body === 'string' ? body : JSON.stringify(body));
  }

  private headers(status: number): OutgoingHttpHeaders {
    return this.dialect.headers({ requestId: this.requestId, status, retryAfter: this.behaviour.retryAfter });
  }

  private write(chunk: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.res.write(chunk, () => resolve());
    });
  }
}

/**
 * Starts a fake upstream for `kind` on 127.0.0.1 with an ephemeral port.
 * The caller owns it and must `close()` it (e.g. in `afterAll`).
 */
export async function startFakeUpstream(kind: FakeKind, options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const dialect = DIALECTS[kind](options);
  const requests: RecordedRequest[] = [];
  let queue: FakeBehaviour[] = [];
  let defaultBehaviour: FakeBehaviour = {};
  let counter = 0;
  const nextId = (prefix: string): string => {
    counter += 1;
    return `${prefix}${counter.toString(36).padStart(24, '0')}`;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown;
    let notJson = false;
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody);
      } catch {
        notJson = true;
      }
    }
    const method = req.method ?? 'GET';
    const record: RecordedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body, rawBody, time: Date.now(), aborted: false };
    requests.push(record);
    const queued = queue.shift();
    const request: FakeRequest = { method, path: decodePath(url.pathname), query: url.searchParams, headers: req.headers, body };
    const endpoint = dialect.route(request);
    const exchange = new Exchange(res, dialect, nextId('req_'), record);
    let fromHeaders: FakeBehaviour;
    try {
      fromHeaders = behaviourFromHeaders(req.headers);
    } catch (error) {
      if (!(error instanceof FakeSteeringError)) throw error;
      return exchange.sendError({ status: 400, message: error.message, type: 'invalid_request_error', param: error.header, code: 'fake_invalid_header' });
    }
    const behaviour = mergeBehaviours(defaultBehaviour, behaviourFromModel(endpoint?.model), queued, fromHeaders);
    exchange.behaviour = behaviour;
    if (!(await exchange.pause(behaviour.delayMs))) return;
    if (behaviour.cutAfter === 0) return exchange.hangUp();
    if (!endpoint) return exchange.sendError(dialect.notFound(request));
    const denied = dialect.authenticate(request, options.apiKeys);
    if (denied) return exchange.sendError(denied);
    if (notJson) return exchange.sendError(dialect.invalidJson());
    if (behaviour.expect !== undefined) {
      const mismatch = findMismatch(behaviour.expect, body);
      if (mismatch) {
        return exchange.sendError({
          status: 400,
          message: `x-fake-expect mismatch at ${mismatch.path || 'the body'}: ${mismatch.detail}`,
          type: 'invalid_request_error',
          param: mismatch.path || null,
          code: 'fake_expectation_failed',
        });
      }
    }
    const invalid = endpoint.validate(request);
    if (invalid) return exchange.sendError(invalid);
    if (behaviour.status !== undefined) return exchange.sendForced(behaviour.status);
    const answer = endpoint.answer(request, { ids: nextId, reply: behaviour.reply });
    return answer.kind === 'json' ? exchange.sendJson(200, answer.body) : exchange.sendStream(answer);
  }

  const server = createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`fake upstream failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    });
  });
  // Longer than undici's 4 s client keep-alive, so the client always closes idle sockets first.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fake upstream: no TCP address');
  const origin = `http://127.0.0.1:${address.port}`;
  let closing: Promise<void> | undefined;

  return {
    kind,
    url: `${origin}${dialect.basePath}`,
    origin,
    requests,
    enqueue(...behaviours) {
      queue.push(...behaviours.map(checked));
    },
    setDefault(behaviour) {
      defaultBehaviour = checked(behaviour);
    },
    reset() {
      requests.length = 0;
      queue = [];
      defaultBehaviour = {};
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

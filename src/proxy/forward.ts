/**
 * The pool, forward and normalise stages: try the pools' members in order,
 * translate the request for each member's upstream, fall back on the
 * configured triggers, and stream or send the translated answer.
 *
 * A streaming request can fall back only until its first byte reaches the
 * client; after that an upstream failure ends the stream with an error event.
 */
import type { ServerResponse } from 'node:http';
import { newId } from '../security/tokens.js';
import type { RuntimeProvider } from '../config/snapshot.js';
import { SluiceError } from '../errors.js';
import type { CredentialRotation } from '../llm/pool/credentials.js';
import type { MemberHealth } from '../llm/pool/health.js';
import type { PoolSelector } from '../llm/pool/select.js';
import { cooldownFor } from '../llm/pool/credentials.js';
import { fallbackTrigger, shouldFallBack } from '../llm/pool/triggers.js';
import type { FallbackTrigger, Pool, PoolMember } from '../llm/pool/types.js';
import { descriptorFor } from '../llm/providers/descriptors.js';
import { callMock } from '../llm/providers/mock.js';
import { formatSse, SseParser, type SseEvent } from '../llm/sse.js';
import type { Translator, UpstreamError } from '../llm/translator.js';
import { translatorFor } from '../llm/translators/index.js';
import { sendUpstream, UpstreamTransportError, type UpstreamCallHandle, type UpstreamResponse } from '../llm/upstream-client.js';
import type { AttemptRecord, ProxyContext } from '../policy/context.js';

/** Process-wide pool state shared by all requests. */
export interface PoolRuntime {
  selector: PoolSelector;
  health: MemberHealth;
  credentials: CredentialRotation;
}

/** Where a forwarded answer goes: the raw response, hijacked from fastify. */
export interface ClientSink {
  raw: ServerResponse;
  /** Headers every answer carries (x-request-id, …). */
  baseHeaders(): Record<string, string>;
}

function headerValue(headers: UpstreamResponse['headers'], name: string): string | null {
  return headers[name] ?? null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The attempt order over the pools: each pool is ordered only when it is
 * reached (ordering can claim a half-open probe), a member tried once in this
 * request is not tried again, and circuit-open members are tried only when no
 * pool had an available one (fail-static: a full outage still gets a real
 * attempt rather than an instant 503).
 */
function* attemptOrder(pools: Pool[], selector: PoolSelector): Generator<{ pool: Pool; member: PoolMember }> {
  const tried = new Set<string>();
  const skipped: { pool: Pool; member: PoolMember }[] = [];
  let any = false;
  for (const pool of pools) {
    const { members, skipped: open } = selector.order(pool);
    for (const member of open) skipped.push({ pool, member });
    for (const member of members) {
      if (tried.has(member.key)) continue;
      tried.add(member.key);
      any = true;
      yield { pool, member };
    }
  }
  if (any) return;
  for (const c of skipped) {
    if (tried.has(c.member.key)) continue;
    tried.add(c.member.key);
    yield c;
  }
}

function upstreamFailure(e: UpstreamError, retryAfter: string | null): SluiceError {
  const seconds = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined;
  const kind = e.status === 429 ? 'resource_exhausted' : e.status >= 500 ? 'unavailable' : e.status === 401 ? 'unauthenticated' : e.status === 403 ? 'permission_denied' : e.status === 404 ? 'not_found' : 'invalid_argument';
  return new SluiceError(kind, e.message, { details: { status: e.status, type: e.type, code: e.code, param: e.param, retryAfterSeconds: seconds } });
}

function fallbackHeader(ctx: ProxyContext): string | undefined {
  const failed = ctx.attempts.filter((a) => a.fallbackReason);
  return failed.length ? failed.map((a) => `${a.fallbackReason} (${a.provider}/${a.model})`).join(', ') : undefined;
}

/** Response headers naming who served the request. */
export function servedHeaders(ctx: ProxyContext): Record<string, string> {
  const h: Record<string, string> = { ...ctx.responseHeaders };
  if (ctx.served) {
    h['x-sluice-provider'] = ctx.served.provider;
    h['x-sluice-model'] = `${ctx.served.provider}/${ctx.served.model}`;
  }
  const fb = fallbackHeader(ctx);
  if (fb) h['x-sluice-fallback'] = fb;
  if (ctx.route) h['x-sluice-route'] = ctx.route.name;
  return h;
}

/** Client headers that carry protocol options to an upstream of the same API (e.g. Claude Code's betas). */
function passthroughHeaders(ctx: ProxyContext, provider: RuntimeProvider): Record<string, string> | undefined {
  const beta = ctx.headers['anthropic-beta'];
  return ctx.surface === 'anthropic-messages' && provider.kind === 'anthropic' && typeof beta === 'string' ? { 'anthropic-beta': beta } : undefined;
}

/** Starts the upstream call of one attempt (the mock provider answers in-process). */
function send(
  ctx: ProxyContext,
  provider: RuntimeProvider,
  translatorCall: ReturnType<Translator['request']>,
  credentialSecret: { id: string; secret: string } | undefined,
  timeoutMs: number,
): UpstreamCallHandle {
  if (provider.kind === 'mock') {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new UpstreamTransportError('timeout', 'mock provider did not answer in time')), timeoutMs);
    const response = callMock(provider, translatorCall, controller.signal).then(
      (res) => (clearTimeout(timer), res),
      (err: unknown) => {
        clearTimeout(timer);
        throw controller.signal.reason instanceof UpstreamTransportError ? controller.signal.reason : err;
      },
    );
    return { response, abort: (reason) => controller.abort(reason) };
  }
  const d = descriptorFor(provider.kind);
  const beta = passthroughHeaders(ctx, provider);
  const auth = d.headers(provider, credentialSecret);
  return sendUpstream({
    url: d.url(provider, translatorCall),
    headers: beta || translatorCall.headers ? { ...beta, ...auth, ...translatorCall.headers } : auth,
    body: JSON.stringify(translatorCall.body),
    timeoutMs,
  });
}

/**
 * Runs the attempts and answers the client. Resolves when the answer is
 * complete (or the client is gone); throws a SluiceError only while nothing
 * has been written, so the surface renders it in its envelope.
 */
export async function forward(ctx: ProxyContext, sink: ClientSink, runtime: PoolRuntime): Promise<void> {
  const workspace = ctx.key!.workspace;
  const client: ClientState = { gone: false };
  sink.raw.once('close', () => {
    if (!sink.raw.writableFinished) {
      ctx.clientAborted = true;
      client.gone = true;
      client.attempt?.abort(new UpstreamTransportError('aborted', 'client closed the connection'));
    }
  });
  let lastError: SluiceError | undefined;
  // The trigger that ended the previous attempt; it becomes that attempt's fallback reason once another one starts.
  let pending: { record: AttemptRecord; reason: string } | undefined;
  let unsupported = 0;
  for (const { pool, member } of attemptOrder(ctx.pools, runtime.selector)) {
    const provider = workspace.providers.get(member.provider);
    const upstreamSchema = provider && descriptorFor(provider.kind).upstreamSchema(ctx.surface);
    const factory = upstreamSchema && translatorFor(ctx.surface, upstreamSchema);
    if (!provider || !factory) {
      runtime.health.release(member.key);
      unsupported++;
      continue;
    }
    // Retry the same member once with another credential when the upstream refused ours.
    for (let credentialTry = 0; credentialTry < 2; credentialTry++) {
      if (pending) {
        pending.record.fallbackReason = pending.reason;
        pending = undefined;
      }
      const result = await attempt(ctx, sink, runtime, client, pool, member, provider, factory());
      if (result.kind === 'done') return;
      lastError = result.error;
      if (result.kind === 'retry_credential' && provider.credentials.length > 1 && credentialTry === 0) {
        pending = { record: result.record, reason: 'credential_refused' };
        continue;
      }
      if (result.kind === 'fail') throw result.error;
      // A refused credential moves on to the next member like a fallback trigger.
      pending = { record: result.record, reason: result.kind === 'fallback' ? result.trigger : 'credential_refused' };
      break;
    }
  }
  if (lastError) throw lastError;
  if (unsupported) {
    throw new SluiceError('invalid_argument', `model "${ctx.selectedModel}" cannot serve ${ctx.endpoint} requests`, { details: { code: 'unsupported_endpoint', param: 'model' } });
  }
  throw new SluiceError('unavailable', 'no pool member is available', { details: { code: 'no_available_member' } });
}

/** Whether the client is still there, and the attempt to abort when it leaves. */
interface ClientState {
  gone: boolean;
  attempt?: UpstreamCallHandle;
}

type AttemptResult =
  | { kind: 'done' }
  /** A trigger the pool falls back on: try the next member. */
  | { kind: 'fallback'; trigger: FallbackTrigger; error: SluiceError; record: AttemptRecord }
  /** The upstream refused our credential (401/403): another credential may work. */
  | { kind: 'retry_credential'; error: SluiceError; record: AttemptRecord }
  /** Final: answer the client with this error. */
  | { kind: 'fail'; error: SluiceError };

/** One attempt against one member. */
async function attempt(
  ctx: ProxyContext,
  sink: ClientSink,
  runtime: PoolRuntime,
  client: ClientState,
  pool: Pool,
  member: PoolMember,
  provider: RuntimeProvider,
  translator: Translator,
): Promise<AttemptResult> {
  const started = Date.now();
  const call = translator.request({ ...ctx.body }, { model: member.model, stream: ctx.stream, created: Math.floor(started / 1000) });
  const credential = runtime.credentials.next(provider.id, provider.credentials);
  const timeoutMs = pool.attemptTimeoutMs || provider.timeoutMs;
  if (client.gone) return { kind: 'done' };
  const record: AttemptRecord = { provider: member.provider, model: member.model, status: 0, latencyMs: 0, startedAt: started };
  ctx.attempts.push(record);
  const fallbackOr = (trigger: FallbackTrigger | undefined, error: SluiceError): AttemptResult =>
    trigger && shouldFallBack(pool, trigger) ? { kind: 'fallback', trigger, error, record } : { kind: 'fail', error };
  try {
    let res: UpstreamResponse;
    try {
      // The upstream's timeouts bound the wait for headers and each silence in the body; the client going away aborts it.
      const handle = send(ctx, provider, call, credential, timeoutMs);
      client.attempt = handle;
      res = await handle.response;
    } catch (err) {
      record.latencyMs = Date.now() - started;
      if (client.gone) {
        runtime.health.release(member.key);
        return { kind: 'done' };
      }
      const timedOut = err instanceof UpstreamTransportError && err.reason === 'timeout';
      const trigger = fallbackTrigger({ timedOut, connectionError: !timedOut });
      record.status = timedOut ? 504 : 502;
      record.errorCode = timedOut ? 'upstream_timeout' : 'upstream_unreachable';
      runtime.health.recordFailure(member.key, trigger);
      const error = new SluiceError(timedOut ? 'deadline_exceeded' : 'unavailable', `${member.provider}: ${(err as Error).message}`, {
        details: { code: record.errorCode, status: record.status },
        cause: err,
      });
      return fallbackOr(trigger, error);
    }
    record.status = res.status;
    if (res.status >= 400) {
      const text = await res.body.text();
      record.latencyMs = Date.now() - started;
      // The translator's status, not the raw one: Gemini reports a bad key as a 400.
      const upstreamError = translator.error(res.status, parseJson(text));
      record.errorCode = upstreamError.code ?? upstreamError.type;
      const trigger = fallbackTrigger({ status: upstreamError.status });
      const cool = credential && cooldownFor(upstreamError.status, headerValue(res.headers, 'retry-after'), headerValue(res.headers, 'retry-after-ms'));
      if (credential && cool) runtime.credentials.cooldown(credential.id, cool);
      if (trigger) runtime.health.recordFailure(member.key, trigger);
      else runtime.health.release(member.key);
      if (upstreamError.status === 401 || upstreamError.status === 403) {
        // Our provider credential was refused: that is the gateway's fault, not the client's.
        const error = new SluiceError('unavailable', `${member.provider} refused the gateway's credential: ${upstreamError.message}`, {
          details: { status: 502, type: 'api_error', code: 'upstream_auth_failed' },
        });
        return { kind: 'retry_credential', error, record };
      }
      return fallbackOr(trigger, upstreamFailure(upstreamError, headerValue(res.headers, 'retry-after')));
    }
    ctx.served = { provider: member.provider, model: member.model };
    // Bodies are kept only when recording is on for this provider or gateway (src/observability/logs).
    ctx.responseCapture = provider.recordBodies || ctx.gateway?.recordBodies ? [] : undefined;
    if (!ctx.stream) {
      const text = await res.body.text();
      // Same API both sides: the upstream's bytes go out as they came, and only the usage is read from them.
      const sniffed = translator.passthroughUsage?.(text);
      let payload = text;
      if (sniffed) ctx.usage = sniffed;
      else {
        const parsed = parseJson(text);
        const translated = translator.response(parsed);
        ctx.usage = translated.usage;
        // A passthrough translator hands back the very object it was given: send the upstream's bytes then too.
        if (translated.body !== parsed) payload = JSON.stringify(translated.body);
      }
      record.latencyMs = Date.now() - started;
      runtime.health.recordSuccess(member.key, record.latencyMs);
      ctx.status = 200;
      ctx.firstByteAt = Date.now();
      ctx.responseCapture?.push(payload);
      sink.raw.writeHead(200, { ...sink.baseHeaders(), ...servedHeaders(ctx), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
      sink.raw.end(payload);
      return { kind: 'done' };
    }
    const outcome = await pipeStream(ctx, sink, translator, res, () => runtime.health.recordSuccess(member.key, Date.now() - started));
    record.latencyMs = Date.now() - started;
    if (outcome === 'not_started') {
      // The upstream failed before the first byte reached the client: still free to fall back.
      runtime.health.recordFailure(member.key, 'connection_error');
      ctx.served = undefined;
      record.errorCode = 'upstream_stream_failed';
      return fallbackOr('connection_error', new SluiceError('unavailable', `${member.provider}: the stream ended before any data`, { details: { status: 502, code: 'upstream_stream_failed' } }));
    }
    if (outcome === 'cut' && !ctx.clientAborted) runtime.health.recordFailure(member.key, 'connection_error');
    return { kind: 'done' };
  } finally {
    client.attempt = undefined;
  }
}

/** Writes one SSE event (also to `capture` when recording), waiting for the socket to drain when it is full. */
async function write(raw: ServerResponse, event: SseEvent, capture?: string[]): Promise<void> {
  capture?.push(event.data);
  if (!raw.write(formatSse(event))) await new Promise<void>((resolve) => raw.once('drain', resolve));
}

/** The error event that ends a stream whose upstream failed after the first byte. */
function streamErrorEvent(ctx: ProxyContext, message: string): SseEvent {
  if (ctx.surface === 'anthropic-messages') return { event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'api_error', message } }) };
  return { data: JSON.stringify({ error: { message, type: 'api_error', code: 'upstream_stream_error', param: null } }) };
}

/**
 * Forwards a streaming answer event by event. Returns `not_started` when the
 * upstream failed before anything was written (the caller may fall back).
 */
async function pipeStream(
  ctx: ProxyContext,
  sink: ClientSink,
  translator: Translator,
  res: UpstreamResponse,
  onFirstByte: () => void,
): Promise<'not_started' | 'complete' | 'cut'> {
  const parser = new SseParser();
  let started = false;
  const start = () => {
    started = true;
    onFirstByte();
    ctx.status = 200;
    ctx.firstByteAt = Date.now();
    sink.raw.writeHead(200, { ...sink.baseHeaders(), ...servedHeaders(ctx), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    sink.raw.flushHeaders();
  };
  try {
    for await (const chunk of res.body) {
      for (const event of parser.push(chunk as Buffer)) {
        const out = translator.streamEvent(event);
        if (out.length && !started) start();
        for (const e of out) await write(sink.raw, e, ctx.responseCapture);
      }
    }
    const tail = parser.end().flatMap((e) => translator.streamEvent(e));
    const closing = translator.streamEnd(true);
    if (!started && tail.length + closing.length === 0) return 'not_started';
    if (!started) start();
    for (const e of [...tail, ...closing]) await write(sink.raw, e, ctx.responseCapture);
    ctx.usage = translator.usage();
    sink.raw.end();
    return 'complete';
  } catch (err) {
    ctx.usage = translator.usage();
    if (ctx.clientAborted) {
      res.body.destroy();
      if (!sink.raw.destroyed) sink.raw.destroy();
      return 'cut';
    }
    if (!started) return 'not_started';
    const message = err instanceof SluiceError ? err.message : 'the upstream stream failed';
    for (const e of translator.streamEnd(false)) await write(sink.raw, e, ctx.responseCapture).catch(() => undefined);
    await write(sink.raw, streamErrorEvent(ctx, message)).catch(() => undefined);
    sink.raw.end();
    ctx.error = new SluiceError('unavailable', message, { cause: err, details: { code: 'upstream_stream_error' } });
    return 'cut';
  }
}

/**
 * A fresh request id, time-ordered (`newId`): the request log's primary key then grows at its end
 * instead of at random places (random ids cost SQLite ≈15 µs more per logged request).
 */
export function newRequestId(): string {
  return newId('req');
}

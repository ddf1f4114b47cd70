/**
 * The OpenAI- and Anthropic-compatible HTTP surface, under
 * `/gateways/{gateway}/v1/…` and `/v1/…` (the key's default gateway). Each
 * route builds a context, runs the pipeline and writes the answer; errors
 * are rendered in the surface's own envelope.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SnapshotStore } from '../config/snapshot-store.js';
import type { RuntimeGateway } from '../config/snapshot.js';
import { SluiceError, toSluiceError } from '../errors.js';
import type { ClientSchema } from '../llm/translator.js';
import type { Endpoint, ProxyContext } from '../policy/context.js';
import { requestStages, runRequestStages, type PipelineHooks } from '../policy/pipeline.js';
import { authenticateStage, authoriseStage } from '../policy/stages.js';
import { errorBody, httpStatusOf } from './envelopes.js';
import { forward, newRequestId, servedHeaders, type PoolRuntime } from './forward.js';

export interface ProxyOptions {
  snapshots: SnapshotStore;
  runtime: PoolRuntime;
  hooks: PipelineHooks;
  /** Largest accepted request body (images travel inline). */
  bodyLimit?: number;
}

type Params = { gateway?: string; '*'?: string };

function surfaceOf(url: string): ClientSchema {
  return /\/v1\/messages(\/|\?|$)/.test(url) ? 'anthropic-messages' : 'openai-chat';
}

function endpointOf(url: string): Endpoint {
  if (/\/v1\/messages(\/|\?|$)/.test(url)) return 'messages';
  if (/\/v1\/embeddings(\/|\?|$)/.test(url)) return 'embeddings';
  return 'chat_completions';
}

function newContext(req: FastifyRequest<{ Params: Params }>, opts: ProxyOptions, surface: ClientSchema, endpoint: Endpoint): ProxyContext {
  return {
    requestId: newRequestId(),
    startedAt: Date.now(),
    surface,
    endpoint,
    snapshot: opts.snapshots.current,
    method: req.method,
    path: req.url.split('?')[0] ?? req.url,
    headers: req.headers,
    query: req.query as Record<string, string>,
    gatewayName: req.params.gateway,
    body: (req.body ?? {}) as Record<string, unknown>,
    stream: false,
    requestedModel: '',
    celResults: {},
    routePlan: undefined,
    admission: undefined,
    pools: [],
    attempts: [],
    responseHeaders: {},
  };
}

function writeError(reply: FastifyReply, ctx: ProxyContext, err: SluiceError): void {
  const status = httpStatusOf(err);
  ctx.status = status;
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': ctx.requestId, ...servedHeaders(ctx) };
  if (err.details.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.details.retryAfterSeconds);
  reply.raw.writeHead(status, headers);
  reply.raw.end(JSON.stringify(errorBody(ctx.surface, err)));
}

/** Registers the data-plane routes (encapsulated: its error handler renders provider envelopes). */
export async function proxyRoutes(app: FastifyInstance, opts: ProxyOptions): Promise<void> {
  const stages = requestStages(opts.hooks);

  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, req, reply) => {
    // Body parsing failures (invalid JSON, too large) land here, before any handler.
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    const err = new SluiceError(status === 500 ? 'internal' : 'invalid_argument', status === 500 ? 'internal error' : error.message, {
      details: { status, code: status === 413 ? 'request_too_large' : status === 500 ? undefined : 'invalid_json' },
    });
    if (status === 500) req.log.error({ err: error }, 'data-plane error');
    // Refused before the pipeline ran, but logged like every other request (rejected at `parse`).
    const ctx = newContext(req as FastifyRequest<{ Params: Params }>, opts, surfaceOf(req.url), endpointOf(req.url));
    ctx.error = err;
    ctx.rejectedStage = 'parse';
    ctx.status = status;
    void reply.code(status).header('x-request-id', ctx.requestId).send(errorBody(ctx.surface, err));
    ctx.finishedAt = Date.now();
    opts.hooks.settle?.(ctx);
  });

  // Unknown data-plane paths (e.g. `/v1/messages/count_tokens`) still answer in the surface's envelope.
  app.setNotFoundHandler((req, reply) => {
    const err = new SluiceError('not_found', `no route for ${req.method} ${req.url.split('?')[0]}`, { details: { code: 'unknown_endpoint' } });
    void reply.code(404).header('x-request-id', newRequestId()).send(errorBody(surfaceOf(req.url), err));
  });

  const handle = (surface: ClientSchema, endpoint: Endpoint) => async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const ctx = newContext(req, opts, surface, endpoint);
    reply.hijack();
    try {
      const rejected = await runRequestStages(ctx, stages);
      if (rejected) return writeError(reply, ctx, rejected);
      await forward(ctx, { raw: reply.raw, baseHeaders: () => ({ 'x-request-id': ctx.requestId }) }, opts.runtime);
    } catch (thrown) {
      const err = toSluiceError(thrown);
      ctx.error = err;
      ctx.rejectedStage ??= 'forward';
      if (err.kind === 'internal') req.log.error({ err: thrown }, 'data-plane internal error');
      if (!reply.raw.headersSent) writeError(reply, ctx, err);
      else reply.raw.destroy();
    } finally {
      ctx.finishedAt = Date.now();
      opts.hooks.settle?.(ctx);
    }
  };

  const bodyLimit = opts.bodyLimit ?? 32 * 1024 * 1024;
  for (const prefix of ['/v1', '/gateways/:gateway/v1']) {
    app.post(`${prefix}/chat/completions`, { bodyLimit }, handle('openai-chat', 'chat_completions'));
    app.post(`${prefix}/messages`, { bodyLimit }, handle('anthropic-messages', 'messages'));
    app.post(`${prefix}/embeddings`, { bodyLimit }, handle('openai-embeddings', 'embeddings'));
    app.get(`${prefix}/models`, (req: FastifyRequest<{ Params: Params }>, reply) => listModels(req, reply, opts));
    app.get(`${prefix}/models/*`, (req: FastifyRequest<{ Params: Params }>, reply) => listModels(req, reply, opts, req.params['*']));
  }
}

/** `GET models` (and `models/{id}`): what the key can reach on the gateway, in OpenAI's or Anthropic's shape. */
async function listModels(req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, opts: ProxyOptions, id?: string): Promise<void> {
  const anthropic = typeof req.headers['anthropic-version'] === 'string';
  const ctx = newContext(req, opts, anthropic ? 'anthropic-messages' : 'openai-chat', 'chat_completions');
  reply.hijack();
  try {
    authenticateStage(ctx);
    authoriseStage(ctx);
  } catch (err) {
    return writeError(reply, ctx, toSluiceError(err));
  }
  const gateway = ctx.gateway as RuntimeGateway;
  const entry = (m: RuntimeGateway['modelList'][number]) =>
    anthropic
      ? { type: 'model', id: m.publicName, display_name: m.publicName, created_at: new Date(m.createdAt * 1000).toISOString() }
      : { id: m.publicName, object: 'model', created: m.createdAt, owned_by: m.provider.name };
  let body: unknown;
  if (id !== undefined) {
    const model = gateway.models.get(decodeURIComponent(id));
    if (!model) {
      return writeError(reply, ctx, new SluiceError('not_found', `the model \`${id}\` does not exist or you do not have access to it`, { details: { code: 'model_not_found', param: 'model' } }));
    }
    body = entry(model);
  } else {
    const data = gateway.modelList.map(entry);
    body = anthropic ? { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null } : { object: 'list', data };
  }
  reply.raw.writeHead(200, { 'content-type': 'application/json', 'x-request-id': ctx.requestId });
  reply.raw.end(JSON.stringify(body));
}

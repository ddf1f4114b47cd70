/**
 * The request-side stages before forwarding. Each stage reads and fills the
 * context, and rejects by throwing a SluiceError; nothing here calls a
 * provider.
 */
import { hashSecret } from '../security/tokens.js';
import { SluiceError } from '../errors.js';
import type { CelContext } from './cel.js';
import type { RuntimeModel, RuntimeRoute } from '../config/snapshot.js';
import type { Pool } from '../llm/pool/types.js';
import type { ProxyContext } from './context.js';

const MAX_JSON_DEPTH = 64;

function invalid(message: string, param?: string): SluiceError {
  return new SluiceError('invalid_argument', message, { details: { param, code: 'invalid_request' } });
}

/** Whether `value` nests objects or arrays deeper than `limit` levels (stops at the first too-deep path). */
function deeperThan(value: unknown, limit: number): boolean {
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (const child of value) if (child && typeof child === 'object' && deeperThan(child, limit - 1)) return true;
    return false;
  }
  for (const key in value as Record<string, unknown>) {
    const child = (value as Record<string, unknown>)[key];
    if (child && typeof child === 'object' && deeperThan(child, limit - 1)) return true;
  }
  return false;
}

/** Parse: the body is a JSON object of the endpoint's shape, within the depth bound. */
export function parseStage(ctx: ProxyContext): void {
  const body = ctx.body as unknown;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object');
  if (deeperThan(body, MAX_JSON_DEPTH)) throw invalid(`request body nests deeper than ${MAX_JSON_DEPTH} levels`);
  const model = ctx.body.model;
  if (typeof model !== 'string' || model === '') throw invalid('you must provide a model parameter', 'model');
  ctx.requestedModel = model;
  if (ctx.endpoint === 'embeddings') {
    if (ctx.body.input === undefined || ctx.body.input === null) throw invalid("'input' is a required property", 'input');
  } else if (!Array.isArray(ctx.body.messages)) {
    throw invalid("'messages' is a required property and must be an array", 'messages');
  }
  const stream = ctx.body.stream;
  if (stream !== undefined && typeof stream !== 'boolean') throw invalid("'stream' must be a boolean", 'stream');
  ctx.stream = stream === true && ctx.endpoint !== 'embeddings';
}

function presentedKey(ctx: ProxyContext): string | undefined {
  const auth = ctx.headers.authorization;
  const bearer = auth && /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
  if (bearer) return bearer;
  const xApiKey = ctx.headers['x-api-key'];
  return typeof xApiKey === 'string' && xApiKey ? xApiKey : undefined;
}

/** Authenticate: `Authorization: Bearer` or `x-api-key`, looked up by hash in the snapshot. */
export function authenticateStage(ctx: ProxyContext): void {
  const secret = presentedKey(ctx);
  const unauthenticated = (message: string) => new SluiceError('unauthenticated', message, { details: { code: 'invalid_api_key' } });
  if (!secret) throw unauthenticated('missing API key: send "Authorization: Bearer <key>" or "x-api-key: <key>"');
  const key = ctx.snapshot.keysByHash.get(hashSecret(secret));
  if (!key) throw unauthenticated('invalid API key');
  if (key.revoked) throw unauthenticated('this API key has been revoked');
  if (key.expiresAt !== undefined && key.expiresAt <= Date.now()) throw unauthenticated('this API key has expired');
  ctx.key = key;
}

/** Authorise: the gateway exists in the key's workspace and the key may use it. */
export function authoriseStage(ctx: ProxyContext): void {
  const key = ctx.key!;
  const name = ctx.gatewayName ?? key.defaultGateway;
  if (!name) {
    throw new SluiceError('invalid_argument', 'this API key has no default gateway: call /gateways/{gateway}/v1/… instead', { details: { code: 'no_default_gateway' } });
  }
  const gateway = key.workspace.gateways.get(name);
  if (!gateway) throw new SluiceError('not_found', `gateway "${name}" not found`, { details: { code: 'gateway_not_found' } });
  if (key.gateways.size > 0 && !key.gateways.has(name)) {
    throw new SluiceError('permission_denied', `this API key may not use gateway "${name}"`, { details: { code: 'gateway_not_allowed' } });
  }
  ctx.gateway = gateway;
}

/** The CEL view of the request. */
export function celContext(ctx: ProxyContext, model: string): CelContext {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.headers)) {
    if (value === undefined || name === 'authorization' || name === 'x-api-key') continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const key = ctx.key!;
  return {
    request: { method: ctx.method, path: ctx.path, headers, query: ctx.query, body: ctx.gateway!.readsBody ? ctx.body : {}, model },
    key: { id: key.id, name: key.name, metadata: key.metadata },
    gateway: { name: ctx.gateway!.name },
    workspace: { name: key.workspace.name },
  };
}

/** What the route stage decides: the model, the matched route and the pools to try. */
export interface RoutePlan {
  selectedModel: string;
  route?: RuntimeRoute;
  pools: Pool[];
  directModel?: RuntimeModel;
  /** CEL results by expression (`model_selector`, `route:<name>`). */
  celResults: Record<string, string>;
}


/** Fills `plan` step by step, so a refusal still carries what was decided before it. */
function computeRoute(ctx: ProxyContext, plan: RoutePlan): void {
  const gateway = ctx.gateway!;
  const { celResults } = plan;
  let model = ctx.requestedModel;
  const cel = gateway.modelSelector || gateway.routes.length ? celContext(ctx, model) : undefined;
  if (gateway.modelSelector) {
    const result = gateway.modelSelector.evaluate(cel!);
    if (result.ok && typeof result.value === 'string' && result.value) model = result.value;
    celResults.model_selector = result.ok ? String(result.value) : `error: ${result.error.split('\n')[0]}`;
    cel!.request.model = model;
  }
  plan.selectedModel = model;
  for (const route of gateway.routes) {
    const result = route.condition ? route.condition.evaluate(cel!) : { ok: true as const, value: true };
    celResults[`route:${route.name}`] = result.ok ? String(result.value) : `error: ${result.error.split('\n')[0]}`;
    if (result.ok && result.value === true) {
      plan.route = route;
      plan.pools = route.pools.filter((p) => p.members.length > 0);
      if (plan.pools.length === 0) throw new SluiceError('unavailable', `route "${route.name}" has no enabled pool member`, { details: { code: 'no_available_member' } });
      return;
    }
  }
  const direct = gateway.models.get(model);
  if (!direct) {
    throw new SluiceError('not_found', `the model \`${model}\` does not exist or you do not have access to it`, { details: { code: 'model_not_found', param: 'model' } });
  }
  const pool: Pool = {
    id: `direct:${direct.publicName}`,
    strategy: 'priority',
    attemptTimeoutMs: 0,
    fallbackOn: [],
    members: [{ key: `${direct.provider.id}/${direct.name}`, provider: direct.provider.name, model: direct.name, weight: 1 }],
  };
  plan.directModel = direct;
  plan.pools = [pool];
}

/**
 * The routing decision for a request, computed once: the spend stage asks for
 * it ahead of the route stage (to price the candidate models), and the route
 * stage then applies the same plan (or throws the same error) without
 * evaluating CEL again. Throws what the route stage would.
 */
export function planRoute(ctx: ProxyContext): RoutePlan {
  // Kept on the context (the spend stage plans ahead to price the candidates). Not in a WeakMap:
  // its entries outlived their requests in the young GC (≈ 20 % more bytes promoted per scavenge).
  let hit = ctx.routePlan;
  if (!hit) {
    hit = { plan: { selectedModel: ctx.requestedModel, pools: [], celResults: {} } };
    try {
      computeRoute(ctx, hit.plan);
    } catch (error) {
      hit.error = error;
    }
    ctx.routePlan = hit;
  }
  if (hit.error !== undefined) throw hit.error;
  return hit.plan;
}

/**
 * Route: the model selector names the model, then the first route whose
 * condition holds supplies the pools. With no matching route the model is
 * resolved directly among the gateway's models. A CEL runtime error counts
 * as "no match" and is recorded, never a crash.
 */
export function routeStage(ctx: ProxyContext): void {
  try {
    planRoute(ctx);
  } finally {
    // A refusal carries what was decided before it (CEL results, the selected model).
    applyPlan(ctx, ctx.routePlan!.plan);
  }
}

function applyPlan(ctx: ProxyContext, plan: RoutePlan): void {
  Object.assign(ctx.celResults, plan.celResults);
  ctx.selectedModel = plan.selectedModel;
  ctx.route = plan.route;
  ctx.pools = plan.pools;
  ctx.directModel = plan.directModel;
}

/**
 * Who is calling the MCP endpoint: the same key and gateway rules as the
 * OpenAI/Anthropic surface (the pipeline's authenticate and authorise
 * stages), so `Authorization: Bearer` or `x-api-key`, and unknown, revoked or
 * expired key → 401, gateway not allowed → 403, unknown gateway → 404.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RuntimeApiKey, RuntimeGateway, RuntimeSnapshot } from '../config/snapshot.js';
import { SluiceError } from '../errors.js';
import type { ProxyContext } from '../policy/context.js';
import { authenticateStage, authoriseStage } from '../policy/stages.js';
import { newRequestId } from '../proxy/forward.js';

/** An authenticated caller on a gateway. */
export interface McpCaller {
  key: RuntimeApiKey;
  gateway: RuntimeGateway;
  /** The credential as presented (what `forward` auth sends upstream). */
  secret: string;
}

/** The credential in the headers, with the precedence of the authenticate stage. */
function presentedSecret(headers: IncomingHttpHeaders): string {
  const bearer = headers.authorization && /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization)?.[1];
  if (bearer) return bearer;
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey : '';
}

/** Authenticates and authorises a request; throws the stages' `SluiceError`s. */
export function authenticateMcp(snapshot: RuntimeSnapshot, method: string, path: string, headers: IncomingHttpHeaders, gatewayName: string | undefined): McpCaller {
  // The stages work on a pipeline context; only its identity fields matter here.
  const ctx: ProxyContext = {
    requestId: newRequestId(),
    startedAt: Date.now(),
    surface: 'openai-chat',
    endpoint: 'chat_completions',
    snapshot,
    method,
    path,
    headers,
    query: {},
    gatewayName,
    body: {},
    stream: false,
    requestedModel: '',
    celResults: {},
    pools: [],
    attempts: [],
  };
  authenticateStage(ctx);
  try {
    authoriseStage(ctx);
  } catch (err) {
    if (err instanceof SluiceError && err.details.code === 'no_default_gateway') {
      throw new SluiceError('invalid_argument', 'this API key has no default gateway: connect to /gateways/{gateway}/mcp instead', { details: err.details });
    }
    throw err;
  }
  return { key: ctx.key!, gateway: ctx.gateway!, secret: presentedSecret(headers) };
}

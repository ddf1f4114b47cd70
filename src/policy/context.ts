/**
 * The state of one data-plane request as it moves through the pipeline.
 * Created by the surface, filled in by the stages in order, read by the
 * settle stage to log the request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RuntimeApiKey, RuntimeGateway, RuntimeModel, RuntimeRoute, RuntimeSnapshot } from '../config/snapshot.js';
import type { SluiceError } from '../errors.js';
import type { Pool } from '../llm/pool/types.js';
import type { ClientSchema } from '../llm/translator.js';
import type { Usage } from '../llm/usage.js';
import type { Admission } from './limits/admission.js';
import type { RoutePlan } from './stages.js';

/** The client-facing endpoints. */
export type Endpoint = 'chat_completions' | 'messages' | 'embeddings';

/** Names of the pipeline stages, in order (also recorded as the rejecting stage). */
export type StageName = 'parse' | 'authenticate' | 'authorise' | 'rate_limit' | 'spend_limit' | 'route' | 'pool' | 'forward' | 'normalise' | 'settle';

/** One provider attempt. */
export interface AttemptRecord {
  provider: string;
  model: string;
  status: number;
  errorCode?: string;
  /** Why the next attempt was made (`rate_limited`, `server_error`, `timeout`, `connection_error`, `circuit_open`). */
  fallbackReason?: string;
  latencyMs: number;
  /** Epoch ms when the attempt started (for trace spans). */
  startedAt?: number;
}

/** What one rate or spend limit decided for a request (recorded in the request log). */
export interface LimitOutcome {
  kind: 'rate' | 'spend';
  name: string;
  /** `warned`: a budget past its warning threshold, or an `alert` budget over its amount. */
  outcome: 'allowed' | 'rejected' | 'warned' | 'store_unavailable';
  /** The scope value counted under: `w:<id>`, `g:<id>`, `k:<id>` or `e:<CEL key value>`. */
  key: string;
  /** Requests or tokens left (rate limits), nano-dollars left (budgets); 0 when the store did not answer. */
  remaining: number | bigint;
}

export interface ProxyContext {
  readonly requestId: string;
  readonly startedAt: number;
  readonly surface: ClientSchema;
  readonly endpoint: Endpoint;
  readonly snapshot: RuntimeSnapshot;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly query: Record<string, string>;
  /** `/gateways/{gateway}/…`; undefined on the unprefixed routes (the key's default gateway). */
  readonly gatewayName?: string;
  /** The parsed JSON body (validated as an object by the parse stage). */
  body: Record<string, unknown>;
  stream: boolean;
  requestedModel: string;
  key?: RuntimeApiKey;
  gateway?: RuntimeGateway;
  /** The model after the model selector. */
  selectedModel?: string;
  route?: RuntimeRoute;
  /** CEL results by expression (`model_selector`, `route:<name>`). */
  celResults: Record<string, string>;
  /** The routing decision, computed once (`planRoute`), with the error it ended in if any. */
  routePlan?: { plan: RoutePlan; error?: unknown };
  /** What the limit stages charged, for the settle hook (src/policy/limits). */
  admission?: Admission;
  /** Pools to try in order (route primary, then fallbacks; or the directly resolved model). */
  pools: Pool[];
  /** The directly resolved model when no route matched. */
  directModel?: RuntimeModel;
  attempts: AttemptRecord[];
  /** Headers policy stages add to the answer, served or rejected (e.g. `x-ratelimit-*`). */
  responseHeaders?: Record<string, string>;
  /** The member that answered. */
  served?: { provider: string; model: string };
  status?: number;
  error?: SluiceError;
  rejectedStage?: StageName;
  usage?: Usage;
  firstByteAt?: number;
  finishedAt?: number;
  /** The client went away before the response was complete. */
  clientAborted?: boolean;
  /** What each applicable rate limit and budget decided, in check order. */
  limitOutcomes?: LimitOutcome[];
  /**
   * Set by forward only when the serving provider or the gateway records
   * bodies: the JSON answer, or the data of each SSE event, as sent to the client.
   */
  responseCapture?: string[];
}

/**
 * OpenAI Chat Completions, Embeddings and Models, and the Azure OpenAI
 * deployment flavour of the same API.
 * https://platform.openai.com/docs/api-reference/chat
 * https://learn.microsoft.com/azure/ai-services/openai/reference
 */
import { isRecord } from './behaviour.js';
import { argumentPieces, countTokens, embeddingBase64, embeddingVector, planReply, textPieces, type Conversation, type ReplyPlan, type ToolChoice } from './conversation.js';
import {
  dataOnlySse,
  header,
  jsonType,
  keyAccepted,
  optionalCount,
  records,
  retryAfterHeader,
  stringList,
  type Answer,
  type AnswerContext,
  type Dialect,
  type Endpoint,
  type ErrorSpec,
  type FakeRequest,
  type HeaderContext,
  type StreamEvent,
} from './dialect.js';

const DEFAULT_MODELS = ['gpt-4o', 'gpt-4o-mini', 'text-embedding-3-small'];
const MODEL_CREATED = 1_715_367_049;
const SYSTEM_FINGERPRINT = 'fp_f4ke00c0de';
const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

const NO_KEY =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.";
const NOT_JSON =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";
const AZURE_DENIED =
  'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.';

const SAFE = { filtered: false, severity: 'safe' };
/** Azure's content-filter annotations, all categories passing. */
const CONTENT_FILTER_RESULTS = { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };
const PROMPT_FILTER_RESULTS = [{ prompt_index: 0, content_filter_results: { ...CONTENT_FILTER_RESULTS, jailbreak: { filtered: false, detected: false } } }];

function invalid(message: string, param: string | null = null, code: string | null = null): ErrorSpec {
  return { status: 400, message, type: 'invalid_request_error', param, code };
}

function missing(param: string): ErrorSpec {
  return invalid(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

function maskKey(key: string): string {
  return key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}` : '***';
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return records(content)
    .map((part) => (typeof part.text === 'string' ? part.text : ''))
    .filter(Boolean)
    .join(' ');
}

function validateChat(body: unknown, azure: boolean): ErrorSpec | undefined {
  if (!isRecord(body)) return invalid(NOT_JSON);
  if (!azure && (typeof body.model !== 'string' || body.model === '')) return invalid('you must provide a model parameter');
  const messages = body.messages;
  if (messages === undefined) return missing('messages');
  if (!Array.isArray(messages)) return invalid(`Invalid type for 'messages': expected an array of objects, but got ${jsonType(messages)} instead.`, 'messages', 'invalid_type');
  if (messages.length === 0) return invalid("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  // Tool results must answer the tool calls of the assistant message right before them, all of them.
  let pending = new Set<string>();
  let pendingAt = -1;
  const unanswered = (): ErrorSpec =>
    invalid(
      `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...pending].join(', ')}`,
      `messages.[${pendingAt}].role`,
    );
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message)) return invalid(`Invalid type for 'messages[${i}]': expected an object, but got ${jsonType(message)} instead.`, `messages[${i}]`, 'invalid_type');
    const role = message.role;
    if (role === undefined) return missing(`messages[${i}].role`);
    if (typeof role !== 'string' || !ROLES.includes(role)) {
      return invalid(`Invalid value: '${String(role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, `messages[${i}].role`, 'invalid_value');
    }
    if (pending.size > 0 && role !== 'tool') return unanswered();
    if (role !== 'assistant' && message.content === undefined) return missing(`messages[${i}].content`);
    if (role === 'tool') {
      if (typeof message.tool_call_id !== 'string') return missing(`messages[${i}].tool_call_id`);
      if (!pending.delete(message.tool_call_id)) {
        return invalid("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", `messages.[${i}].role`);
      }
    }
    if (role === 'assistant' && Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      const ids: string[] = [];
      for (const [j, call] of message.tool_calls.entries()) {
        if (!isRecord(call) || typeof call.id !== 'string') return missing(`messages[${i}].tool_calls[${j}].id`);
        ids.push(call.id);
      }
      pending = new Set(ids);
      pendingAt = i;
    }
  }
  if (pending.size > 0) return unanswered();
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return invalid(`Invalid type for 'tools': expected an array of objects, but got ${jsonType(body.tools)} instead.`, 'tools', 'invalid_type');
    for (const [i, tool] of body.tools.entries()) {
      if (!isRecord(tool)) return invalid(`Invalid type for 'tools[${i}]': expected an object, but got ${jsonType(tool)} instead.`, `tools[${i}]`, 'invalid_type');
      if (tool.type !== 'function' && tool.type !== 'custom') {
        return invalid(`Invalid value: '${String(tool.type)}'. Supported values are: 'function' and 'custom'.`, `tools[${i}].type`, 'invalid_value');
      }
      const definition = tool[tool.type];
      if (!isRecord(definition)) return missing(`tools[${i}].${tool.type}`);
      if (typeof definition.name !== 'string') return missing(`tools[${i}].${tool.type}.name`);
    }
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null && !(Array.isArray(body.tools) && body.tools.length > 0)) {
    return invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice');
  }
  return undefined;
}

function chatConversation(body: Record<string, unknown>): Conversation {
  const messages = records(body.messages);
  const last = messages.at(-1);
  const choice = body.tool_choice;
  let toolChoice: ToolChoice = { mode: 'auto' };
  if (choice === 'none' || choice === 'required') toolChoice = { mode: choice };
  else if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') toolChoice = { mode: 'named', name: choice.function.name };
  return {
    promptText: messages.flatMap((m) => [
      textOf(m.content),
      ...records(m.tool_calls).map((call) => (isRecord(call.function) && typeof call.function.arguments === 'string' ? call.function.arguments : '')),
    ]),
    lastText: textOf(last?.content),
    lastIsUser: last?.role === 'user',
    tools: records(body.tools).flatMap((tool) => {
      const definition = tool.function ?? tool.custom;
      return isRecord(definition) && typeof definition.name === 'string' ? [definition.name] : [];
    }),
    toolChoice,
    maxTokens: optionalCount(body.max_completion_tokens) ?? optionalCount(body.max_tokens),
    stop: stringList(body.stop),
  };
}

function finishReason(plan: ReplyPlan): string {
  if (plan.finishOverride !== undefined) return plan.finishOverride;
  if (plan.finish === 'tool_calls' || plan.finish === 'length') return plan.finish;
  return 'stop';
}

function usageOf(plans: [ReplyPlan, ...ReplyPlan[]]): Record<string, unknown> {
  const { usage, promptTokens } = plans[0];
  const cached = usage.cachedTokens ?? 0;
  const reasoning = usage.reasoningTokens ?? 0;
  const prompt = usage.inputTokens ?? Math.max(promptTokens, cached);
  // completion_tokens includes reasoning tokens.
  const completion = usage.outputTokens ?? plans.reduce((n, plan) => n + plan.outputTokens, 0) + reasoning;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function assistantMessage(plan: ReplyPlan): Record<string, unknown> {
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: plan.text === '' && plan.toolCalls.length > 0 ? null : plan.text,
    refusal: null,
    annotations: [],
  };
  if (plan.toolCalls.length > 0) {
    message.tool_calls = plan.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
  }
  return message;
}

/** The deltas of one choice, in order, before the finishing chunk. */
function choiceDeltas(plan: ReplyPlan): Record<string, unknown>[] {
  const deltas: Record<string, unknown>[] = [];
  const withText = plan.text !== '' || plan.toolCalls.length === 0;
  if (withText) {
    deltas.push({ role: 'assistant', content: '', refusal: null });
    for (const piece of textPieces(plan.text)) deltas.push({ content: piece });
  }
  for (const [index, call] of plan.toolCalls.entries()) {
    const opening = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
    // Without text, the first tool-call delta also carries the role.
    deltas.push(!withText && index === 0 ? { role: 'assistant', content: null, tool_calls: [opening], refusal: null } : { tool_calls: [opening] });
    for (const piece of argumentPieces(call.arguments)) deltas.push({ tool_calls: [{ index, function: { arguments: piece } }] });
  }
  return deltas;
}

function chatAnswer(body: Record<string, unknown>, context: AnswerContext, model: string, azure: boolean): Answer {
  const conversation = chatConversation(body);
  const n = optionalCount(body.n) || 1;
  const first = planReply(conversation, context.reply, () => context.ids('call_'));
  const plans: [ReplyPlan, ...ReplyPlan[]] = [first];
  for (let i = 1; i < n; i += 1) plans.push(planReply(conversation, context.reply, () => context.ids('call_')));
  const id = context.ids('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const filter = azure ? { content_filter_results: CONTENT_FILTER_RESULTS } : {};
  if (body.stream !== true) {
    return {
      kind: 'json',
      body: {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: plans.map((plan, index) => ({ index, message: assistantMessage(plan), logprobs: null, finish_reason: finishReason(plan), ...filter })),
        usage: usageOf(plans),
        service_tier: 'default',
        system_fingerprint: SYSTEM_FINGERPRINT,
        ...(azure ? { prompt_filter_results: PROMPT_FILTER_RESULTS } : {}),
      },
    };
  }
  // Usage chunks exist only when asked for; then every other chunk carries `usage: null`.
  const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
  const base = { id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: SYSTEM_FINGERPRINT };
  const chunk = (index: number, delta: Record<string, unknown>, finish: string | null): StreamEvent => ({
    data: JSON.stringify({ ...base, choices: [{ index, delta, logprobs: null, finish_reason: finish, ...filter }], ...(includeUsage ? { usage: null } : {}) }),
  });
  const events: StreamEvent[] = [];
  // Azure opens every stream with a prompt-filter chunk that has no choices and empty ids.
  if (azure) events.push({ data: JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER_RESULTS }) });
  const deltas = plans.map(choiceDeltas);
  const steps = Math.max(...deltas.map((d) => d.length));
  for (let step = 0; step < steps; step += 1) {
    for (const [index, choice] of deltas.entries()) {
      const delta = choice[step];
      if (delta) events.push(chunk(index, delta, null));
    }
  }
  for (const [index, plan] of plans.entries()) events.push(chunk(index, {}, finishReason(plan)));
  if (includeUsage) events.push({ data: JSON.stringify({ ...base, choices: [], usage: usageOf(plans) }) });
  events.push({ data: '[DONE]' });
  return { kind: 'stream', framing: dataOnlySse, events };
}

/** One embedding input: the text the vector is derived from and its token count. */
interface EmbeddingInput {
  seed: string;
  tokens: number;
}

function embeddingInputs(input: unknown): EmbeddingInput[] | undefined {
  const isTokens = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t));
  if (typeof input === 'string') return input ? [{ seed: input, tokens: countTokens(input) }] : undefined;
  if (isTokens(input)) return [{ seed: input.join(' '), tokens: input.length }];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  const inputs: EmbeddingInput[] = [];
  for (const item of input) {
    if (typeof item === 'string' && item) inputs.push({ seed: item, tokens: countTokens(item) });
    else if (isTokens(item)) inputs.push({ seed: item.join(' '), tokens: item.length });
    else return undefined;
  }
  return inputs;
}

function validateEmbeddings(body: unknown, azure: boolean): ErrorSpec | undefined {
  if (!isRecord(body)) return invalid(NOT_JSON);
  if (!azure && (typeof body.model !== 'string' || body.model === '')) return invalid('you must provide a model parameter');
  if (body.input === undefined) return missing('input');
  if (!embeddingInputs(body.input)) return invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.");
  const format = body.encoding_format;
  if (format !== undefined && format !== 'float' && format !== 'base64') {
    return invalid(`Invalid value: '${String(format)}'. Supported values are: 'float' and 'base64'.`, 'encoding_format', 'invalid_value');
  }
  if (body.dimensions !== undefined && !optionalCount(body.dimensions)) {
    return invalid(`Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got ${JSON.stringify(body.dimensions)} instead.`, 'dimensions', 'integer_below_min_value');
  }
  return undefined;
}

function embeddingsAnswer(body: Record<string, unknown>, model: string): Answer {
  const inputs = embeddingInputs(body.input) ?? [];
  const dimensions = optionalCount(body.dimensions) ?? (model.includes('3-large') ? 3072 : 1536);
  const base64 = body.encoding_format === 'base64';
  const tokens = inputs.reduce((n, input) => n + input.tokens, 0);
  return {
    kind: 'json',
    body: {
      object: 'list',
      data: inputs.map((input, index) => {
        const vector = embeddingVector(input.seed, dimensions);
        return { object: 'embedding', index, embedding: base64 ? embeddingBase64(vector) : vector };
      }),
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

function modelObject(id: string): Record<string, unknown> {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: 'system' };
}

function bodyModel(body: unknown): string | undefined {
  return isRecord(body) && typeof body.model === 'string' ? body.model : undefined;
}

function record(request: FakeRequest): Record<string, unknown> {
  return isRecord(request.body) ? request.body : {};
}

function chatEndpoint(model: string | undefined, azure: boolean): Endpoint {
  return {
    model,
    validate: (request) => validateChat(request.body, azure),
    answer: (request, context) => chatAnswer(record(request), context, model ?? '', azure),
  };
}

function embeddingsEndpoint(model: string | undefined, azure: boolean): Endpoint {
  return {
    model,
    validate: (request) => validateEmbeddings(request.body, azure),
    answer: (request) => embeddingsAnswer(record(request), model ?? ''),
  };
}

function modelsEndpoint(models: readonly string[]): Endpoint {
  return {
    model: undefined,
    validate: () => undefined,
    answer: () => ({ kind: 'json', body: { object: 'list', data: models.map(modelObject) } }),
  };
}

function modelEndpoint(models: readonly string[], id: string): Endpoint {
  return {
    model: id,
    validate: () =>
      models.includes(id) ? undefined : { status: 404, message: `The model '${id}' does not exist`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    answer: () => ({ kind: 'json', body: modelObject(id) }),
  };
}

function statusMessage(status: number): ErrorSpec {
  switch (status) {
    case 400:
      return invalid('Invalid request.');
    case 401:
      return { status, message: 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', code: 'invalid_api_key' };
    case 403:
      return { status, message: 'You are not allowed to access this resource.', type: 'invalid_request_error', code: 'unsupported_country_region_territory' };
    case 404:
      return { status, message: 'The model does not exist or you do not have access to it.', type: 'invalid_request_error', code: 'model_not_found' };
    case 429:
      return { status, message: 'Rate limit reached for requests per min (RPM). Please try again later.', type: 'requests', code: 'rate_limit_exceeded' };
    case 500:
      return { status, message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error' };
    case 503:
      return { status, message: 'The engine is currently overloaded, please try again later.', type: 'server_error' };
    default:
      return { status, message: `Request failed with status ${status}.`, type: status >= 500 ? 'server_error' : 'invalid_request_error' };
  }
}

function openAiErrorBody(spec: ErrorSpec): unknown {
  return { error: { message: spec.message, type: spec.type ?? (spec.status >= 500 ? 'server_error' : 'invalid_request_error'), param: spec.param ?? null, code: spec.code ?? null } };
}

function rateLimitHeaders(status: number, retryAfter: number | string | undefined): Record<string, string> {
  const limited = status === 429;
  const reset = typeof retryAfter === 'number' ? `${retryAfter}s` : '1s';
  return {
    'x-ratelimit-limit-requests': '10000',
    'x-ratelimit-limit-tokens': '30000000',
    'x-ratelimit-remaining-requests': limited ? '0' : '9999',
    'x-ratelimit-remaining-tokens': limited ? '0' : '29999000',
    'x-ratelimit-reset-requests': limited ? reset : '6ms',
    'x-ratelimit-reset-tokens': limited ? reset : '2ms',
  };
}

/**
 * The OpenAI dialect: `/v1/chat/completions`, `/v1/embeddings`,
 * `/v1/models[/{id}]` (listing `models`, default gpt-4o, gpt-4o-mini,
 * text-embedding-3-small), Bearer auth.
 */
export function createOpenAiDialect(models: readonly string[] = DEFAULT_MODELS): Dialect {
  return {
    basePath: '/v1',
    route(request) {
      const { method, path } = request;
      if (method === 'POST' && path === '/v1/chat/completions') return chatEndpoint(bodyModel(request.body), false);
      if (method === 'POST' && path === '/v1/embeddings') return embeddingsEndpoint(bodyModel(request.body), false);
      if (method === 'GET' && path === '/v1/models') return modelsEndpoint(models);
      const retrieve = method === 'GET' ? /^\/v1\/models\/(.+)$/.exec(path) : null;
      if (retrieve?.[1]) return modelEndpoint(models, retrieve[1]);
      return undefined;
    },
    authenticate(request, apiKeys) {
      const authorization = header(request, 'authorization');
      if (!authorization) return { status: 401, message: NO_KEY, type: 'invalid_request_error' };
      const key = /^Bearer\s+(.*)$/i.exec(authorization)?.[1]?.trim() ?? '';
      if (keyAccepted(key, apiKeys)) return undefined;
      return {
        status: 401,
        message: `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: 'invalid_request_error',
        code: 'invalid_api_key',
      };
    },
    notFound: (request) => ({ status: 404, message: `Invalid URL (${request.method} ${request.path})`, type: 'invalid_request_error' }),
    invalidJson: () => invalid(NOT_JSON),
    statusError: statusMessage,
    midStreamStatus: 500,
    errorBody: openAiErrorBody,
    streamError: (data) => ({ data }),
    jsonContentType: 'application/json',
    headers: ({ requestId, status, retryAfter }: HeaderContext) => ({
      'x-request-id': requestId,
      'openai-version': '2020-10-01',
      'openai-organization': 'user-fake',
      'openai-processing-ms': '1',
      ...rateLimitHeaders(status, retryAfter),
      ...retryAfterHeader(retryAfter),
    }),
  };
}

/**
 * The Azure OpenAI dialect: `/openai/deployments/{deployment}/chat/completions`
 * and `/embeddings`, `?api-version=` required (else 404), `api-key` header.
 * The deployment is the model (for steering and in responses). Platform
 * errors (401, 404, 429) use Azure's `{error:{code,message}}`; model errors
 * use OpenAI's envelope.
 */
export function createAzureDialect(): Dialect {
  const openAi = createOpenAiDialect([]);
  return {
    ...openAi,
    basePath: '',
    route(request) {
      if (!request.query.get('api-version') || request.method !== 'POST') return undefined;
      const match = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(request.path);
      if (!match?.[1]) return undefined;
      return match[2] === 'embeddings' ? embeddingsEndpoint(match[1], true) : chatEndpoint(match[1], true);
    },
    authenticate(request, apiKeys) {
      return keyAccepted(header(request, 'api-key') ?? '', apiKeys) ? undefined : { status: 401, message: AZURE_DENIED, code: '401' };
    },
    notFound: () => ({ status: 404, message: 'Resource not found', code: '404' }),
    statusError(status) {
      if (status === 401) return { status, message: AZURE_DENIED, code: '401' };
      if (status === 404) {
        return { status, message: 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.', code: 'DeploymentNotFound' };
      }
      if (status === 429) {
        return { status, message: 'Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded token rate limit of your current pricing tier. Please retry after 1 second.', code: '429' };
      }
      return statusMessage(status);
    },
    errorBody: (spec) => (spec.type === undefined ? { error: { code: spec.code ?? String(spec.status), message: spec.message } } : openAiErrorBody(spec)),
    headers: ({ requestId, status, retryAfter }) => ({
      'x-request-id': requestId,
      'apim-request-id': requestId,
      'x-ms-region': 'East US',
      'x-ratelimit-remaining-requests': status === 429 ? '0' : '999',
      'x-ratelimit-remaining-tokens': status === 429 ? '0' : '999000',
      ...retryAfterHeader(retryAfter),
      ...(typeof retryAfter === 'number' ? { 'retry-after-ms': String(retryAfter * 1000) } : {}),
    }),
  };
}

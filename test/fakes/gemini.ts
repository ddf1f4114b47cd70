/**
 * Gemini API v1beta (Google AI Studio): generateContent,
 * streamGenerateContent, embedContent, batchEmbedContents.
 * https://ai.google.dev/api/generate-content
 * https://ai.google.dev/api/embeddings
 * https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
 */
import { isRecord } from './behaviour.js';
import { countTokens, embeddingVector, planReply, textPieces, type Conversation, type ReplyPlan, type ToolChoice } from './conversation.js';
import {
  crlfDataSse,
  header,
  jsonArrayStream,
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
  type StreamEvent,
} from './dialect.js';

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const STATUS_MESSAGES: Record<number, string> = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  403: 'The caller does not have permission',
  404: 'Requested entity was not found.',
  429: 'Resource has been exhausted (e.g. check quota).',
  500: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  503: 'The model is overloaded. Please try again later.',
  504: 'Deadline expired before operation could complete.',
};

const UNREGISTERED =
  "Method doesn't allow unregistered callers (callers without established identity). Please use API key or other form of API consumer identity to call this API.";
const KEY_INVALID = 'API key not valid. Please pass a valid API key.';

const GENERATE_FIELDS = ['model', 'contents', 'tools', 'toolConfig', 'safetySettings', 'systemInstruction', 'generationConfig', 'cachedContent'];
const EMBED_FIELDS = ['model', 'content', 'taskType', 'title', 'outputDimensionality'];

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A field by its proto JSON name, which the API accepts in lowerCamelCase and in snake_case. */
function field(value: unknown, name: string): unknown {
  if (!isRecord(value)) return undefined;
  return value[name] ?? value[snakeCase(name)];
}

function invalid(message: string, details?: unknown[]): ErrorSpec {
  return details ? { status: 400, message, details } : { status: 400, message };
}

function unknownField(body: Record<string, unknown>, allowed: string[]): ErrorSpec | undefined {
  const names = new Set(allowed.flatMap((name) => [name, snakeCase(name)]));
  const extra = Object.keys(body).find((key) => !names.has(key));
  if (extra === undefined) return undefined;
  const message = `Invalid JSON payload received. Unknown name "${extra}": Cannot find field.`;
  return invalid(message, [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: message }] }]);
}

function partText(part: Record<string, unknown>): string {
  if (typeof part.text === 'string') return part.text;
  const call = field(part, 'functionCall');
  if (isRecord(call)) return JSON.stringify(call.args ?? {});
  const response = field(part, 'functionResponse');
  if (isRecord(response)) return JSON.stringify(response.response ?? {});
  return '';
}

function validateGenerate(body: unknown): ErrorSpec | undefined {
  if (!isRecord(body)) return invalid('Invalid JSON payload received. Expected an object.');
  const unknown = unknownField(body, GENERATE_FIELDS);
  if (unknown) return unknown;
  const contents = field(body, 'contents');
  if (contents === undefined || (Array.isArray(contents) && contents.length === 0)) return invalid('* GenerateContentRequest.contents: contents is not specified\n');
  if (!Array.isArray(contents)) return invalid(`Invalid value at 'contents' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), ${JSON.stringify(contents)}`);
  for (const [i, content] of contents.entries()) {
    if (!isRecord(content)) return invalid(`Invalid value at 'contents[${i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), ${JSON.stringify(content)}`);
    if (content.role !== undefined && content.role !== 'user' && content.role !== 'model') return invalid('Please use a valid role: user, model.');
    if (!Array.isArray(content.parts) || content.parts.length === 0) return invalid(`* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
  }
  return undefined;
}

function generateConversation(body: Record<string, unknown>): Conversation {
  const contents = records(field(body, 'contents'));
  const last = contents.at(-1);
  const lastParts = records(last?.parts);
  const responses = lastParts.filter((part) => isRecord(field(part, 'functionResponse')));
  const calling = field(field(body, 'toolConfig'), 'functionCallingConfig');
  const allowed = stringList(field(calling, 'allowedFunctionNames'));
  const mode = field(calling, 'mode');
  let toolChoice: ToolChoice = { mode: 'auto' };
  if (mode === 'NONE') toolChoice = { mode: 'none' };
  else if (mode === 'ANY') toolChoice = allowed.length === 1 && allowed[0] ? { mode: 'named', name: allowed[0] } : { mode: 'required' };
  const generation = field(body, 'generationConfig');
  return {
    promptText: [...records(field(field(body, 'systemInstruction'), 'parts')), ...contents.flatMap((content) => records(content.parts))].map(partText),
    lastText: (responses.length > 0 ? responses : lastParts).map(partText).join(' '),
    lastIsUser: (last?.role ?? 'user') === 'user' && responses.length === 0,
    tools: records(body.tools).flatMap((tool) => records(field(tool, 'functionDeclarations')).flatMap((d) => (typeof d.name === 'string' ? [d.name] : []))),
    toolChoice,
    maxTokens: optionalCount(field(generation, 'maxOutputTokens')),
    stop: stringList(field(generation, 'stopSequences')),
  };
}

function finishReason(plan: ReplyPlan): string {
  if (plan.finishOverride !== undefined) return plan.finishOverride;
  return plan.finish === 'length' ? 'MAX_TOKENS' : 'STOP';
}

function usageMetadata(plan: ReplyPlan): Record<string, unknown> {
  const { usage } = plan;
  const cached = usage.cachedTokens ?? 0;
  const thoughts = usage.reasoningTokens ?? 0;
  // promptTokenCount includes cached tokens; candidatesTokenCount excludes thoughts, totalTokenCount has both.
  const prompt = usage.inputTokens ?? Math.max(plan.promptTokens, cached);
  const candidates = usage.outputTokens ?? plan.outputTokens;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates + thoughts,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
  };
}

function functionCallParts(plan: ReplyPlan): Record<string, unknown>[] {
  return plan.toolCalls.map((call) => {
    let args: unknown;
    try {
      args = JSON.parse(call.arguments);
    } catch {
      args = {};
    }
    return { functionCall: { name: call.name, args: isRecord(args) ? args : {} } };
  });
}

function generateAnswer(request: FakeRequest, context: AnswerContext, model: string, stream: boolean): Answer {
  const body = isRecord(request.body) ? request.body : {};
  const plan = planReply(generateConversation(body), context.reply, () => context.ids('call_'));
  const responseId = context.ids('resp');
  const response = (parts: Record<string, unknown>[], last: boolean, usage: Record<string, unknown>): Record<string, unknown> => ({
    candidates: [{ content: { parts, role: 'model' }, ...(last ? { finishReason: finishReason(plan) } : {}), index: 0 }],
    usageMetadata: usage,
    modelVersion: model,
    responseId,
  });
  if (!stream) {
    const parts = [...(plan.text !== '' || plan.toolCalls.length === 0 ? [{ text: plan.text }] : []), ...functionCallParts(plan)];
    return { kind: 'json', body: response(parts, true, usageMetadata(plan)) };
  }
  const prompt = usageMetadata(plan).promptTokenCount;
  const chunks: { parts: Record<string, unknown>[]; sofar: number }[] = [];
  let text = '';
  for (const piece of textPieces(plan.text)) {
    text += piece;
    chunks.push({ parts: [{ text: piece }], sofar: countTokens(text) });
  }
  // Function calls arrive whole, all parallel calls in one chunk.
  if (plan.toolCalls.length > 0) chunks.push({ parts: functionCallParts(plan), sofar: plan.outputTokens });
  if (chunks.length === 0) chunks.push({ parts: [{ text: '' }], sofar: 0 });
  const events: StreamEvent[] = chunks.map((chunk, i) => {
    const last = i === chunks.length - 1;
    // Every chunk carries running usage; the last one is authoritative.
    const usage = last
      ? usageMetadata(plan)
      : { promptTokenCount: prompt, candidatesTokenCount: chunk.sofar, totalTokenCount: Number(prompt) + chunk.sofar, promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }] };
    return { data: JSON.stringify(response(chunk.parts, last, usage)) };
  });
  return { kind: 'stream', framing: request.query.get('alt') === 'sse' ? crlfDataSse : jsonArrayStream, events };
}

function contentText(content: unknown): string {
  return records(field(content, 'parts')).map(partText).join(' ');
}

function dimensionsFor(model: string, requested: unknown): number {
  return optionalCount(requested) || (model.includes('gemini-embedding') ? 3072 : 768);
}

function validateEmbed(body: unknown): ErrorSpec | undefined {
  if (!isRecord(body)) return invalid('Invalid JSON payload received. Expected an object.');
  const unknown = unknownField(body, EMBED_FIELDS);
  if (unknown) return unknown;
  if (!isRecord(field(body, 'content'))) return invalid('* EmbedContentRequest.content: content is not specified\n');
  return undefined;
}

function validateBatchEmbed(body: unknown, model: string): ErrorSpec | undefined {
  if (!isRecord(body)) return invalid('Invalid JSON payload received. Expected an object.');
  const unknown = unknownField(body, ['requests']);
  if (unknown) return unknown;
  const requests = body.requests;
  if (!Array.isArray(requests) || requests.length === 0) return invalid('* BatchEmbedContentsRequest.requests: requests is not specified\n');
  for (const [i, item] of requests.entries()) {
    if (!isRecord(item)) return invalid(`Invalid value at 'requests[${i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentRequest), ${JSON.stringify(item)}`);
    const unknownInItem = unknownField(item, EMBED_FIELDS);
    if (unknownInItem) return unknownInItem;
    // Each request names its model, and it must be the one in the URL.
    if (typeof item.model !== 'string') return invalid(`* BatchEmbedContentsRequest.requests[${i}].model: unexpected model name format\n`);
    if (item.model !== `models/${model}`) {
      return invalid(`* BatchEmbedContentsRequest.requests[${i}].model: model "${item.model}" does not match the model in the URL "models/${model}".\n`);
    }
    if (!isRecord(field(item, 'content'))) return invalid(`* BatchEmbedContentsRequest.requests[${i}].content: content is not specified\n`);
  }
  return undefined;
}

function endpointFor(model: string, method: string): Endpoint | undefined {
  switch (method) {
    case 'generateContent':
    case 'streamGenerateContent':
      return {
        model,
        validate: (req) => validateGenerate(req.body),
        answer: (req, context) => generateAnswer(req, context, model, method === 'streamGenerateContent'),
      };
    case 'embedContent':
      return {
        model,
        validate: (req) => validateEmbed(req.body),
        answer: (req) => ({
          kind: 'json',
          body: { embedding: { values: embeddingVector(contentText(field(req.body, 'content')), dimensionsFor(model, field(req.body, 'outputDimensionality'))) } },
        }),
      };
    case 'batchEmbedContents':
      return {
        model,
        validate: (req) => validateBatchEmbed(req.body, model),
        answer: (req) => ({
          kind: 'json',
          body: {
            embeddings: records(field(req.body, 'requests')).map((item) => ({
              values: embeddingVector(contentText(field(item, 'content')), dimensionsFor(model, field(item, 'outputDimensionality'))),
            })),
          },
        }),
      };
    default:
      return undefined;
  }
}

function errorSpec(status: number, retryAfter?: number | string): ErrorSpec {
  const spec: ErrorSpec = { status, message: STATUS_MESSAGES[status] ?? `Request failed with status ${status}.` };
  if (status === 429 && retryAfter !== undefined) {
    spec.details = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${String(retryAfter)}s` }];
  }
  return spec;
}

/**
 * The Gemini dialect: `POST /v1beta/models/{model}:{method}`, key in
 * `x-goog-api-key` or `?key=`; `streamGenerateContent?alt=sse` streams SSE
 * with CRLF line endings, without `alt=sse` a JSON array. A missing key is
 * 403 PERMISSION_DENIED and a wrong one 400 API_KEY_INVALID, as Google answers.
 */
export function createGeminiDialect(): Dialect {
  return {
    basePath: '/v1beta',
    route(request) {
      if (request.method !== 'POST') return undefined;
      const match = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/.exec(request.path);
      if (!match?.[1] || !match[2]) return undefined;
      return endpointFor(match[1], match[2]);
    },
    authenticate(request, apiKeys) {
      const key = header(request, 'x-goog-api-key') ?? request.query.get('key');
      if (key === null || key === undefined || key === '') return { status: 403, message: UNREGISTERED };
      if (keyAccepted(key, apiKeys)) return undefined;
      return invalid(KEY_INVALID, [
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: KEY_INVALID },
      ]);
    },
    notFound: (request) => ({ status: 404, message: `Requested entity was not found: ${request.method} ${request.path}.` }),
    invalidJson: () => invalid('Invalid JSON payload received. Unexpected token.'),
    statusError: errorSpec,
    midStreamStatus: 503,
    errorBody: (spec) => ({
      error: {
        code: spec.status,
        message: spec.message,
        status: STATUS_NAMES[spec.status] ?? (spec.status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION'),
        ...(spec.details ? { details: spec.details } : {}),
      },
    }),
    streamError: (data) => ({ data }),
    jsonContentType: 'application/json; charset=UTF-8',
    headers: ({ retryAfter }) => ({ vary: 'Origin, X-Origin, Referer', server: 'scaffolding on HTTPServer2', ...retryAfterHeader(retryAfter) }),
  };
}

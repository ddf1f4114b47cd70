/**
 * OpenAI Embeddings client → OpenAI-shaped upstream. A passthrough: the body
 * goes to `/embeddings` unchanged (unknown fields included) except `model`,
 * and the answer comes back unchanged. Embeddings do not stream.
 * https://platform.openai.com/docs/api-reference/embeddings
 */
import type { Translator } from '../translator.js';
import { emptyUsage } from '../usage.js';
import { isObject, openAIUpstreamError } from './openai-chat__openai-chat.js';

/** The response fields this translator reads. https://platform.openai.com/docs/api-reference/embeddings/object */
interface EmbeddingsResponse {
  usage?: { prompt_tokens?: number };
}

/** OpenAI Embeddings → OpenAI Embeddings. One instance per attempt; it remembers the usage of the response. */
export function createOpenAIEmbeddingsToOpenAIEmbeddings(): Translator {
  let usage = emptyUsage();
  return {
    request(body, target) {
      return { path: '/embeddings', body: { ...body, model: target.model } };
    },
    response(body) {
      const out = isObject(body) ? body : {};
      usage = { ...emptyUsage(), promptTokens: (out as EmbeddingsResponse).usage?.prompt_tokens ?? 0 };
      return { body: out, usage };
    },
    streamEvent() {
      return [];
    },
    streamEnd() {
      return [];
    },
    usage() {
      return usage;
    },
    error(status, body) {
      return openAIUpstreamError(status, body);
    },
  };
}

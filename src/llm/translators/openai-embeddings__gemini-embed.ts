/**
 * OpenAI Embeddings client → Gemini `batchEmbedContents`: every input string
 * becomes one request of the batch, every returned embedding one entry of
 * `data`, in order. https://ai.google.dev/api/embeddings#method:-models.batchembedcontents
 *
 * Gemini embeds text only, so token-array inputs are refused. Its batch
 * response carries no token counts: `usage` is an estimate of ⌈characters / 4⌉
 * per input (characters as UTF-16 code units), the rule of thumb Google gives
 * for its tokenizer (https://ai.google.dev/gemini-api/docs/tokens). Spend and
 * rate limits therefore see an estimate for Gemini embeddings, not a count.
 */
import { SluiceError } from '../../errors.js';
import type { Translator } from '../translator.js';
import { emptyUsage, type Usage } from '../usage.js';
import { googleUpstreamError } from './google-errors.js';
import { isObject } from './openai-chat__openai-chat.js';

/** The request fields read. https://platform.openai.com/docs/api-reference/embeddings/create */
interface EmbeddingsRequest {
  input?: unknown;
  dimensions?: number;
  encoding_format?: string;
}

/** The response fields read. https://ai.google.dev/api/embeddings#response-body_1 */
interface BatchEmbedResponse {
  embeddings?: { values?: number[] }[];
}

function invalid(field: string, description: string, reason: string): SluiceError {
  return SluiceError.invalid([{ field, description, reason }]);
}

/** The input as a list of strings; Gemini cannot take token ids. */
function texts(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((item) => typeof item === 'string')) return input as string[];
  if (Array.isArray(input) && input.length > 0) throw invalid('input', 'Gemini embeds text only: give a string or an array of strings, not token ids', 'UNSUPPORTED');
  throw invalid('input', 'must be a string or a non-empty array of strings', 'REQUIRED');
}

/**
 * The vector as OpenAI's `encoding_format: "base64"` gives it: the base64 of
 * its little-endian float32 bytes, which the OpenAI SDKs decode (and request
 * by default). https://platform.openai.com/docs/api-reference/embeddings/create#embeddings-create-encoding_format
 */
function float32Base64(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/**
 * OpenAI Embeddings → Gemini batchEmbedContents. One instance per attempt; it
 * remembers from `request` the model, the encoding asked for and the token
 * estimate, which becomes the usage once a response arrives.
 */
export function createOpenAIEmbeddingsToGeminiEmbed(): Translator {
  let model = '';
  let base64 = false;
  let estimate = 0;
  let usage: Usage = emptyUsage();

  return {
    request(body, target) {
      const req = body as EmbeddingsRequest;
      const inputs = texts(req.input);
      if (req.encoding_format !== undefined && req.encoding_format !== 'float' && req.encoding_format !== 'base64') {
        throw invalid('encoding_format', 'must be "float" or "base64"', 'INVALID_FORMAT');
      }
      model = target.model;
      base64 = req.encoding_format === 'base64';
      estimate = inputs.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
      // https://ai.google.dev/api/embeddings#EmbedContentRequest
      const requests = inputs.map((text) => ({
        model: `models/${target.model}`,
        content: { parts: [{ text }] },
        ...(req.dimensions !== undefined ? { outputDimensionality: req.dimensions } : {}),
      }));
      return { path: `/models/${encodeURIComponent(target.model)}:batchEmbedContents`, body: { requests } };
    },

    response(body) {
      const res = (isObject(body) ? body : {}) as BatchEmbedResponse;
      usage = { ...emptyUsage(), promptTokens: estimate };
      const data = (res.embeddings ?? []).map((embedding, index) => {
        const values = embedding.values ?? [];
        return { object: 'embedding', index, embedding: base64 ? float32Base64(values) : values };
      });
      return {
        body: { object: 'list', data, model, usage: { prompt_tokens: usage.promptTokens, total_tokens: usage.promptTokens } },
        usage,
      };
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
      return googleUpstreamError(status, body);
    },
  };
}

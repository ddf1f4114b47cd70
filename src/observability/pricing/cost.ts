/**
 * Request cost in integer nano-dollars (USD 1e-9). A token priced at `m`
 * micro-dollars per million tokens costs `m` pico-dollars, so a request costs
 * Σ tokens × rate pico-dollars; that sum is exact in bigint and divided by
 * 1,000 once, rounding any sub-nano remainder up, so a request is never
 * billed less than it cost and rounding happens once per request, not per
 * token class. No floating point anywhere.
 */
import { SluiceError } from '../../errors.js';
import type { Usage } from '../../llm/usage.js';
import type { ModelPrice, MtokRates } from './price-catalogue.js';

const PICO_PER_NANO = 1000n;
/**
 * Tokens assumed for one image, audio clip or file part: about the largest
 * image Anthropic accepts without resizing (~1,600 tokens). Gemini charges 258
 * per image and OpenAI 85–1,105 at gpt-4o rates; PDFs and long audio can cost
 * far more, which only the settled usage reveals.
 */
const MEDIA_PART_TOKENS = 1_600;
/** Part `type`s that carry media rather than text (OpenAI chat and Responses, Anthropic). */
const MEDIA_PART_TYPES = new Set(['image', 'image_url', 'input_image', 'input_audio', 'audio', 'file', 'input_file', 'document']);
/** Keys marking a Gemini media part. */
const MEDIA_PART_KEYS = ['inlineData', 'inline_data', 'fileData', 'file_data'];
/** Top-level request fields that are never shown to the model. */
const NON_PROMPT_FIELDS = new Set(['model', 'user', 'metadata', 'stream', 'stream_options', 'service_tier', 'safety_identifier', 'prompt_cache_key']);

/**
 * The cost of a finished request in nano-dollars, rounded up to the next
 * nano once. Uncached prompt tokens (`promptTokens − cachedTokens −
 * cacheWriteTokens`, never below zero when a provider's counts overlap) are
 * billed at the input rate, cache reads at the cached-input rate, cache
 * writes at the cache-write rate, and every completion token, reasoning
 * included (it is already inside `completionTokens`), at the output rate.
 * The rates are those of the price tier selected by `promptTokens`. Throws
 * `internal` when a count is not a non-negative integer.
 */
export function costNanos(usage: Usage, price: ModelPrice): bigint {
  const prompt = tokens(usage.promptTokens, 'promptTokens');
  const cached = tokens(usage.cachedTokens, 'cachedTokens');
  const cacheWrite = tokens(usage.cacheWriteTokens, 'cacheWriteTokens');
  const completion = tokens(usage.completionTokens, 'completionTokens');
  const uncached = prompt - cached - cacheWrite;
  const rates = tierFor(price, usage.promptTokens);
  const picos =
    (uncached > 0n ? uncached : 0n) * rates.inputPerMtokMicros +
    cached * rates.cachedInputPerMtokMicros +
    cacheWrite * rates.cacheWritePerMtokMicros +
    completion * rates.outputPerMtokMicros;
  return ceilNanos(picos);
}

/**
 * The most a request can cost, for budget reservation at admission: every
 * prompt token at the highest of the input, cached-input and cache-write
 * rates, and `maxOutputTokens` completion tokens at the output rate, each
 * the highest among the base rates and every tier the estimate reaches. It
 * is at least `costNanos` of any usage with `promptTokens ≤
 * promptTokensEstimate` and `completionTokens ≤ maxOutputTokens`; it is only
 * as safe as the estimate. The caller supplies `maxOutputTokens` (the
 * request's `max_tokens`, or the model's output limit when absent). Throws
 * `internal` when a count is not a non-negative integer.
 */
export function worstCaseCostNanos(promptTokensEstimate: number, maxOutputTokens: number, price: ModelPrice): bigint {
  const prompt = tokens(promptTokensEstimate, 'promptTokensEstimate');
  const output = tokens(maxOutputTokens, 'maxOutputTokens');
  let inputRate = 0n;
  let outputRate = 0n;
  for (const rates of [price, ...(price.tiers ?? []).filter((t) => promptTokensEstimate > t.promptTokensAbove)]) {
    inputRate = max(inputRate, rates.inputPerMtokMicros, rates.cachedInputPerMtokMicros, rates.cacheWritePerMtokMicros);
    outputRate = max(outputRate, rates.outputPerMtokMicros);
  }
  return ceilNanos(prompt * inputRate + output * outputRate);
}

/**
 * The price per million tokens the `lowest_cost` pool strategy sorts by:
 * base input rate plus base output rate, in micro-dollars. Control-plane
 * prices are capped at 10^12 each, so `Number()` of the result is exact.
 */
export function costPerMtokMicros(price: ModelPrice): bigint {
  return price.inputPerMtokMicros + price.outputPerMtokMicros;
}

/**
 * An estimate, not a tokenisation, of a request body's prompt tokens, meant
 * to err high for budget and token-limit reservations. It reads every field
 * of the body except the top-level settings never shown to the model
 * (`model`, `user`, `metadata`, `stream`…): message text, system prompts,
 * tool names, descriptions and JSON schemas (keys included). ASCII
 * characters count a quarter of a token (≈ chars/4, OpenAI's rule of thumb
 * for English; the JSON keys it also counts roughly cover the per-message
 * framing), every other character a whole token (CJK and emoji run near or
 * above one token per character), every number a whole token (so token-id
 * arrays count exactly), and an image, audio or file part a flat 1,600
 * tokens. Works on OpenAI chat,
 * Responses and embeddings, Anthropic Messages and Gemini bodies alike.
 */
export function estimatePromptTokens(body: unknown): number {
  let asciiChars = 0;
  let wholeTokens = 0;
  const countText = (text: string): void => {
    for (const char of text) {
      if (char.charCodeAt(0) < 0x80) asciiChars += 1;
      else wholeTokens += 1;
    }
  };
  const stack: unknown[] = [];
  if (isRecord(body)) {
    for (const [key, value] of Object.entries(body)) {
      if (NON_PROMPT_FIELDS.has(key)) continue;
      countText(key);
      stack.push(value);
    }
  } else {
    stack.push(body);
  }
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      countText(value);
    } else if (typeof value === 'number') {
      wholeTokens += 1;
    } else if (typeof value === 'boolean') {
      countText(String(value));
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (isRecord(value) && isMediaPart(value)) {
      wholeTokens += MEDIA_PART_TOKENS;
    } else if (isRecord(value)) {
      for (const [key, child] of Object.entries(value)) {
        countText(key);
        stack.push(child);
      }
    }
  }
  return Math.ceil(asciiChars / 4) + wholeTokens;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMediaPart(part: Record<string, unknown>): boolean {
  return (typeof part.type === 'string' && MEDIA_PART_TYPES.has(part.type)) || MEDIA_PART_KEYS.some((key) => key in part);
}

/** The rates in force for a prompt of `promptTokens`: the last tier it exceeds, else the base rates. */
function tierFor(price: ModelPrice, promptTokens: number): MtokRates {
  let rates: MtokRates = price;
  for (const tier of price.tiers ?? []) if (promptTokens > tier.promptTokensAbove) rates = tier;
  return rates;
}

function tokens(count: number, field: string): bigint {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new SluiceError('internal', `${field} must be a non-negative integer token count, got ${count}`);
  }
  return BigInt(count);
}

function ceilNanos(picos: bigint): bigint {
  return (picos + PICO_PER_NANO - 1n) / PICO_PER_NANO;
}

function max(first: bigint, ...rest: bigint[]): bigint {
  return rest.reduce((a, b) => (b > a ? b : a), first);
}

/**
 * Model prices in exact integer micro-dollars (USD 1e-6) per million tokens:
 * the price catalogue bundled in `@pydantic/genai-prices` (pinned, read from
 * the package's own data, never fetched), with the control plane's per-model
 * overrides on top, field by field. See README.md beside this file for the
 * provider mapping, the precedence rules and the known gaps.
 */
import { calcPrice, type PriceCalculation, type PriceOptions, type TieredPrices } from '@pydantic/genai-prices';
import type { PriceOverride } from '../../db/entities.js';
import { SluiceError } from '../../errors.js';

/** The four per-token rates Sluice bills, in integer micro-dollars per million tokens. */
export interface MtokRates {
  /** Uncached prompt tokens. */
  inputPerMtokMicros: bigint;
  /** Completion tokens, reasoning tokens included. */
  outputPerMtokMicros: bigint;
  /** Prompt tokens read from the provider's cache; the input rate when the catalogue has none. */
  cachedInputPerMtokMicros: bigint;
  /** Prompt tokens written to the provider's cache; the input rate when the catalogue has none. */
  cacheWritePerMtokMicros: bigint;
}

/**
 * Rates for long prompts. As in the catalogue, a tier applies when the
 * request's prompt tokens (cached and cache-write tokens included) exceed
 * `promptTokensAbove`, and then to every token of the request, not only to
 * the tokens past the threshold.
 */
export interface PriceTier extends MtokRates {
  promptTokensAbove: number;
}

/**
 * Where a price came from: every field from the override, every field from
 * the catalogue, or some of each. A field that falls back to the input rate
 * counts as coming from wherever the input rate came from.
 */
export type PriceSource = 'override' | 'catalogue' | 'mixed';

/**
 * The price of one (provider kind, upstream model), frozen and shared by
 * every caller. The top-level rates are the base rates; `tiers`, present only
 * when the catalogue prices long prompts differently, lists the higher
 * thresholds in ascending order (see `PriceTier`).
 */
export interface ModelPrice extends MtokRates {
  source: PriceSource;
  tiers?: readonly PriceTier[];
}

/** The model to price, as the runtime snapshot knows it. */
export interface PricedModel {
  /** The provider type: `openai`, `azure_openai`, `anthropic`, `google`, `openai_compatible` or `mock`. */
  providerKind: string;
  /** The model id sent upstream (for Azure, the deployment name). */
  upstreamModel: string;
  /**
   * The provider's base URL. Used only for `openai_compatible`, where it is
   * matched against the catalogue providers' API URL patterns (Groq, Together,
   * DeepSeek, OpenRouter…) before any guess from the model id.
   */
  baseUrl?: string;
  /** Per-model override from the control plane; each field present replaces the catalogue's. */
  override?: PriceOverride;
}

type RateField = keyof MtokRates;

/** One rate as read from the catalogue or an override: a base price and optional higher tiers, ascending. */
interface Rate {
  base: bigint;
  tiers: readonly { start: number; price: bigint }[];
}

/** The catalogue's rates for a model; cache rates are absent when the catalogue has none. */
interface CatalogueRates {
  input: Rate;
  output: Rate;
  cachedInput?: Rate;
  cacheWrite?: Rate;
  /** When the catalogue must be asked again (the model has date- or time-of-day-dependent prices). */
  expiresAt: number;
}

const CATALOGUE_PROVIDER: Readonly<Record<string, string>> = {
  openai: 'openai',
  // Azure OpenAI list prices are OpenAI's. The package's own `azure` entry is
  // sparse (23 models) and matches some ids loosely (`o4-mini-deep-research` →
  // `o4-mini`), so it is not used.
  azure_openai: 'openai',
  anthropic: 'anthropic',
  google: 'google',
};

/**
 * Catalogue providers searched by model id for `openai_compatible` when
 * neither the base URL nor the package's own model-name rules find the model.
 * Every provider id of the pinned package except `github-copilot`, whose
 * prices are subscription placeholders (mostly zero), not per-token prices.
 */
export const OPEN_MODEL_HOSTS: readonly string[] = [
  'anthropic', 'arcee', 'avian', 'aws', 'azure', 'baseten', 'cerebras', 'cloudflare', 'cohere', 'cursor',
  'deepseek', 'doubleword', 'fireworks', 'google', 'groq', 'huggingface_cerebras', 'huggingface_fireworks-ai',
  'huggingface_groq', 'huggingface_hyperbolic', 'huggingface_nebius', 'huggingface_novita', 'huggingface_nscale',
  'huggingface_ovhcloud', 'huggingface_publicai', 'huggingface_sambanova', 'huggingface_together', 'minimax',
  'mistral', 'modal', 'moonshotai', 'novita', 'openai', 'openrouter', 'ovhcloud', 'perplexity', 'quicksilverpro',
  'together', 'typesafe', 'voyageai', 'x-ai', 'zai', 'zhipuai',
];

const FREE: Rate = { base: 0n, tiers: [] };
/** The mock provider costs nothing unless an override says otherwise. */
const MOCK_RATES: CatalogueRates = { input: FREE, output: FREE, expiresAt: Number.POSITIVE_INFINITY };

/** Prices with a start date or a time-of-day window are looked up again after this long. */
const CONSTRAINED_PRICE_TTL_MS = 60_000;
/** Memo entries kept; beyond it the memo is cleared and refilled on demand. */
const MAX_MEMO_ENTRIES = 10_000;
/** Usage handed to the package only to resolve the model and its active price record. */
const RESOLVE_USAGE = Object.freeze({ input_tokens: 0, output_tokens: 0 });

const OVERRIDE_FIELDS = [
  'inputPerMtokMicros',
  'outputPerMtokMicros',
  'cachedInputPerMtokMicros',
  'cacheWritePerMtokMicros',
] as const satisfies readonly RateField[];

const memo = new Map<string, { price: ModelPrice | undefined; expiresAt: number }>();

/**
 * The price of a model, or undefined when the catalogue does not know it
 * and the override does not give both an input and an output rate.
 *
 * Catalogue lookup by provider kind: `openai` and `azure_openai` → the
 * package's `openai` provider; `anthropic` → `anthropic`; `google` →
 * `google` (a leading `models/` is dropped); `openai_compatible` → the
 * provider whose API URL pattern matches `baseUrl`, else the package's
 * model-name rules (`deepseek-*`, `mistral-*`, `grok-*`…), else the most
 * expensive match by model id across `OPEN_MODEL_HOSTS`; `mock` → zero;
 * any other kind → no catalogue price. Aliases and dated ids resolve the
 * way the package resolves them (`claude-3-5-haiku-20241022` →
 * `claude-3-5-haiku-latest`, `gpt-4o-2024-08-06` → `gpt-4o`).
 *
 * Override fields win one by one. A rate the catalogue's entry lacks is
 * zero for input and output (embedding models have no output rate; the
 * package charges nothing for a missing key too) and the resolved input
 * rate for cache reads and writes (the package bills those tokens as input
 * then). Results are memoised per (kind, base URL, model, override); prices
 * that change on a date or by time of day are re-read at most a minute late. Throws `invalid_argument` when an override
 * field is not a non-negative integer string.
 */
export function priceFor(model: PricedModel): ModelPrice | undefined {
  const override = model.override ?? {};
  const key = JSON.stringify([
    model.providerKind,
    model.providerKind === 'openai_compatible' ? (model.baseUrl ?? '') : '',
    model.upstreamModel,
    ...OVERRIDE_FIELDS.map((f) => override[f] ?? null),
  ]);
  const now = Date.now();
  const hit = memo.get(key);
  if (hit && hit.expiresAt > now) return hit.price;

  const overrides = parseOverride(override);
  const allOverridden = OVERRIDE_FIELDS.every((f) => overrides[f] !== undefined);
  const catalogue = allOverridden ? undefined : catalogueRates(model, now);
  const price = combine(overrides, catalogue);
  if (memo.size >= MAX_MEMO_ENTRIES) memo.clear();
  memo.set(key, { price, expiresAt: catalogue?.expiresAt ?? Number.POSITIVE_INFINITY });
  return price;
}

/**
 * Converts a catalogue price in USD per million tokens to integer
 * micro-dollars per million tokens, exactly: the number's shortest decimal
 * form is shifted by six places as a string (0.075 → 75000, 1.1 → 1100000,
 * 0.0375 → 37500), never multiplied as a float. Digits past the sixth
 * decimal (float artefacts in the data such as 0.18000000000000002, or
 * 1/12 written as 0.08333333333333334) are rounded half up to the micro.
 * Throws `invalid_argument` for a negative or non-finite number.
 */
export function usdPerMtokToMicros(usd: number): bigint {
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(usd));
  if (!match) throw new SluiceError('invalid_argument', `price ${usd} is not a finite non-negative number`);
  const [, whole = '', fraction = '', exponent = '0'] = match;
  const digits = BigInt(whole + fraction);
  // The value is digits × 10^-scale; micros are value × 10^6.
  const shift = 6 - fraction.length + Number(exponent);
  if (shift >= 0) return digits * 10n ** BigInt(shift);
  const divisor = 10n ** BigInt(-shift);
  return (digits + divisor / 2n) / divisor;
}

function parseOverride(override: PriceOverride): Partial<Record<RateField, bigint>> {
  const parsed: Partial<Record<RateField, bigint>> = {};
  for (const field of OVERRIDE_FIELDS) {
    const value = override[field];
    if (value === undefined) continue;
    if (!/^\d+$/.test(value)) {
      throw new SluiceError('invalid_argument', `price override ${field}: "${value}" is not a non-negative integer of micro-dollars`);
    }
    parsed[field] = BigInt(value);
  }
  return parsed;
}

function catalogueRates(model: PricedModel, now: number): CatalogueRates | undefined {
  if (model.providerKind === 'mock') return MOCK_RATES;
  if (model.providerKind === 'openai_compatible') return openAiCompatibleRates(model.upstreamModel, model.baseUrl, now);
  const providerId = CATALOGUE_PROVIDER[model.providerKind];
  if (!providerId) return undefined;
  // The Gemini API names models `models/<id>`; the catalogue uses the bare id.
  const id = model.providerKind === 'google' ? model.upstreamModel.replace(/^models\//, '') : model.upstreamModel;
  return lookUp(id, { providerId }, now);
}

/**
 * An OpenAI-compatible host: first the catalogue provider serving `baseUrl`,
 * then the package's model-name rules, then every host pricing this model id,
 * taking the most expensive so budgets are not under-reserved on a guess.
 */
function openAiCompatibleRates(modelId: string, baseUrl: string | undefined, now: number): CatalogueRates | undefined {
  const exact = (baseUrl ? lookUp(modelId, { providerApiUrl: baseUrl }, now) : undefined) ?? lookUp(modelId, {}, now);
  if (exact) return exact;
  let best: CatalogueRates | undefined;
  for (const providerId of OPEN_MODEL_HOSTS) {
    const rates = lookUp(modelId, { providerId }, now);
    if (rates && (!best || baseTotal(rates) > baseTotal(best))) best = rates;
  }
  return best;
}

function baseTotal(rates: CatalogueRates): bigint {
  return rates.input.base + rates.output.base;
}

/**
 * The catalogue's rates for a model, or undefined when it does not know the
 * model. As in the package, a price key the model lacks is not charged: an
 * embedding model has no output rate, so its output rate is zero.
 */
function lookUp(modelId: string, options: PriceOptions, now: number): CatalogueRates | undefined {
  const calc: PriceCalculation | null = calcPrice(RESOLVE_USAGE, modelId, { ...options, timestamp: new Date(now) });
  if (!calc) return undefined;
  const prices = calc.model_price;
  return {
    input: toRate(prices.input_mtok) ?? FREE,
    output: toRate(prices.output_mtok) ?? FREE,
    cachedInput: toRate(prices.cache_read_mtok),
    cacheWrite: toRate(prices.cache_write_mtok),
    expiresAt: Array.isArray(calc.model.prices) ? now + CONSTRAINED_PRICE_TTL_MS : Number.POSITIVE_INFINITY,
  };
}

function toRate(value: number | TieredPrices | undefined): Rate | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return { base: usdPerMtokToMicros(value), tiers: [] };
  const tiers = value.tiers.map((t) => ({ start: t.start, price: usdPerMtokToMicros(t.price) })).sort((a, b) => a.start - b.start);
  return { base: usdPerMtokToMicros(value.base), tiers };
}

type Origin = 'override' | 'catalogue';

function combine(overrides: Partial<Record<RateField, bigint>>, catalogue: CatalogueRates | undefined): ModelPrice | undefined {
  const pick = (field: RateField, fromCatalogue: Rate | undefined): { rate: Rate; origin: Origin } | undefined => {
    const value = overrides[field];
    if (value !== undefined) return { rate: { base: value, tiers: [] }, origin: 'override' };
    return fromCatalogue && { rate: fromCatalogue, origin: 'catalogue' };
  };
  const input = pick('inputPerMtokMicros', catalogue?.input);
  const output = pick('outputPerMtokMicros', catalogue?.output);
  if (!input || !output) return undefined;
  const cachedInput = pick('cachedInputPerMtokMicros', catalogue?.cachedInput) ?? input;
  const cacheWrite = pick('cacheWritePerMtokMicros', catalogue?.cacheWrite) ?? input;

  const fields: Record<RateField, Rate> = {
    inputPerMtokMicros: input.rate,
    outputPerMtokMicros: output.rate,
    cachedInputPerMtokMicros: cachedInput.rate,
    cacheWritePerMtokMicros: cacheWrite.rate,
  };
  const origins = new Set([input.origin, output.origin, cachedInput.origin, cacheWrite.origin]);
  const source: PriceSource = origins.size > 1 ? 'mixed' : input.origin;
  const starts = [...new Set(Object.values(fields).flatMap((r) => r.tiers.map((t) => t.start)))].sort((a, b) => a - b);
  const ratesAbove = (start: number): MtokRates => ({
    inputPerMtokMicros: rateAbove(fields.inputPerMtokMicros, start),
    outputPerMtokMicros: rateAbove(fields.outputPerMtokMicros, start),
    cachedInputPerMtokMicros: rateAbove(fields.cachedInputPerMtokMicros, start),
    cacheWritePerMtokMicros: rateAbove(fields.cacheWritePerMtokMicros, start),
  });
  const base = ratesAbove(Number.NEGATIVE_INFINITY);
  if (starts.length === 0) return Object.freeze({ ...base, source });
  const tiers = starts.map((start) => Object.freeze({ promptTokensAbove: start, ...ratesAbove(start) }));
  return Object.freeze({ ...base, source, tiers: Object.freeze(tiers) });
}

/** The rate in force for prompts longer than `start`: the last tier starting at or below it, else the base. */
function rateAbove(rate: Rate, start: number): bigint {
  let price = rate.base;
  for (const tier of rate.tiers) if (tier.start <= start) price = tier.price;
  return price;
}

/**
 * One rollup cell: the aggregates of the settled requests sharing a time
 * bucket and a set of dimensions. Cells are built in memory from settled
 * `ProxyContext`s (`cellInputOf`), merged with each other (`mergeCell`), and
 * stored one row per (resolution, bucket, dimensions) by `RollupStore`.
 */
import { createHash } from 'node:crypto';
import { costNanos } from '../pricing/cost.js';
import type { ProxyContext } from '../../policy/context.js';
import { LatencySketch } from './sketch.js';

/** Rollup resolutions in seconds: every minute cell is also merged into its quarter hour, hour and day. */
export const RESOLUTIONS = [60, 900, 3600, 86400] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/** Bit of each dimension in a projection mask. */
export const DIMENSION_BITS = { gateway: 1, model: 2, provider: 4, apiKeyId: 8, route: 16, status: 32 } as const;
/** Every dimension kept: the only projection of minute rows. */
export const FULL_PROJECTION = 63;
/**
 * Projections stored for quarter-hour, hour and day rows besides the full one: the total, each dimension
 * alone, and the gateway with each other dimension. A query whose group-by and filters use only
 * the dimensions of one of them reads its few rows instead of every combination.
 */
export const COARSE_PROJECTIONS = [0, 1, 2, 4, 8, 16, 32, 3, 5, 9, 17, 33, FULL_PROJECTION] as const;
/** The value of a dimension a projection leaves out. */
export const OMITTED = '*';

/** Longest stored dimension value; longer values are cut. */
export const MAX_DIMENSION_LENGTH = 200;

/** What a cell is keyed by (besides its bucket). */
export interface RollupDimensions {
  workspaceId: string;
  gateway: string;
  /** `provider/model` that served, else the last attempted, else the requested model name. */
  model: string;
  provider: string;
  apiKeyId: string;
  route: string;
  /** HTTP status answered; 499 when the client went away before any status. */
  status: number;
}

/** The additive values of a cell. */
export interface RollupValues {
  requests: number;
  errors: number;
  fallbacks: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  costNanos: bigint;
  latencySumMs: number;
  latency: LatencySketch;
  ttft: LatencySketch;
}

export interface RollupCell extends RollupDimensions, RollupValues {
  resolution: Resolution;
  /** The dimensions kept (`DIMENSION_BITS` mask); the others are `*` (status -1). */
  projection: number;
  /** Bucket start, epoch seconds (a multiple of `resolution`). */
  bucketStart: number;
}

/** One settled request reduced to what the rollups keep. */
export interface CellInput extends RollupDimensions {
  /** Request start, epoch ms. */
  startedAt: number;
  latencyMs: number;
  ttftMs?: number;
  fallback: boolean;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  costNanos: bigint;
}

const cut = (s: string | undefined): string => (s ?? '').slice(0, MAX_DIMENSION_LENGTH);

/**
 * The cost of a settled request in nano-dollars: the served model's price
 * applied to the reported usage, 0 when nothing served, no usage was
 * reported or the model is unpriced (as the budget settlement does).
 */
export function requestCostNanos(ctx: ProxyContext): bigint {
  if (!ctx.served || !ctx.usage) return 0n;
  const price = ctx.gateway?.pricedModels.get(`${ctx.served.provider}/${ctx.served.model}`)?.modelPrice;
  return price ? costNanos(ctx.usage, price) : 0n;
}

/** The rollup view of a settled request; undefined when it belongs to no workspace (an unknown API key). */
export function cellInputOf(ctx: ProxyContext): CellInput | undefined {
  const workspaceId = ctx.gateway?.workspace.id ?? ctx.key?.workspace.id;
  if (!workspaceId) return undefined;
  const last = ctx.attempts.at(-1);
  const target = ctx.served ?? (last ? { provider: last.provider, model: last.model } : undefined);
  const usage = ctx.served ? ctx.usage : undefined;
  const finishedAt = ctx.finishedAt ?? Date.now();
  return {
    workspaceId,
    gateway: cut(ctx.gateway?.name ?? ctx.gatewayName),
    model: cut(target ? `${target.provider}/${target.model}` : ctx.requestedModel),
    provider: cut(target?.provider),
    apiKeyId: cut(ctx.key?.id),
    route: cut(ctx.route?.name),
    status: ctx.status ?? (ctx.clientAborted ? 499 : 500),
    startedAt: ctx.startedAt,
    latencyMs: Math.max(0, finishedAt - ctx.startedAt),
    ttftMs: ctx.firstByteAt !== undefined ? Math.max(0, ctx.firstByteAt - ctx.startedAt) : undefined,
    fallback: ctx.attempts.length > 1,
    promptTokens: usage?.promptTokens ?? 0,
    completionTokens: usage?.completionTokens ?? 0,
    cachedTokens: usage?.cachedTokens ?? 0,
    reasoningTokens: usage?.reasoningTokens ?? 0,
    costNanos: requestCostNanos(ctx),
  };
}

/** A cell with zero values. */
export function emptyCell(dims: RollupDimensions, resolution: Resolution, bucketStart: number, projection: number = FULL_PROJECTION): RollupCell {
  const keep = (bit: number, value: string) => (projection & bit ? value : OMITTED);
  return {
    workspaceId: dims.workspaceId,
    gateway: keep(DIMENSION_BITS.gateway, dims.gateway),
    model: keep(DIMENSION_BITS.model, dims.model),
    provider: keep(DIMENSION_BITS.provider, dims.provider),
    apiKeyId: keep(DIMENSION_BITS.apiKeyId, dims.apiKeyId),
    route: keep(DIMENSION_BITS.route, dims.route),
    status: projection & DIMENSION_BITS.status ? dims.status : -1,
    projection,
    resolution,
    bucketStart,
    ...emptyRollupValues(),
  };
}

/** Zero values (empty sketches), to accumulate into. */
export function emptyRollupValues(): RollupValues {
  return {
    requests: 0,
    errors: 0,
    fallbacks: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    reasoningTokens: 0,
    costNanos: 0n,
    latencySumMs: 0,
    latency: new LatencySketch(),
    ttft: new LatencySketch(),
  };
}

/** Adds one request to a cell. */
export function addToCell(cell: RollupCell, input: CellInput): void {
  cell.requests += 1;
  if (input.status >= 400) cell.errors += 1;
  if (input.fallback) cell.fallbacks += 1;
  cell.promptTokens += input.promptTokens;
  cell.completionTokens += input.completionTokens;
  cell.cachedTokens += input.cachedTokens;
  cell.reasoningTokens += input.reasoningTokens;
  cell.costNanos += input.costNanos;
  cell.latencySumMs += input.latencyMs;
  cell.latency.add(input.latencyMs);
  if (input.ttftMs !== undefined) cell.ttft.add(input.ttftMs);
}

/** Adds the values of `from` into `into` (same dimensions and bucket, or a coarser bucket). */
export function mergeCell(into: RollupValues, from: RollupValues): void {
  into.requests += from.requests;
  into.errors += from.errors;
  into.fallbacks += from.fallbacks;
  into.promptTokens += from.promptTokens;
  into.completionTokens += from.completionTokens;
  into.cachedTokens += from.cachedTokens;
  into.reasoningTokens += from.reasoningTokens;
  into.costNanos += from.costNanos;
  into.latencySumMs += from.latencySumMs;
  into.latency.merge(from.latency);
  into.ttft.merge(from.ttft);
}

/** The dimensions as one string (for in-memory maps). */
export function dimensionKey(d: RollupDimensions): string {
  return `${d.workspaceId}\u0001${d.gateway}\u0001${d.model}\u0001${d.provider}\u0001${d.apiKeyId}\u0001${d.route}\u0001${d.status}`;
}

/** The row id of a cell: `<resolution>:<bucket start>:<projection>:<sha-256 of the dimensions, 32 hex>`. */
export function rowId(cell: RollupCell): string {
  const hash = createHash('sha256').update(dimensionKey(cell)).digest('hex').slice(0, 32);
  return `${cell.resolution}:${cell.bucketStart}:${cell.projection}:${hash}`;
}

/** The start (epoch s) of the `resolution` bucket containing `epochMs`. */
export function bucketOf(epochMs: number, resolution: Resolution): number {
  const s = Math.floor(epochMs / 1000);
  return s - (s % resolution);
}

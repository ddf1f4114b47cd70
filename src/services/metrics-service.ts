/**
 * MetricsService: aggregate questions over the metrics rollups
 * (src/observability/metrics), the same on Connect and tRPC. Every call is
 * confined to one workspace (`resolveWorkspaceId`); bad input is rejected
 * with every field violation at once.
 */
import { timestampDate, timestampFromDate, type Duration, type Timestamp } from '@bufbuild/protobuf/wkt';
import { GatewayEntity, SpendLimitEntity } from '../db/entities.js';
import { MetricsDimension, type MetricsService } from '../gen/sluice/v1/metrics_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { MetricsValuesSchema } from '../gen/sluice/v1/metrics_pb.js';
import { isValidBucket, queryMetrics, type GroupDimension, type MetricsTotals } from '../observability/metrics/query.js';
import { budgetUses, topByCost, type BudgetInput } from '../observability/metrics/spend.js';
import { RollupStore, segmentsOf } from '../observability/metrics/store.js';
import type { SpendPeriod } from '../policy/counters/periods.js';
import { resolveWorkspaceId } from './context.js';
import type { DomainService } from './service-kit.js';
import type { ServiceDeps } from './store.js';
import { Violations } from './validation.js';

/** Longest range one query may cover. */
export const MAX_RANGE_DAYS = 400;
/** Most buckets one query may ask for. */
export const MAX_POINTS = 10_000;

const DIMENSIONS: Partial<Record<MetricsDimension, GroupDimension>> = {
  [MetricsDimension.GATEWAY]: 'gateway',
  [MetricsDimension.MODEL]: 'model',
  [MetricsDimension.PROVIDER]: 'provider',
  [MetricsDimension.API_KEY]: 'apiKeyId',
  [MetricsDimension.ROUTE]: 'route',
  [MetricsDimension.STATUS]: 'status',
  [MetricsDimension.STATUS_CLASS]: 'statusClass',
};

const STATUS_CLASSES: Record<string, number> = { '2xx': 2, '3xx': 3, '4xx': 4, '5xx': 5 };

export interface MetricsServiceOptions {
  /** Clock (epoch ms) for "now" defaults and budget periods; default `Date.now`. */
  now?: () => number;
}

function seconds(d: Duration): number {
  return Number(d.seconds) + d.nanos / 1e9;
}

function epochSeconds(t: Timestamp): number {
  return Number(t.seconds) + t.nanos / 1e9;
}

function values(t: MetricsTotals): MessageInitShape<typeof MetricsValuesSchema> {
  return {
    requests: BigInt(t.requests),
    errors: BigInt(t.errors),
    fallbacks: BigInt(t.fallbacks),
    promptTokens: BigInt(t.promptTokens),
    completionTokens: BigInt(t.completionTokens),
    cachedTokens: BigInt(t.cachedTokens),
    reasoningTokens: BigInt(t.reasoningTokens),
    costNanos: t.costNanos,
    latencyAvgMs: t.latencyAvgMs,
    latencyP50Ms: t.latencyP50Ms,
    latencyP95Ms: t.latencyP95Ms,
    latencyP99Ms: t.latencyP99Ms,
    ttftP50Ms: t.ttftP50Ms,
    ttftP95Ms: t.ttftP95Ms,
    ttftP99Ms: t.ttftP99Ms,
    errorRate: t.errorRate,
    fallbackRate: t.fallbackRate,
  };
}

const ts = (epochS: number): Timestamp => timestampFromDate(new Date(epochS * 1000));

export function createMetricsService(deps: ServiceDeps, options: MetricsServiceOptions = {}): DomainService<typeof MetricsService> {
  const store = new RollupStore(deps.orm);
  const now = options.now ?? Date.now;
  return {
    async queryMetrics(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const v = new Violations();
      const nowS = now() / 1000;
      const from = req.startTime ? epochSeconds(req.startTime) : undefined;
      const to = req.endTime ? epochSeconds(req.endTime) : nowS;
      if (from === undefined) v.add('start_time', 'required', 'REQUIRED');
      else if (!(to > from)) v.add('end_time', 'must be after start_time', 'OUT_OF_RANGE');
      else if (to - from > MAX_RANGE_DAYS * 86400) v.add('end_time', `the range may cover at most ${MAX_RANGE_DAYS} days`, 'OUT_OF_RANGE');
      let bucketSeconds: number | undefined;
      if (req.bucket) {
        bucketSeconds = seconds(req.bucket);
        if (!isValidBucket(bucketSeconds)) v.add('bucket', 'must be a whole number of minutes dividing a day (1m, 5m, 15m, 1h, 6h…) or whole days', 'INVALID_FORMAT');
        else if (from !== undefined && to > from && Math.ceil((to - from) / bucketSeconds) > MAX_POINTS) {
          v.add('bucket', `gives more than ${MAX_POINTS} points over this range; use a larger bucket`, 'OUT_OF_RANGE');
        }
      }
      const groupBy: GroupDimension[] = [];
      req.groupBy.forEach((d, i) => {
        const dim = DIMENSIONS[d];
        if (!dim) v.add(`group_by[${i}]`, d === MetricsDimension.UNSPECIFIED ? 'required' : `unknown dimension ${d}`, d === MetricsDimension.UNSPECIFIED ? 'REQUIRED' : 'INVALID_ENUM');
        else if (groupBy.includes(dim)) v.add(`group_by[${i}]`, 'listed twice', 'DUPLICATE');
        else groupBy.push(dim);
      });
      if (req.limit < 0 || req.limit > 10_000) v.range('limit', req.limit, 0, 10_000);
      for (const [field, value] of [['gateway', req.gateway], ['model', req.model], ['provider', req.provider], ['api_key_id', req.apiKeyId], ['route', req.route]] as const) {
        v.maxLength(field, value, 200);
      }
      const statusClass = req.statusClass ? STATUS_CLASSES[req.statusClass] : undefined;
      if (req.statusClass && statusClass === undefined) v.add('status_class', 'one of 2xx, 3xx, 4xx, 5xx', 'INVALID_FORMAT');
      v.throwIfAny();

      const result = await queryMetrics(store, {
        workspaceId,
        from: from!,
        to,
        bucketSeconds,
        groupBy,
        filter: { gateway: req.gateway, model: req.model, provider: req.provider, apiKeyId: req.apiKeyId, route: req.route, statusClass },
        limit: req.limit,
        totalsOnly: req.totalsOnly,
        latencyDistribution: req.includeLatencyDistribution,
      });
      return {
        bucket: { seconds: BigInt(result.bucketSeconds), nanos: 0 },
        total: values(result.total),
        startTime: ts(result.from),
        endTime: ts(result.to),
        omittedGroups: result.omittedGroups,
        latencyDistribution: (result.latencyDistribution ?? []).map((b) => ({ valueMs: b.valueMs, count: BigInt(b.count) })),
        series: result.series.map((s) => ({
          group: s.group,
          total: values(s.total),
          points: s.points.map((p) => ({ time: ts(p.time), values: values(p.values) })),
        })),
      };
    },

    async getSpendSummary(req, call) {
      const workspaceId = resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      const v = new Violations();
      const nowMs = now();
      const monthStart = Date.UTC(new Date(nowMs).getUTCFullYear(), new Date(nowMs).getUTCMonth(), 1);
      const from = req.startTime ? timestampDate(req.startTime).getTime() / 1000 : monthStart / 1000;
      const to = req.endTime ? timestampDate(req.endTime).getTime() / 1000 : nowMs / 1000;
      if (!(to > from)) v.add(req.endTime ? 'end_time' : 'start_time', req.endTime ? 'must be after start_time' : 'must be before now', 'OUT_OF_RANGE');
      else if (to - from > MAX_RANGE_DAYS * 86400) v.add('end_time', `the range may cover at most ${MAX_RANGE_DAYS} days`, 'OUT_OF_RANGE');
      if (req.limit < 0 || req.limit > 100) v.range('limit', req.limit, 0, 100);
      v.throwIfAny();
      const limit = req.limit || 10;

      const em = deps.orm.em.fork();
      const [limits, gateways] = await Promise.all([
        em.find(SpendLimitEntity, { workspaceId }, { orderBy: { id: 'asc' } }),
        em.find(GatewayEntity, { workspaceId }, { fields: ['id', 'name'], orderBy: { name: 'asc' } }),
      ]);
      const gatewayName = new Map(gateways.map((g) => [g.id, g.name]));
      const budgets: BudgetInput[] = limits
        .filter((l) => !l.gatewayId || gatewayName.has(l.gatewayId))
        .map((l) => ({
          id: l.id,
          name: l.name,
          gatewayName: l.gatewayId ? gatewayName.get(l.gatewayId)! : '',
          amountMicros: BigInt(l.amountMicros),
          period: l.period as SpendPeriod,
          scope: l.scope.kind as BudgetInput['scope'],
          enforcement: l.enforcement === 'alert' ? 'alert' : 'block',
        }));
      const [uses, models, keys] = await Promise.all([
        budgetUses(store, workspaceId, budgets, [...gatewayName.values()], new Date(nowMs)),
        topByCost(store, workspaceId, 'model', from, to, limit),
        topByCost(store, workspaceId, 'apiKeyId', from, to, limit),
      ]);
      const total = await store.costBy(workspaceId, undefined, segmentsOf(from, to));
      const share = (c: { name: string; costNanos: bigint; requests: number; promptTokens: number; completionTokens: number }) => ({
        name: c.name,
        costNanos: c.costNanos,
        requests: BigInt(c.requests),
        promptTokens: BigInt(c.promptTokens),
        completionTokens: BigInt(c.completionTokens),
      });
      return {
        budgets: uses.map((u) => ({
          spendLimitId: u.budget.id,
          name: u.budget.name,
          gateway: u.budget.gatewayName,
          key: u.key,
          spentNanos: u.spentNanos,
          amountMicros: u.budget.amountMicros,
          periodStart: timestampFromDate(u.periodStart),
          periodEnd: timestampFromDate(u.periodEnd),
          period: u.budget.period,
          scope: u.budget.scope,
          enforcement: u.budget.enforcement,
          usedFraction: u.usedFraction,
          spentIsUpperBound: u.upperBound,
        })),
        topModels: models.map(share),
        topKeys: keys.map(share),
        totalCostNanos: total.get('')?.costNanos ?? 0n,
        startTime: ts(from),
        endTime: ts(to),
      };
    },
  };
}

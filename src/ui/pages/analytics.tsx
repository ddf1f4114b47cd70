/**
 * Analytics: model and provider comparison, a latency histogram of every
 * request of the range, cost breakdown by a chosen dimension and the use of
 * every budget in its current period.
 *
 * One rollup query per table: the histogram comes with the model comparison
 * (its merged latency sketch), and the breakdown by model is that same answer.
 */
import { useMemo, useState } from 'preact/hooks';
import type { BudgetUse, MetricsResponse } from '../api';
import { Chart } from '../components/chart';
import { Select } from '../components/form';
import { RangePicker, useRange } from '../components/time-range';
import { Badge, Card, Empty, Failure, Page, Table } from '../components/ui';
import { compactNum, microsToUsd, ms, nanosToUsd, num, rate, usd } from '../format';
import { useLoad } from '../hooks';
import { latencyBins } from '../latency-histogram';
import { useSession } from '../session';

type Series = NonNullable<MetricsResponse['series']>[number];
type LatencyBucket = NonNullable<MetricsResponse['latencyDistribution']>[number];

function Comparison(props: { label: string; dimension: string; res: MetricsResponse | undefined; busy: boolean }) {
  return (
    <Table<Series>
      label={props.label}
      rows={props.res?.series ?? []}
      rowKey={(s) => s.group?.[props.dimension] ?? ''}
      busy={props.busy}
      empty={props.busy && !props.res ? 'Loading…' : 'No traffic in this range.'}
      columns={[
        { label: props.dimension === 'model' ? 'Model' : 'Provider', render: (s) => <code>{s.group?.[props.dimension] || '–'}</code> },
        { label: 'Requests', numeric: true, render: (s) => num(s.total?.requests) },
        { label: 'Tokens', numeric: true, render: (s) => compactNum(Number(s.total?.promptTokens ?? 0) + Number(s.total?.completionTokens ?? 0)) },
        { label: 'Cost', numeric: true, render: (s) => usd(nanosToUsd(s.total?.costNanos)) },
        { label: 'Cost / 1K req', numeric: true, render: (s) => (Number(s.total?.requests) ? usd((1000 * nanosToUsd(s.total?.costNanos)) / Number(s.total?.requests)) : '–') },
        { label: 'p50', numeric: true, render: (s) => ms(s.total?.latencyP50Ms) },
        { label: 'p95', numeric: true, render: (s) => ms(s.total?.latencyP95Ms) },
        { label: 'p99', numeric: true, render: (s) => ms(s.total?.latencyP99Ms) },
        { label: 'Error rate', numeric: true, render: (s) => rate(s.total?.errorRate ?? 0) },
        { label: 'Fallback rate', numeric: true, render: (s) => rate(s.total?.fallbackRate ?? 0) },
      ]}
    />
  );
}

/** Latencies of every request of the range (the rollups' merged sketch, each within 1%). */
function Histogram(props: { buckets: LatencyBucket[] }) {
  const { x, counts, width, total } = useMemo(() => {
    const bins = latencyBins(props.buckets.map((b) => ({ valueMs: Number(b.valueMs ?? 0), count: Number(b.count ?? 0) })));
    return { ...bins, x: bins.counts.map((_, i) => i * bins.width) };
  }, [props.buckets]);
  if (total === 0) return <Empty>No requests in this range.</Empty>;
  return (
    <>
      <Chart label="Latency histogram" kind="bars" xIsTime={false} xFormat={(v) => `${Math.round(v)} ms`} x={x} series={[{ label: 'requests', values: counts, color: '--chart-1', format: (v) => String(v) }]} />
      <p class="muted">
        All {num(total)} requests of the range (latencies within 1%), {width} ms per bar; the last bar holds everything slower.
      </p>
    </>
  );
}

const DIMENSIONS = [
  ['METRICS_DIMENSION_GATEWAY', 'gateway', 'Gateway'],
  ['METRICS_DIMENSION_MODEL', 'model', 'Model'],
  ['METRICS_DIMENSION_PROVIDER', 'provider', 'Provider'],
  ['METRICS_DIMENSION_API_KEY', 'api_key', 'API key'],
] as const;
type Dimension = (typeof DIMENSIONS)[number][0];

function Budgets(props: { budgets: BudgetUse[] | undefined; busy: boolean }) {
  return (
    <Table<BudgetUse>
      label="Budgets"
      rows={props.budgets ?? []}
      rowKey={(b) => `${b.spendLimitId}-${b.key}`}
      busy={props.busy}
      empty={props.busy && !props.budgets ? 'Loading…' : 'No spend limits configured.'}
      columns={[
        { label: 'Budget', render: (b) => b.name },
        { label: 'Gateway', render: (b) => b.gateway || <span class="muted">workspace</span> },
        { label: 'Counter', render: (b) => (b.key ? <code>{b.key}</code> : '–') },
        { label: 'Period', render: (b) => b.period },
        {
          label: 'Use',
          render: (b) => {
            const used = Number(b.usedFraction ?? 0);
            return (
              <div class="budget">
                <span data-testid="budget-use">
                  {b.spentIsUpperBound ? '≤ ' : ''}
                  {usd(nanosToUsd(b.spentNanos))} of {usd(microsToUsd(b.amountMicros))}
                </span>
                <meter min={0} max={1} low={0.8} high={0.95} optimum={0} value={Math.min(used, 1)} aria-label={`${Math.round(used * 100)} % used`} />
              </div>
            );
          },
        },
        { label: 'Enforcement', render: (b) => <Badge tone={b.enforcement === 'block' ? 'warn' : 'muted'}>{b.enforcement}</Badge> },
      ]}
    />
  );
}

export function Analytics() {
  const { client, workspace } = useSession();
  const range = useRange();
  const [dimension, setDimension] = useState<Dimension>('METRICS_DIMENSION_MODEL');
  const base = { workspaceId: workspace!.id, startTime: range.start.toISOString(), endTime: range.end.toISOString(), totalsOnly: true };
  // A relative range is recomputed at every render; it re-queries when its preset changes, not its clock.
  const deps = [workspace?.id, range.key, range.relative ? '' : range.start.getTime(), range.relative ? '' : range.end.getTime()];
  // Issued in the same tick, the calls travel in one tRPC batch and are answered together.
  const comparison = useLoad(async () => {
    const [models, providers] = await Promise.all([
      client.metrics.queryMetrics.query({ ...base, groupBy: ['METRICS_DIMENSION_MODEL'], includeLatencyDistribution: true }),
      client.metrics.queryMetrics.query({ ...base, groupBy: ['METRICS_DIMENSION_PROVIDER'] }),
    ]);
    return { models, providers };
  }, deps);
  const byModel = dimension === 'METRICS_DIMENSION_MODEL';
  const other = useLoad(() => (byModel ? Promise.resolve(undefined) : client.metrics.queryMetrics.query({ ...base, groupBy: [dimension] })), [...deps, dimension]);
  const breakdown = byModel ? { data: comparison.data?.models, failure: comparison.failure, loading: comparison.loading } : other;
  const spend = useLoad(() => client.metrics.getSpendSummary.query({ workspaceId: workspace!.id }), [workspace?.id]);
  const label = DIMENSIONS.find((d) => d[0] === dimension)!;
  const totalCost = Number(breakdown.data?.total?.costNanos ?? 0);
  return (
    <Page title="Analytics" actions={<RangePicker range={range} />}>
      <Failure failure={comparison.failure} what="Metrics" />
      <Card title="Models">
        <Comparison label="Model comparison" dimension="model" res={comparison.data?.models} busy={comparison.loading} />
      </Card>
      <Card title="Providers">
        <Comparison label="Provider comparison" dimension="provider" res={comparison.data?.providers} busy={comparison.loading} />
      </Card>
      <div class="grid two">
        <Card title="Latency histogram">
          {comparison.data ? <Histogram buckets={comparison.data.models.latencyDistribution ?? []} /> : <Empty busy={comparison.loading}>{comparison.loading ? 'Loading…' : 'No data.'}</Empty>}
        </Card>
        <Card title="Cost breakdown" actions={<Select<Dimension> label="By" value={dimension} onValue={setDimension} options={DIMENSIONS.map(([v, , l]) => [v, l] as const)} />}>
          {byModel ? null : <Failure failure={breakdown.failure} />}
          <Table<Series>
            label="Cost breakdown"
            rows={breakdown.data?.series ?? []}
            rowKey={(s) => s.group?.[label[1]] ?? ''}
            busy={breakdown.loading}
            empty={breakdown.loading && !breakdown.data ? 'Loading…' : 'No cost in this range.'}
            columns={[
              { label: label[2], render: (s) => <code>{s.group?.[label[1]] || '–'}</code> },
              { label: 'Requests', numeric: true, render: (s) => num(s.total?.requests) },
              { label: 'Cost', numeric: true, render: (s) => usd(nanosToUsd(s.total?.costNanos)) },
              {
                label: 'Share',
                render: (s) => {
                  const share = totalCost ? Number(s.total?.costNanos ?? 0) / totalCost : 0;
                  return <meter min={0} max={1} value={share} aria-label={`${Math.round(share * 100)} % of cost`} />;
                },
              },
            ]}
          />
        </Card>
      </div>
      <Card title="Budgets (current period)">
        <Failure failure={spend.failure} />
        <Budgets budgets={spend.data?.budgets} busy={spend.loading} />
      </Card>
    </Page>
  );
}

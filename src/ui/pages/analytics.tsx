/**
 * Analytics: model and provider comparison, a latency histogram of the
 * range's most recent requests, cost breakdown by a chosen dimension and the
 * use of every budget in its current period.
 */
import { useMemo, useState } from 'preact/hooks';
import type { BudgetUse, MetricsResponse } from '../api';
import { Chart } from '../components/chart';
import { Select } from '../components/form';
import { RangePicker, useRange } from '../components/time-range';
import { Badge, Card, Empty, Failure, Page, Table } from '../components/ui';
import { compactNum, microsToUsd, ms, nanosToUsd, num, rate, usd } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';

type Series = NonNullable<MetricsResponse['series']>[number];

function Comparison(props: { label: string; dimension: string; res: MetricsResponse | undefined }) {
  return (
    <Table<Series>
      label={props.label}
      rows={props.res?.series ?? []}
      rowKey={(s) => s.group?.[props.dimension] ?? ''}
      empty="No traffic in this range."
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

const HISTOGRAM_SAMPLE = 1000;
const BINS = 24;

/** Latencies of the most recent requests of the range, binned linearly up to their 99th percentile. */
function Histogram(props: { latencies: number[] }) {
  const { x, counts, width } = useMemo(() => {
    const sorted = [...props.latencies].sort((a, b) => a - b);
    const top = Math.max(1, sorted[Math.floor(sorted.length * 0.99)] ?? 1);
    const width = Math.max(1, Math.ceil(top / BINS));
    const counts = new Array<number>(BINS).fill(0);
    for (const v of sorted) counts[Math.min(BINS - 1, Math.floor(v / width))]! += 1;
    return { x: counts.map((_, i) => i * width), counts, width };
  }, [props.latencies]);
  if (props.latencies.length === 0) return <Empty>No requests in this range.</Empty>;
  return (
    <>
      <Chart label="Latency histogram" kind="bars" xIsTime={false} xFormat={(v) => `${Math.round(v)} ms`} x={x} series={[{ label: 'requests', values: counts, color: '--chart-1', format: (v) => String(v) }]} />
      <p class="muted">
        {num(props.latencies.length)} most recent requests of the range, {width} ms per bar; the last bar holds everything slower.
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

function Budgets(props: { budgets: BudgetUse[] }) {
  return (
    <Table<BudgetUse>
      label="Budgets"
      rows={props.budgets}
      rowKey={(b) => `${b.spendLimitId}-${b.key}`}
      empty="No spend limits configured."
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
  const deps = [workspace?.id, range.key, range.start.getTime(), range.end.getTime()];
  const comparison = useLoad(
    async () => {
      const [models, providers] = await Promise.all([
        client.metrics.queryMetrics.query({ ...base, groupBy: ['METRICS_DIMENSION_MODEL'] }),
        client.metrics.queryMetrics.query({ ...base, groupBy: ['METRICS_DIMENSION_PROVIDER'] }),
      ]);
      return { models, providers };
    },
    [workspace?.id, range.key, range.relative ? '' : range.start.getTime(), range.relative ? '' : range.end.getTime()],
  );
  const breakdown = useLoad(() => client.metrics.queryMetrics.query({ ...base, groupBy: [dimension] }), [...deps.slice(0, 2), dimension]);
  const spend = useLoad(() => client.metrics.getSpendSummary.query({ workspaceId: workspace!.id }), [workspace?.id]);
  const latencies = useLoad(async () => {
    const page = await client.log.listRequestLogs.query({ workspaceId: workspace!.id, startTime: base.startTime, endTime: base.endTime, pageSize: HISTOGRAM_SAMPLE });
    return (page.requestLogs ?? []).map((r) => Number(r.latencyMs ?? 0));
  }, deps.slice(0, 2));
  const label = DIMENSIONS.find((d) => d[0] === dimension)!;
  const totalCost = Number(breakdown.data?.total?.costNanos ?? 0);
  return (
    <Page title="Analytics" actions={<RangePicker range={range} />}>
      <Failure failure={comparison.failure} what="Metrics" />
      <Card title="Models">
        <Comparison label="Model comparison" dimension="model" res={comparison.data?.models} />
      </Card>
      <Card title="Providers">
        <Comparison label="Provider comparison" dimension="provider" res={comparison.data?.providers} />
      </Card>
      <div class="grid two">
        <Card title="Latency histogram">
          <Failure failure={latencies.failure} what="Request logs" />
          {latencies.data ? <Histogram latencies={latencies.data} /> : null}
        </Card>
        <Card title="Cost breakdown" actions={<Select<Dimension> label="By" value={dimension} onValue={setDimension} options={DIMENSIONS.map(([v, , l]) => [v, l] as const)} />}>
          <Failure failure={breakdown.failure} />
          <Table<Series>
            label="Cost breakdown"
            rows={breakdown.data?.series ?? []}
            rowKey={(s) => s.group?.[label[1]] ?? ''}
            empty="No cost in this range."
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
        <Budgets budgets={spend.data?.budgets ?? []} />
      </Card>
    </Page>
  );
}

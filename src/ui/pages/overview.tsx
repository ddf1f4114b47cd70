/**
 * Overview: totals for the chosen range (requests, tokens, cost, average
 * and p95 latency, error and success rates), time series of requests,
 * errors, cost and latency, and the top models and gateways. Refreshes
 * every 10 seconds while the range ends now.
 */
import { useMemo, useState } from 'preact/hooks';
import type { MetricsResponse, MetricsValues } from '../api';
import { Chart } from '../components/chart';
import { Checkbox } from '../components/form';
import { RangePicker, useRange } from '../components/time-range';
import { Card, Failure, Page, Stat, Table } from '../components/ui';
import { compactNum, ms, nanosToUsd, num, rate, usd } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';

const REFRESH_MS = 10_000;

function seriesPoints(res: MetricsResponse | undefined) {
  const points = res?.series?.[0]?.points ?? [];
  return {
    x: points.map((p) => Date.parse(p.time ?? '') / 1000),
    values: points.map((p) => p.values ?? {}),
  };
}

export function TopTable(props: { label: string; dimension: string; res: MetricsResponse | undefined }) {
  const rows = props.res?.series ?? [];
  return (
    <Table
      label={props.label}
      rows={rows}
      rowKey={(s) => s.group?.[props.dimension] ?? ''}
      empty="No traffic in this range."
      columns={[
        { label: props.label.replace(/^Top /, '').replace(/s$/, ''), render: (s) => <code>{s.group?.[props.dimension] || '–'}</code> },
        { label: 'Requests', numeric: true, render: (s) => num(s.total?.requests) },
        { label: 'Tokens', numeric: true, render: (s) => compactNum(Number(s.total?.promptTokens ?? 0) + Number(s.total?.completionTokens ?? 0)) },
        { label: 'Cost', numeric: true, render: (s) => usd(nanosToUsd(s.total?.costNanos)) },
        { label: 'p95', numeric: true, render: (s) => ms(s.total?.latencyP95Ms) },
        { label: 'Errors', numeric: true, render: (s) => rate(s.total?.errorRate ?? 0) },
      ]}
    />
  );
}

/** The headline figures of a range; `total` is undefined until the first answer arrives (the figures are then marked busy). */
export function Totals(props: { total: MetricsValues | undefined }) {
  const loaded = props.total !== undefined;
  const t = props.total ?? {};
  const requests = Number(t.requests ?? 0);
  const tokens = Number(t.promptTokens ?? 0) + Number(t.completionTokens ?? 0);
  const shown = (value: string) => (loaded ? value : undefined);
  return (
    <div class="stats" data-testid="totals" aria-busy={loaded ? 'false' : 'true'}>
      <Stat label="Requests" value={shown(num(requests))} testId="stat-requests" />
      <Stat label="Tokens" value={shown(compactNum(tokens))} sub={loaded ? `${compactNum(t.promptTokens)} in · ${compactNum(t.completionTokens)} out` : undefined} testId="stat-tokens" />
      <Stat label="Cost" value={shown(usd(nanosToUsd(t.costNanos)))} testId="stat-cost" />
      <Stat label="Avg latency" value={shown(requests ? ms(t.latencyAvgMs) : '–')} testId="stat-avg" />
      <Stat label="p95 latency" value={shown(requests ? ms(t.latencyP95Ms) : '–')} testId="stat-p95" />
      <Stat label="Error rate" value={shown(requests ? rate(t.errorRate ?? 0) : '–')} testId="stat-errors" />
      <Stat label="Success rate" value={shown(requests ? rate(1 - Number(t.errorRate ?? 0)) : '–')} testId="stat-success" />
    </div>
  );
}

export function Overview() {
  const { client, workspace } = useSession();
  const range = useRange();
  const [live, setLive] = useState(true);
  const refresh = live && range.relative ? REFRESH_MS : undefined;
  const base = { workspaceId: workspace!.id, startTime: range.start.toISOString(), endTime: range.end.toISOString() };
  const deps = [workspace?.id, range.key, range.relative ? '' : range.start.getTime(), range.relative ? '' : range.end.getTime()];
  const data = useLoad(
    async () => {
      const fresh = range.relative ? { ...base, endTime: new Date().toISOString(), startTime: new Date(Date.now() - (range.end.getTime() - range.start.getTime())).toISOString() } : base;
      const [all, models, gateways] = await Promise.all([
        client.metrics.queryMetrics.query(fresh),
        client.metrics.queryMetrics.query({ ...fresh, groupBy: ['METRICS_DIMENSION_MODEL'], limit: 5, totalsOnly: true }),
        client.metrics.queryMetrics.query({ ...fresh, groupBy: ['METRICS_DIMENSION_GATEWAY'], limit: 5, totalsOnly: true }),
      ]);
      return { all, models, gateways };
    },
    deps,
    refresh,
  );
  const { x, values } = useMemo(() => seriesPoints(data.data?.all), [data.data]);
  const traffic = useMemo(
    () => [
      { label: 'requests', values: values.map((v) => Number(v.requests ?? 0)), color: '--chart-1' },
      { label: 'errors', values: values.map((v) => Number(v.errors ?? 0)), color: '--chart-3' },
    ],
    [values],
  );
  const cost = useMemo(() => [{ label: 'cost', values: values.map((v) => nanosToUsd(v.costNanos)), color: '--chart-2', format: usd }], [values]);
  const latency = useMemo(
    () => [
      { label: 'avg', values: values.map((v) => (Number(v.requests ?? 0) ? Number(v.latencyAvgMs ?? 0) : null)), color: '--chart-1', format: ms },
      { label: 'p95', values: values.map((v) => (Number(v.requests ?? 0) ? Number(v.latencyP95Ms ?? 0) : null)), color: '--chart-4', format: ms },
    ],
    [values],
  );
  return (
    <Page
      title="Overview"
      actions={
        <>
          <RangePicker range={range} />
          {range.relative ? <Checkbox label="Live (10 s)" checked={live} onValue={setLive} /> : null}
        </>
      }
    >
      <Failure failure={data.failure} what="Metrics" />
      <Totals total={data.data?.all.total} />
      <div class="grid two">
        <Card title="Requests and errors">
          <Chart label="Requests and errors over time" x={x} series={traffic} />
        </Card>
        <Card title="Cost">
          <Chart label="Cost over time" x={x} series={cost} />
        </Card>
        <Card title="Latency">
          <Chart label="Average and p95 latency over time" x={x} series={latency} />
        </Card>
        <Card title="Top models">
          <TopTable label="Top models" dimension="model" res={data.data?.models} />
        </Card>
        <Card title="Top gateways">
          <TopTable label="Top gateways" dimension="gateway" res={data.data?.gateways} />
        </Card>
      </div>
    </Page>
  );
}

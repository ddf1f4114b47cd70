/**
 * Request logs: a filtered, paginated table (filters live in the URL) and a
 * record's detail with tabs for the request, the response, routing and
 * policy, and timing.
 */
import { useState } from 'preact/hooks';
import type { RequestLog } from '../api';
import { Select, TextInput } from '../components/form';
import { RangePicker, useRange } from '../components/time-range';
import { Badge, Card, Empty, Failure, Json, Page, Pager, RefreshButton, Table, Tabs } from '../components/ui';
import { ms, nanosToUsd, num, time, usd } from '../format';
import { useLoad } from '../hooks';
import { Link, navigate, setQuery, useLocation } from '../router';
import { useSession } from '../session';

const PAGE_SIZE = 50;

/** The served model as clients name it, `provider/model`. */
function servedModel(r: RequestLog): string {
  return r.model ? (r.provider ? `${r.provider}/${r.model}` : r.model) : '';
}
const FILTERS = ['gateway', 'model', 'provider', 'status', 'key', 'header', 'text'] as const;

export function statusTone(status: number | undefined): 'ok' | 'warn' | 'bad' {
  const s = status ?? 0;
  return s >= 500 ? 'bad' : s >= 400 ? 'warn' : 'ok';
}

/** Filter controls bound to the URL; applied on submit (Enter). */
function Filters(props: { values: Record<string, string>; onApply: (v: Record<string, string>) => void }) {
  const [draft, setDraft] = useState(props.values);
  const set = (k: string) => (v: string) => setDraft({ ...draft, [k]: v });
  return (
    <form
      class="filters"
      aria-label="Filters"
      onSubmit={(e) => {
        e.preventDefault();
        props.onApply(draft);
      }}
    >
      <TextInput label="Gateway" value={draft['gateway'] ?? ''} onValue={set('gateway')} />
      <TextInput label="Model" value={draft['model'] ?? ''} onValue={set('model')} />
      <TextInput label="Provider" value={draft['provider'] ?? ''} onValue={set('provider')} />
      <Select
        label="Status"
        value={draft['status'] ?? ''}
        onValue={set('status')}
        options={[
          ['', 'any'],
          ['2xx', '2xx'],
          ['4xx', '4xx'],
          ['5xx', '5xx'],
        ]}
      />
      <TextInput label="API key id" value={draft['key'] ?? ''} onValue={set('key')} />
      <TextInput label="Header (name=value)" value={draft['header'] ?? ''} onValue={set('header')} />
      <TextInput label="Text" value={draft['text'] ?? ''} onValue={set('text')} placeholder="in prompt or completion" />
      <div class="filters-actions">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <button
          type="button"
          onClick={() => {
            const empty = Object.fromEntries(FILTERS.map((f) => [f, '']));
            setDraft(empty);
            props.onApply(empty);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

const STATUS_CLASS: Record<string, 'STATUS_CLASS_2XX' | 'STATUS_CLASS_4XX' | 'STATUS_CLASS_5XX'> = { '2xx': 'STATUS_CLASS_2XX', '4xx': 'STATUS_CLASS_4XX', '5xx': 'STATUS_CLASS_5XX' };

export function RequestLogs() {
  const { client, workspace } = useSession();
  const range = useRange();
  const { query } = useLocation();
  const values = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? '']));
  const pageToken = query.get('page') ?? '';
  const [history, setHistory] = useState<string[]>([]);
  const key = [workspace?.id, range.key, range.relative ? '' : range.start.getTime(), range.relative ? '' : range.end.getTime(), ...FILTERS.map((f) => values[f]), pageToken];
  const logs = useLoad(
    () =>
      client.log.listRequestLogs.query({
        workspaceId: workspace!.id,
        pageSize: PAGE_SIZE,
        pageToken,
        startTime: range.start.toISOString(),
        endTime: range.end.toISOString(),
        gateway: values['gateway'],
        model: values['model'],
        provider: values['provider'],
        apiKeyId: values['key'],
        header: values['header'],
        text: values['text'],
        ...(STATUS_CLASS[values['status'] ?? ''] ? { statusClass: STATUS_CLASS[values['status']!] } : {}),
      }),
    key,
  );
  const keep = Object.fromEntries(query.entries());
  const rows = logs.data?.requestLogs ?? [];
  return (
    <Page title="Request logs" actions={
        <>
          <RangePicker range={range} />
          <RefreshButton loading={logs.loading} onRefresh={logs.reload} />
        </>
      }
    >
      <Filters
        values={values}
        onApply={(v) => {
          setHistory([]);
          setQuery({ ...keep, ...v, page: undefined });
        }}
      />
      <Failure failure={logs.failure} what="Request logs" />
      <Table<RequestLog>
        label="Request logs"
        rows={rows}
        busy={logs.loading}
        rowKey={(r) => r.id ?? ''}
        onRow={(r) => navigate(`/logs/${encodeURIComponent(r.id ?? '')}`)}
        empty={logs.loading ? 'Loading…' : 'No requests match.'}
        columns={[
          { label: 'Time', render: (r) => <Link to={`/logs/${encodeURIComponent(r.id ?? '')}`}>{time(r.time)}</Link> },
          { label: 'Gateway', render: (r) => r.gateway || '–' },
          { label: 'Model', render: (r) => <code>{servedModel(r) || r.requestedModel || '–'}</code> },
          { label: 'Provider', render: (r) => r.provider || '–' },
          { label: 'Status', render: (r) => <Badge tone={statusTone(r.status)}>{r.status ?? '–'}</Badge> },
          { label: 'Latency', numeric: true, render: (r) => ms(r.latencyMs) },
          { label: 'Tokens', numeric: true, render: (r) => num(Number(r.usage?.promptTokens ?? 0) + Number(r.usage?.completionTokens ?? 0)) },
          { label: 'Cost', numeric: true, render: (r) => usd(nanosToUsd(r.costNanos)) },
          { label: 'Key', render: (r) => <code>{r.apiKeyPrefix || '–'}</code> },
        ]}
      />
      <Pager pageToken={pageToken} nextPageToken={logs.data?.nextPageToken} history={history} setHistory={setHistory} go={(page) => setQuery({ ...keep, page })} />
    </Page>
  );
}

function KeyValues(props: { values: Record<string, string> | undefined; empty: string }) {
  const entries = Object.entries(props.values ?? {});
  if (!entries.length) return <Empty>{props.empty}</Empty>;
  return (
    <dl class="kv">
      {entries.map(([k, v]) => (
        <>
          <dt key={`${k}-k`}>{k}</dt>
          <dd key={`${k}-v`}>
            <code>{v}</code>
          </dd>
        </>
      ))}
    </dl>
  );
}

function Limits(props: { title: string; outcomes: RequestLog['rateLimits']; money?: boolean }) {
  return (
    <>
      <h3>{props.title}</h3>
      <Table
        label={props.title}
        rows={props.outcomes ?? []}
        rowKey={(o) => `${o.name}-${o.key}`}
        empty="None applied."
        columns={[
          { label: 'Limit', render: (o) => o.name },
          { label: 'Outcome', render: (o) => <Badge tone={o.outcome === 'allowed' ? 'ok' : o.outcome === 'rejected' ? 'bad' : 'warn'}>{o.outcome}</Badge> },
          { label: 'Counter', render: (o) => <code>{o.key}</code> },
          { label: 'Remaining', numeric: true, render: (o) => (props.money ? usd(nanosToUsd(o.remaining)) : num(o.remaining)) },
        ]}
      />
    </>
  );
}

export function LogDetail(props: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(() => client.log.getRequestLog.query({ id: props.id }), [props.id]);
  const r = loaded.data?.requestLog;
  const latency = Number(r?.latencyMs ?? 0);
  const providerMs = (r?.attempts ?? []).reduce((sum, a) => sum + Number(a.latencyMs ?? 0), 0);
  return (
    <Page title="Request">
      <p>
        <Link to="/logs">← Request logs</Link>
      </p>
      <Failure failure={loaded.failure} />
      {r ? (
        <>
          <Card>
            <dl class="summary">
              <dt>Time</dt>
              <dd>{time(r.time)}</dd>
              <dt>Status</dt>
              <dd>
                <Badge tone={statusTone(r.status)}>{r.status}</Badge> {r.errorCode ? <code>{r.errorCode}</code> : null}
              </dd>
              <dt>Model</dt>
              <dd>
                <code>{servedModel(r) || '–'}</code> {r.requestedModel && r.requestedModel !== servedModel(r) ? <span class="muted">(asked for {r.requestedModel})</span> : null}
              </dd>
              <dt>Gateway</dt>
              <dd>{r.gateway || '–'}</dd>
              <dt>Cost</dt>
              <dd>{usd(nanosToUsd(r.costNanos))}</dd>
              <dt>Request id</dt>
              <dd>
                <code>{r.id}</code>
              </dd>
            </dl>
            {r.errorMessage ? <p class="notice danger">{r.errorMessage}</p> : null}
          </Card>
          <Tabs
            label="Request details"
            tabs={[
              {
                id: 'request',
                label: 'Request',
                body: () => (
                  <>
                    <dl class="summary">
                      <dt>Endpoint</dt>
                      <dd>{r.endpoint}</dd>
                      <dt>Streamed</dt>
                      <dd>{r.streamed ? 'yes' : 'no'}</dd>
                      <dt>API key</dt>
                      <dd>
                        <code>{r.apiKeyPrefix || '–'}</code> {r.apiKeyId}
                      </dd>
                      <dt>Prompt tokens</dt>
                      <dd>
                        {num(r.usage?.promptTokens)} ({num(r.usage?.cachedTokens)} cached)
                      </dd>
                    </dl>
                    <h3>Headers</h3>
                    <KeyValues values={r.requestHeaders} empty="Headers not recorded (enable body recording on the provider)." />
                    <h3>Body</h3>
                    <Json value={r.requestBody} />
                  </>
                ),
              },
              {
                id: 'response',
                label: 'Response',
                body: () => (
                  <>
                    <dl class="summary">
                      <dt>Completion tokens</dt>
                      <dd>
                        {num(r.usage?.completionTokens)} ({num(r.usage?.reasoningTokens)} reasoning)
                      </dd>
                      <dt>Client aborted</dt>
                      <dd>{r.clientAborted ? 'yes' : 'no'}</dd>
                      {r.bodiesTruncated ? (
                        <>
                          <dt>Bodies</dt>
                          <dd>truncated at the recording limit</dd>
                        </>
                      ) : null}
                    </dl>
                    <h3>Headers</h3>
                    <KeyValues values={r.responseHeaders} empty="Headers not recorded." />
                    <h3>Body</h3>
                    <Json value={r.responseBody} />
                  </>
                ),
              },
              {
                id: 'routing',
                label: 'Routing & policy',
                body: () => (
                  <>
                    <dl class="summary">
                      <dt>Route matched</dt>
                      <dd>{r.route || <span class="muted">none (no routes, or rejected before routing)</span>}</dd>
                      <dt>Rejected at</dt>
                      <dd>{r.rejectedStage || <span class="muted">served</span>}</dd>
                    </dl>
                    <h3>CEL results</h3>
                    <KeyValues values={r.celResults} empty="No expressions evaluated." />
                    <Limits title="Rate limits" outcomes={r.rateLimits} />
                    <Limits title="Spend limits" outcomes={r.spendLimits} money />
                    <h3>Attempts (fallback chain)</h3>
                    <Table
                      label="Attempts"
                      rows={(r.attempts ?? []).map((a, i) => ({ ...a, i }))}
                      rowKey={(a) => String(a.i)}
                      empty="No provider was called."
                      columns={[
                        { label: '#', numeric: true, render: (a) => String(a.i + 1) },
                        { label: 'Provider / model', render: (a) => <code>{`${a.provider}/${a.model}`}</code> },
                        { label: 'Status', render: (a) => <Badge tone={statusTone(a.status)}>{a.status ?? '–'}</Badge> },
                        { label: 'Error', render: (a) => a.errorCode || '–' },
                        { label: 'Fell back because', render: (a) => a.fallbackReason || '–' },
                        { label: 'Latency', numeric: true, render: (a) => ms(a.latencyMs) },
                      ]}
                    />
                  </>
                ),
              },
              {
                id: 'timing',
                label: 'Timing',
                body: () => (
                  <dl class="summary" data-testid="timing">
                    <dt>Total</dt>
                    <dd>{ms(latency)}</dd>
                    <dt>Time to first token</dt>
                    <dd>{Number(r.timeToFirstTokenMs ?? 0) ? ms(r.timeToFirstTokenMs) : '–'}</dd>
                    <dt>Provider time</dt>
                    <dd>{ms(providerMs)}</dd>
                    <dt>Gateway time</dt>
                    <dd>{ms(Math.max(0, latency - providerMs))}</dd>
                  </dl>
                ),
              },
            ]}
          />
        </>
      ) : null}
    </Page>
  );
}

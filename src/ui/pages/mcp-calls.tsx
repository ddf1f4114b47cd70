/** MCP tool calls: filtered, paginated, with each call's input and output. */
import { useState } from 'preact/hooks';
import type { McpCallLog } from '../api';
import { Select, TextInput } from '../components/form';
import { RangePicker, useRange } from '../components/time-range';
import { Badge, Card, Failure, Json, Page, Pager, RefreshButton, Table } from '../components/ui';
import { ms, time } from '../format';
import { useLoad } from '../hooks';
import { setQuery, useLocation } from '../router';
import { useSession } from '../session';

const FILTERS = ['gateway', 'server', 'tool', 'status', 'key'] as const;

export function McpCalls() {
  const { client, workspace } = useSession();
  const range = useRange();
  const { query } = useLocation();
  const values = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? '']));
  const [draft, setDraft] = useState(values);
  const pageToken = query.get('page') ?? '';
  const [history, setHistory] = useState<string[]>([]);
  const [open, setOpen] = useState<string>();
  const keep = Object.fromEntries(query.entries());
  const calls = useLoad(
    () =>
      client.log.listMcpCallLogs.query({
        workspaceId: workspace!.id,
        pageSize: 50,
        pageToken,
        startTime: range.start.toISOString(),
        endTime: range.end.toISOString(),
        gateway: values['gateway'],
        server: values['server'],
        tool: values['tool'],
        status: values['status'],
        apiKeyId: values['key'],
      }),
    [workspace?.id, range.key, range.relative ? '' : range.start.getTime(), ...FILTERS.map((f) => values[f]), pageToken],
  );
  const rows = calls.data?.mcpCallLogs ?? [];
  const selected = rows.find((c) => c.id === open);
  const set = (k: string) => (v: string) => setDraft({ ...draft, [k]: v });
  return (
    <Page title="MCP calls" actions={
        <>
          <RangePicker range={range} />
          <RefreshButton loading={calls.loading} onRefresh={calls.reload} />
        </>
      }
    >
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          setHistory([]);
          setQuery({ ...keep, ...draft, page: undefined });
        }}
      >
        <TextInput label="Gateway" value={draft['gateway'] ?? ''} onValue={set('gateway')} />
        <TextInput label="Server" value={draft['server'] ?? ''} onValue={set('server')} />
        <TextInput label="Tool" value={draft['tool'] ?? ''} onValue={set('tool')} />
        <Select
          label="Status"
          value={draft['status'] ?? ''}
          onValue={set('status')}
          options={[
            ['', 'any'],
            ['ok', 'ok'],
            ['error', 'error'],
            ['refused', 'refused'],
            ['timeout', 'timeout'],
          ]}
        />
        <TextInput label="API key id" value={draft['key'] ?? ''} onValue={set('key')} />
        <div class="filters-actions">
          <button type="submit" class="primary">
            Apply filters
          </button>
        </div>
      </form>
      <Failure failure={calls.failure} what="MCP call logs" />
      <Table<McpCallLog>
        label="MCP calls"
        rows={rows}
        busy={calls.loading}
        rowKey={(c) => c.id ?? ''}
        onRow={(c) => setOpen(c.id === open ? undefined : c.id)}
        empty={calls.loading ? 'Loading…' : 'No MCP calls match.'}
        columns={[
          { label: 'Time', render: (c) => time(c.time) },
          { label: 'Gateway', render: (c) => c.gateway },
          { label: 'Server', render: (c) => c.server },
          { label: 'Tool', render: (c) => <code>{c.tool}</code> },
          { label: 'Status', render: (c) => <Badge tone={c.status === 'ok' ? 'ok' : c.status === 'refused' ? 'warn' : 'bad'}>{c.status}</Badge> },
          { label: 'Latency', numeric: true, render: (c) => ms(c.latencyMs) },
        ]}
      />
      <Pager pageToken={pageToken} nextPageToken={calls.data?.nextPageToken} history={history} setHistory={setHistory} go={(page) => setQuery({ ...keep, page })} />
      {selected ? (
        <Card title={`${selected.server} · ${selected.tool}`}>
          {selected.errorMessage ? <p class="notice danger">{selected.errorMessage}</p> : null}
          <div class="grid two">
            <div>
              <h3>Input</h3>
              <Json value={selected.input} />
            </div>
            <div>
              <h3>Output</h3>
              <Json value={selected.output} />
            </div>
          </div>
        </Card>
      ) : null}
    </Page>
  );
}

/**
 * MCP servers registered on the workspace's gateways: approve (unapproved
 * servers are invisible to clients), enable, override deferred loading, the
 * tool patterns each hides, and each server's live tool list (fetched from
 * the upstream only when opened: every load connects to it).
 */
import { useState } from 'preact/hooks';
import type { McpServer, Outputs } from '../api';
import { Form, Select, splitList, TextArea, TextInput, useSubmit } from '../components/form';
import { Badge, Card, DangerButton, Failure, Json, Page, RefreshButton, Table } from '../components/ui';
import { enumLabel } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';

const DEFER = [
  ['DEFER_LOADING_INHERIT', 'inherit the gateway default'],
  ['DEFER_LOADING_ENABLED', 'deferred'],
  ['DEFER_LOADING_DISABLED', 'loaded up front'],
] as const;
type Defer = (typeof DEFER)[number][0];

type ServerTool = NonNullable<Outputs['mcpServer']['listMcpServerTools']['tools']>[number];

const SKIPPED: Record<string, string> = { invalid_name: 'not exposed: invalid name', duplicate_name: 'not exposed: duplicate name' };

/** How the gateway treats one tool, as badges. */
function ToolBadges(props: { tool: ServerTool }) {
  const t = props.tool;
  const badges = [
    t.skipReason ? <Badge tone="warn">{SKIPPED[t.skipReason] ?? `not exposed: ${t.skipReason}`}</Badge> : null,
    t.blocked ? <Badge tone="bad">blocked</Badge> : null,
    t.deferred && !t.blocked && !t.skipReason ? <Badge>deferred</Badge> : null,
  ].filter((b) => b !== null);
  return <span class="row tight">{badges.length ? badges : <Badge tone="ok">listed</Badge>}</span>;
}

/** The server's tools as the gateway exposes them, or why the upstream could not be reached. */
function ToolList(props: { server: McpServer; id: string }) {
  const { client } = useSession();
  const s = props.server;
  const tools = useLoad(() => client.mcpServer.listMcpServerTools.query({ id: s.id ?? '' }), [s.id]);
  const status = tools.data?.status;
  const rows = tools.data?.tools ?? [];
  return (
    <section id={props.id} aria-label={`Tool list of ${s.name}`} aria-busy={tools.loading ? 'true' : 'false'}>
      <div class="row">
        <p class="muted" role="status">
          {!tools.data && tools.loading ? `Connecting to ${s.name}…` : null}
          {status?.reachable
            ? `Reachable · ${rows.length} ${rows.length === 1 ? 'tool' : 'tools'} · answered in ${status.latencyMs ?? 0} ms${tools.data?.exposed ? '' : ' · not visible to MCP clients until approved and enabled'}`
            : null}
        </p>
        <RefreshButton loading={tools.loading} onRefresh={tools.reload} />
      </div>
      <Failure failure={tools.failure} what={`Tools of ${s.name}`} />
      {status && !status.reachable ? (
        <div class="notice danger" role="alert">
          <strong>{s.name} is unreachable</strong> ({status.errorCode}): {status.errorMessage}
        </div>
      ) : null}
      {status?.reachable ? (
        <Table<ServerTool>
          label={`Tools of ${s.name}`}
          rows={rows}
          rowKey={(t) => `${t.upstreamName}-${t.namespacedName}-${rows.indexOf(t)}`}
          empty={`${s.name} lists no tools.`}
          busy={tools.loading}
          columns={[
            { label: 'Name', render: (t) => (t.namespacedName ? <code>{t.namespacedName}</code> : <span class="muted">–</span>) },
            { label: 'Upstream name', render: (t) => <code>{t.upstreamName}</code> },
            { label: 'Description', render: (t) => t.description || t.title || '–' },
            { label: 'Status', render: (t) => <ToolBadges tool={t} /> },
            {
              label: 'Input schema',
              render: (t) => (
                <details>
                  <summary>Schema</summary>
                  <Json value={t.inputSchema} />
                </details>
              ),
            },
          ]}
        />
      ) : null}
    </section>
  );
}

function ServerRow(props: { server: McpServer; onChanged: () => void }) {
  const { client } = useSession();
  const s = props.server;
  const submit = useSubmit();
  const [blocked, setBlocked] = useState((s.blockedTools ?? []).join('\n'));
  const [showTools, setShowTools] = useState(false);
  const toolsId = `mcp-tools-${s.id}`;
  const update = async (server: Partial<McpServer>, mask: string) => {
    await client.mcpServer.updateMcpServer.mutate({ mcpServer: { id: s.id, ...server }, updateMask: mask });
    props.onChanged();
  };
  return (
    <div class="subcard">
      <h3>
        {s.displayName || s.name} <code>{s.name}</code> {s.approved ? <Badge tone="ok">approved</Badge> : <Badge tone="warn">awaiting approval</Badge>}{' '}
        {s.enabled === false ? <Badge tone="bad">disabled</Badge> : null}
      </h3>
      <p class="muted">
        {enumLabel(s.transport, 'MCP_TRANSPORT_')} · {s.url || [s.command, ...(s.args ?? [])].join(' ')} · auth {enumLabel(s.authMode, 'MCP_AUTH_MODE_')}
        {s.hasAuthSecret ? ' (secret stored)' : ''}
      </p>
      <div class="row">
        <button type="button" onClick={() => void update({ approved: !s.approved }, 'approved')}>
          {s.approved ? 'Withdraw approval' : 'Approve'}
        </button>
        <button type="button" onClick={() => void update({ enabled: s.enabled === false }, 'enabled')}>
          {s.enabled === false ? 'Enable' : 'Disable'}
        </button>
        <Select<Defer> label="Deferred loading" value={(s.deferLoading as Defer | undefined) ?? 'DEFER_LOADING_INHERIT'} onValue={(d) => void update({ deferLoading: d }, 'deferLoading')} options={DEFER} />
        <button type="button" aria-expanded={showTools} aria-controls={showTools ? toolsId : undefined} aria-label={`${showTools ? 'Hide' : 'Show'} tools of ${s.name}`} onClick={() => setShowTools(!showTools)}>
          {showTools ? 'Hide tools' : 'Show tools'}
        </button>
        <DangerButton
          label="Delete"
          onConfirm={async () => {
            await client.mcpServer.deleteMcpServer.mutate({ id: s.id });
            props.onChanged();
          }}
        />
      </div>
      {showTools ? <ToolList server={s} id={toolsId} /> : null}
      <Form label={`Blocked tools of ${s.name}`} submit={submit} submitLabel="Save blocked tools" onSubmit={() => update({ blockedTools: splitList(blocked) }, 'blockedTools')}>
        <TextArea label="Blocked tools" name="mcp_server.blocked_tools" value={blocked} onValue={setBlocked} hint="One pattern per line (* wildcards), matched against the tool's own name." mono />
      </Form>
    </div>
  );
}

function RegisterServer(props: { onCreated: () => void }) {
  const { client, workspace } = useSession();
  const gateways = useLoad(() => client.gateway.listGateways.query({ workspaceId: workspace!.id, pageSize: 1000 }), [workspace?.id]);
  const submit = useSubmit();
  const [gatewayId, setGatewayId] = useState('');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [transport, setTransport] = useState<'MCP_TRANSPORT_STREAMABLE_HTTP' | 'MCP_TRANSPORT_SSE'>('MCP_TRANSPORT_STREAMABLE_HTTP');
  const [authMode, setAuthMode] = useState<'MCP_AUTH_MODE_NONE' | 'MCP_AUTH_MODE_STATIC' | 'MCP_AUTH_MODE_FORWARD'>('MCP_AUTH_MODE_NONE');
  const [secret, setSecret] = useState('');
  const options = (gateways.data?.gateways ?? []).map((g) => [g.id ?? '', g.name ?? ''] as const);
  return (
    <Card title="Register an MCP server">
      <Form
        label="Register an MCP server"
        submit={submit}
        submitLabel="Register server"
        onSubmit={async () => {
          await client.mcpServer.createMcpServer.mutate({
            gatewayId: gatewayId || options[0]?.[0] || '',
            mcpServer: { name, url, transport, authMode, ...(authMode === 'MCP_AUTH_MODE_STATIC' ? { authSecret: secret } : {}) },
          });
          setName('');
          setSecret('');
          props.onCreated();
        }}
      >
        <div class="row">
          <Select label="Gateway" name="gateway_id" value={gatewayId || options[0]?.[0] || ''} onValue={setGatewayId} options={options} />
          <TextInput label="Server name" name="mcp_server.name" value={name} onValue={setName} hint="Slug; the namespace of its tools." />
          <Select label="Transport" name="mcp_server.transport" value={transport} onValue={setTransport} options={[['MCP_TRANSPORT_STREAMABLE_HTTP', 'Streamable HTTP'], ['MCP_TRANSPORT_SSE', 'SSE']]} />
        </div>
        <TextInput label="URL" name="mcp_server.url" value={url} onValue={setUrl} />
        <div class="row">
          <Select
            label="Authentication"
            name="mcp_server.auth_mode"
            value={authMode}
            onValue={setAuthMode}
            options={[['MCP_AUTH_MODE_NONE', 'none'], ['MCP_AUTH_MODE_STATIC', 'static bearer secret'], ['MCP_AUTH_MODE_FORWARD', "forward the caller's token"]]}
          />
          {authMode === 'MCP_AUTH_MODE_STATIC' ? <TextInput label="Bearer secret (write-only)" name="mcp_server.auth_secret" type="password" value={secret} onValue={setSecret} input={{ autocomplete: 'off' }} /> : null}
        </div>
      </Form>
    </Card>
  );
}

export function McpServers() {
  const { client, workspace } = useSession();
  const servers = useLoad(() => client.mcpServer.listMcpServers.query({ workspaceId: workspace!.id, pageSize: 1000 }), [workspace?.id]);
  const list = servers.data?.mcpServers ?? [];
  return (
    <Page title="MCP servers">
      <Failure failure={servers.failure} />
      <Table<McpServer>
        label="MCP servers"
        rows={list}
        rowKey={(s) => s.id ?? ''}
        empty="No MCP servers registered."
        columns={[
          { label: 'Name', render: (s) => s.name },
          { label: 'Transport', render: (s) => enumLabel(s.transport, 'MCP_TRANSPORT_') },
          { label: 'Approved', render: (s) => (s.approved ? <Badge tone="ok">yes</Badge> : <Badge tone="warn">no</Badge>) },
          { label: 'Enabled', render: (s) => (s.enabled === false ? <Badge tone="bad">no</Badge> : <Badge tone="ok">yes</Badge>) },
          { label: 'Deferred loading', render: (s) => enumLabel(s.deferLoading, 'DEFER_LOADING_') },
          { label: 'Blocked tools', render: (s) => (s.blockedTools ?? []).join(', ') || '–' },
        ]}
      />
      {list.map((s) => (
        <ServerRow key={`${s.id}-${s.updateTime}`} server={s} onChanged={servers.reload} />
      ))}
      <RegisterServer onCreated={servers.reload} />
    </Page>
  );
}

/**
 * MCP servers registered on the workspace's gateways: approve (unapproved
 * servers are invisible to clients), enable, override deferred loading, and
 * the tool patterns each hides.
 */
import { useState } from 'preact/hooks';
import type { McpServer } from '../api';
import { Form, Select, splitList, TextArea, TextInput, useSubmit } from '../components/form';
import { Badge, Card, DangerButton, Failure, Page, Table } from '../components/ui';
import { enumLabel } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';

const DEFER = [
  ['DEFER_LOADING_INHERIT', 'inherit the gateway default'],
  ['DEFER_LOADING_ENABLED', 'deferred'],
  ['DEFER_LOADING_DISABLED', 'loaded up front'],
] as const;
type Defer = (typeof DEFER)[number][0];

function ServerRow(props: { server: McpServer; onChanged: () => void }) {
  const { client } = useSession();
  const s = props.server;
  const submit = useSubmit();
  const [blocked, setBlocked] = useState((s.blockedTools ?? []).join('\n'));
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
        <DangerButton
          label="Delete"
          onConfirm={async () => {
            await client.mcpServer.deleteMcpServer.mutate({ id: s.id });
            props.onChanged();
          }}
        />
      </div>
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

/** Data-plane API keys: the secret is shown once at creation; keys are revoked (kept for audit) or deleted. */
import { useState } from 'preact/hooks';
import type { ApiKey } from '../api';
import { Checkbox, Form, parsePairs, splitList, TextArea, TextInput, useSubmit } from '../components/form';
import { Badge, Card, DangerButton, Failure, Page, SecretOnce, Table } from '../components/ui';
import { time } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';

export function ApiKeys() {
  const { client, workspace } = useSession();
  const [showRevoked, setShowRevoked] = useState(false);
  const keys = useLoad(() => client.apiKey.listApiKeys.query({ workspaceId: workspace!.id, showRevoked, pageSize: 1000 }), [workspace?.id, showRevoked]);
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [gateways, setGateways] = useState('');
  const [defaultGateway, setDefaultGateway] = useState('');
  const [expires, setExpires] = useState('');
  const [metadata, setMetadata] = useState('');
  const [secret, setSecret] = useState('');
  return (
    <Page title="API keys">
      {secret ? <SecretOnce label="New API key" secret={secret} onDone={() => setSecret('')} /> : null}
      <Card title="New API key">
        <Form
          label="New API key"
          submit={submit}
          submitLabel="Create key"
          onSubmit={async () => {
            const out = await client.apiKey.createApiKey.mutate({
              workspaceId: workspace!.id,
              apiKey: {
                name,
                gateways: splitList(gateways),
                defaultGateway,
                metadata: parsePairs(metadata),
                ...(expires ? { expireTime: new Date(expires).toISOString() } : {}),
              },
            });
            setSecret(out.secret ?? '');
            setName('');
            keys.reload();
          }}
        >
          <div class="row">
            <TextInput label="Key name" name="api_key.name" value={name} onValue={setName} />
            <TextInput label="Gateways" name="api_key.gateways" value={gateways} onValue={setGateways} hint="Comma-separated gateway names; empty: every gateway." />
            <TextInput label="Default gateway" name="api_key.default_gateway" value={defaultGateway} onValue={setDefaultGateway} hint="Used by /v1/… without a gateway prefix." />
            <TextInput label="Expires (optional)" name="api_key.expire_time" type="datetime-local" value={expires} onValue={setExpires} />
          </div>
          <TextArea label="Metadata" name="api_key.metadata" value={metadata} onValue={setMetadata} hint="One key=value per line; CEL reads it as key.metadata." mono />
        </Form>
      </Card>
      <Checkbox label="Show revoked keys" checked={showRevoked} onValue={setShowRevoked} />
      <Failure failure={keys.failure} />
      <Table<ApiKey>
        label="API keys"
        rows={keys.data?.apiKeys ?? []}
        rowKey={(k) => k.id ?? ''}
        empty="No API keys yet."
        columns={[
          { label: 'Name', render: (k) => k.name },
          { label: 'Prefix', render: (k) => <code>{k.prefix}</code> },
          { label: 'Gateways', render: (k) => (k.gateways?.length ? k.gateways.join(', ') : <span class="muted">all</span>) },
          { label: 'Default', render: (k) => k.defaultGateway || '–' },
          { label: 'Metadata', render: (k) => Object.entries(k.metadata ?? {}).map(([a, b]) => `${a}=${b}`).join(', ') },
          { label: 'Created', render: (k) => time(k.createTime) },
          { label: 'Expires', render: (k) => (k.expireTime ? time(k.expireTime) : 'never') },
          {
            label: 'State',
            render: (k) =>
              k.revokeTime ? (
                <Badge tone="bad">revoked</Badge>
              ) : (
                <DangerButton
                  label="Revoke"
                  onConfirm={async () => {
                    await client.apiKey.revokeApiKey.mutate({ id: k.id });
                    keys.reload();
                  }}
                />
              ),
          },
          {
            label: 'Delete',
            render: (k) => (
              <DangerButton
                label="Delete"
                onConfirm={async () => {
                  await client.apiKey.deleteApiKey.mutate({ id: k.id });
                  keys.reload();
                }}
              />
            ),
          },
        ]}
      />
    </Page>
  );
}

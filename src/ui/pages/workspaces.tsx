/** Workspaces (create and delete need the root token) and each workspace's admin tokens. */
import { useState } from 'preact/hooks';
import type { Workspace, WorkspaceToken } from '../api';
import { Form, TextInput, TextArea, Checkbox, useSubmit } from '../components/form';
import { Badge, Card, DangerButton, Failure, Page, SecretOnce, Table } from '../components/ui';
import { time } from '../format';
import { useLoad } from '../hooks';
import { useSession } from '../session';

function CreateWorkspace() {
  const { client, reloadWorkspaces, selectWorkspace } = useSession();
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  return (
    <Card title="New workspace">
      <Form
        label="New workspace"
        submit={submit}
        submitLabel="Create workspace"
        onSubmit={async () => {
          const { workspace } = await client.workspace.createWorkspace.mutate({ workspace: { name, displayName } });
          await reloadWorkspaces();
          if (workspace?.id) selectWorkspace(workspace.id);
          setName('');
          setDisplayName('');
        }}
      >
        <TextInput label="Name" name="workspace.name" value={name} onValue={setName} hint="Slug, e.g. acme; cannot be changed later." />
        <TextInput label="Display name" name="workspace.display_name" value={displayName} onValue={setDisplayName} />
      </Form>
    </Card>
  );
}

function EditWorkspace(props: { workspace: Workspace }) {
  const { client, reloadWorkspaces } = useSession();
  const submit = useSubmit();
  const w = props.workspace;
  const [displayName, setDisplayName] = useState(w.displayName ?? '');
  const [description, setDescription] = useState(w.description ?? '');
  const [retention, setRetention] = useState(String(w.logRetentionDays ?? 0));
  const [saved, setSaved] = useState(false);
  return (
    <Card title={`Settings of ${w.name}`}>
      <Form
        label="Workspace settings"
        submit={submit}
        submitLabel="Save settings"
        onSubmit={async () => {
          setSaved(false);
          await client.workspace.updateWorkspace.mutate({
            workspace: { id: w.id, displayName, description, logRetentionDays: Number(retention) },
            updateMask: 'displayName,description,logRetentionDays',
          });
          await reloadWorkspaces();
          setSaved(true);
        }}
      >
        <TextInput label="Display name" name="workspace.display_name" value={displayName} onValue={setDisplayName} />
        <TextArea label="Description" name="workspace.description" value={description} onValue={setDescription} />
        <TextInput label="Log retention (days)" name="workspace.log_retention_days" type="number" value={retention} onValue={setRetention} hint="0 means the server default." />
      </Form>
      {saved ? <p role="status" class="muted">Saved.</p> : null}
    </Card>
  );
}

function Tokens(props: { workspace: Workspace }) {
  const { client } = useSession();
  const [showRevoked, setShowRevoked] = useState(false);
  const tokens = useLoad(() => client.workspace.listWorkspaceTokens.query({ workspaceId: props.workspace.id, showRevoked, pageSize: 200 }), [props.workspace.id, showRevoked]);
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [expires, setExpires] = useState('');
  const [secret, setSecret] = useState('');
  return (
    <Card title="Workspace admin tokens">
      <p class="muted">A workspace token sees and changes only this workspace; log in with one to give a team its own dashboard.</p>
      {secret ? <SecretOnce label="New workspace token" secret={secret} onDone={() => setSecret('')} /> : null}
      <Form
        label="New workspace token"
        submit={submit}
        submitLabel="Create token"
        onSubmit={async () => {
          const out = await client.workspace.createWorkspaceToken.mutate({
            workspaceId: props.workspace.id,
            name,
            ...(expires ? { expireTime: new Date(expires).toISOString() } : {}),
          });
          setSecret(out.secret ?? '');
          setName('');
          tokens.reload();
        }}
      >
        <div class="row">
          <TextInput label="Token name" name="name" value={name} onValue={setName} />
          <TextInput label="Expires (optional)" name="expire_time" type="datetime-local" value={expires} onValue={setExpires} />
        </div>
      </Form>
      <Checkbox label="Show revoked tokens" checked={showRevoked} onValue={setShowRevoked} />
      <Failure failure={tokens.failure} />
      <Table<WorkspaceToken>
        label="Workspace tokens"
        rows={tokens.data?.tokens ?? []}
        rowKey={(t) => t.id ?? ''}
        empty="No tokens."
        columns={[
          { label: 'Name', render: (t) => t.name },
          { label: 'Prefix', render: (t) => <code>{t.prefix}</code> },
          { label: 'Created', render: (t) => time(t.createTime) },
          { label: 'Expires', render: (t) => (t.expireTime ? time(t.expireTime) : 'never') },
          {
            label: 'State',
            render: (t) =>
              t.revokeTime ? (
                <Badge tone="bad">revoked</Badge>
              ) : (
                <DangerButton
                  label="Revoke"
                  onConfirm={async () => {
                    await client.workspace.revokeWorkspaceToken.mutate({ id: t.id });
                    tokens.reload();
                  }}
                />
              ),
          },
        ]}
      />
    </Card>
  );
}

export function Workspaces() {
  const session = useSession();
  const [deleteError, setDeleteError] = useState('');
  return (
    <Page title="Workspaces">
      <Table<Workspace>
        label="Workspaces"
        rows={session.workspaces}
        rowKey={(w) => w.id ?? ''}
        onRow={(w) => session.selectWorkspace(w.id ?? '')}
        empty="No workspaces yet."
        columns={[
          { label: 'Name', render: (w) => (w.id === session.workspace?.id ? <strong>{w.name} (viewing)</strong> : w.name) },
          { label: 'Display name', render: (w) => w.displayName },
          { label: 'Log retention', render: (w) => (w.logRetentionDays ? `${w.logRetentionDays} days` : 'default') },
          { label: 'Created', render: (w) => time(w.createTime) },
          ...(session.isRoot
            ? [
                {
                  label: 'Delete',
                  render: (w: Workspace) => (
                    <DangerButton
                      label="Delete with contents"
                      onConfirm={async () => {
                        setDeleteError('');
                        try {
                          await session.client.workspace.deleteWorkspace.mutate({ id: w.id, force: true });
                          await session.reloadWorkspaces();
                        } catch (err) {
                          setDeleteError(err instanceof Error ? err.message : String(err));
                        }
                      }}
                    />
                  ),
                },
              ]
            : []),
        ]}
      />
      {deleteError ? <p class="notice danger">{deleteError}</p> : null}
      <div class="grid two">
        {session.isRoot ? <CreateWorkspace /> : null}
        {session.workspace ? <EditWorkspace key={session.workspace.id} workspace={session.workspace} /> : null}
      </div>
      {session.workspace ? <Tokens key={session.workspace.id} workspace={session.workspace} /> : null}
    </Page>
  );
}

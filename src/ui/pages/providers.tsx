/**
 * Providers with their write-only credentials and their models. Secrets go
 * to the API and are never shown again: the API returns only each
 * credential's kind, its environment-variable name or the last four
 * characters of an encrypted value.
 */
import { useState } from 'preact/hooks';
import type { Model, Provider } from '../api';
import { Checkbox, Form, Select, TextInput, useSubmit } from '../components/form';
import { Badge, Card, DangerButton, Failure, Page, Table } from '../components/ui';
import { enumLabel, time } from '../format';
import { useLoad } from '../hooks';
import { Link, navigate } from '../router';
import { useSession } from '../session';

const TYPES = [
  ['PROVIDER_TYPE_OPENAI', 'OpenAI'],
  ['PROVIDER_TYPE_ANTHROPIC', 'Anthropic'],
  ['PROVIDER_TYPE_GOOGLE', 'Google Gemini'],
  ['PROVIDER_TYPE_AZURE_OPENAI', 'Azure OpenAI'],
  ['PROVIDER_TYPE_OPENAI_COMPATIBLE', 'OpenAI-compatible (vLLM, Ollama, Groq, …)'],
  ['PROVIDER_TYPE_MOCK', 'Mock (built-in, no upstream)'],
] as const;
type ProviderType = (typeof TYPES)[number][0];

type SecretKind = 'none' | 'value' | 'env';

function credentialSource(kind: SecretKind, value: string) {
  if (kind === 'value') return { value };
  if (kind === 'env') return { envVar: value };
  return undefined;
}

/** Write-only secret entry: a literal (encrypted at rest) or an environment variable name. */
function SecretInput(props: { kind: SecretKind; onKind: (k: SecretKind) => void; value: string; onValue: (v: string) => void; name: string; allowNone?: boolean }) {
  return (
    <div class="row">
      <Select<SecretKind>
        label="Credential"
        value={props.kind}
        onValue={props.onKind}
        options={[...(props.allowNone ? ([['none', 'none']] as const) : []), ['value', 'secret value (encrypted, write-only)'], ['env', 'environment variable']]}
      />
      {props.kind !== 'none' ? (
        <TextInput
          label={props.kind === 'env' ? 'Variable name' : 'Secret'}
          name={props.name}
          type={props.kind === 'env' ? 'text' : 'password'}
          value={props.value}
          onValue={props.onValue}
          input={{ autocomplete: 'off' }}
          placeholder={props.kind === 'env' ? 'OPENAI_API_KEY' : ''}
        />
      ) : null}
    </div>
  );
}

function CreateProvider(props: { onCreated: (p: Provider) => void }) {
  const { client, workspace } = useSession();
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [type, setType] = useState<ProviderType>('PROVIDER_TYPE_MOCK');
  const [baseUrl, setBaseUrl] = useState('');
  const [timeout, setTimeoutMs] = useState('');
  const [recordBodies, setRecordBodies] = useState(false);
  const [azureVersion, setAzureVersion] = useState('');
  const [mockLatency, setMockLatency] = useState('');
  const [mockTokens, setMockTokens] = useState('');
  const [secretKind, setSecretKind] = useState<SecretKind>('none');
  const [secret, setSecret] = useState('');
  return (
    <Card title="New provider">
      <Form
        label="New provider"
        submit={submit}
        submitLabel="Create provider"
        onSubmit={async () => {
          const source = credentialSource(secretKind, secret);
          const { provider } = await client.provider.createProvider.mutate({
            workspaceId: workspace!.id,
            provider: {
              name,
              type,
              baseUrl,
              timeoutMs: Number(timeout || 0),
              recordBodies,
              azureApiVersion: azureVersion,
              ...(type === 'PROVIDER_TYPE_MOCK' ? { mock: { latencyMs: Number(mockLatency || 0), completionTokens: Number(mockTokens || 0) } } : {}),
            },
            credentials: source ? [source] : [],
          });
          setSecret('');
          if (provider) props.onCreated(provider);
        }}
      >
        <div class="row">
          <TextInput label="Name" name="provider.name" value={name} onValue={setName} hint="Slug; prefix of the public model names, e.g. openai-main/gpt-4o." />
          <Select<ProviderType> label="Type" name="provider.type" value={type} onValue={setType} options={TYPES} />
        </div>
        {type !== 'PROVIDER_TYPE_MOCK' ? (
          <TextInput label="Base URL" name="provider.base_url" value={baseUrl} onValue={setBaseUrl} placeholder="empty: the type's default" />
        ) : (
          <div class="row">
            <TextInput label="Mock latency (ms)" name="provider.mock.latency_ms" type="number" value={mockLatency} onValue={setMockLatency} />
            <TextInput label="Mock completion tokens" name="provider.mock.completion_tokens" type="number" value={mockTokens} onValue={setMockTokens} hint="0 means 16." />
          </div>
        )}
        {type === 'PROVIDER_TYPE_AZURE_OPENAI' ? <TextInput label="Azure API version" name="provider.azure_api_version" value={azureVersion} onValue={setAzureVersion} /> : null}
        <div class="row">
          <TextInput label="Timeout (ms)" name="provider.timeout_ms" type="number" value={timeout} onValue={setTimeoutMs} hint="0 means 600000." />
          <Checkbox label="Record request and response bodies" name="provider.record_bodies" checked={recordBodies} onValue={setRecordBodies} />
        </div>
        {type !== 'PROVIDER_TYPE_MOCK' ? <SecretInput kind={secretKind} onKind={setSecretKind} value={secret} onValue={setSecret} name="credentials[0]" allowNone /> : null}
      </Form>
    </Card>
  );
}

export function Providers() {
  const { client, workspace } = useSession();
  const list = useLoad(() => client.provider.listProviders.query({ workspaceId: workspace!.id, pageSize: 1000 }), [workspace?.id]);
  return (
    <Page title="Providers & models">
      <Failure failure={list.failure} />
      <Table<Provider>
        label="Providers"
        rows={list.data?.providers ?? []}
        rowKey={(p) => p.id ?? ''}
        onRow={(p) => navigate(`/providers/${p.id}`)}
        empty="No providers yet. Create one below; the mock type needs no upstream."
        columns={[
          { label: 'Name', render: (p) => <Link to={`/providers/${p.id}`}>{p.name}</Link> },
          { label: 'Type', render: (p) => enumLabel(p.type, 'PROVIDER_TYPE_') },
          { label: 'Base URL', render: (p) => p.baseUrl || <span class="muted">default</span> },
          { label: 'Credentials', render: (p) => String(p.credentials?.length ?? 0) },
          { label: 'State', render: (p) => (p.enabled === false ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">enabled</Badge>) },
        ]}
      />
      <CreateProvider onCreated={() => list.reload()} />
    </Page>
  );
}

function EditProvider(props: { provider: Provider; onSaved: () => void }) {
  const { client } = useSession();
  const p = props.provider;
  const submit = useSubmit();
  const [baseUrl, setBaseUrl] = useState(p.baseUrl ?? '');
  const [enabled, setEnabled] = useState(p.enabled !== false);
  const [timeout, setTimeoutMs] = useState(String(p.timeoutMs ?? 0));
  const [recordBodies, setRecordBodies] = useState(Boolean(p.recordBodies));
  const [mockLatency, setMockLatency] = useState(String(p.mock?.latencyMs ?? 0));
  const [mockTokens, setMockTokens] = useState(String(p.mock?.completionTokens ?? 0));
  const isMock = p.type === 'PROVIDER_TYPE_MOCK';
  return (
    <Card title="Settings">
      <Form
        label="Provider settings"
        submit={submit}
        submitLabel="Save provider"
        onSubmit={async () => {
          await client.provider.updateProvider.mutate({
            provider: { id: p.id, baseUrl, enabled, timeoutMs: Number(timeout || 0), recordBodies, mock: { latencyMs: Number(mockLatency || 0), completionTokens: Number(mockTokens || 0) } },
            updateMask: ['enabled', 'timeoutMs', 'recordBodies', ...(isMock ? ['mock'] : ['baseUrl'])].join(','),
          });
          props.onSaved();
        }}
      >
        {isMock ? (
          <div class="row">
            <TextInput label="Mock latency (ms)" name="provider.mock.latency_ms" type="number" value={mockLatency} onValue={setMockLatency} />
            <TextInput label="Mock completion tokens" name="provider.mock.completion_tokens" type="number" value={mockTokens} onValue={setMockTokens} />
          </div>
        ) : (
          <TextInput label="Base URL" name="provider.base_url" value={baseUrl} onValue={setBaseUrl} />
        )}
        <div class="row">
          <TextInput label="Timeout (ms)" name="provider.timeout_ms" type="number" value={timeout} onValue={setTimeoutMs} />
          <Checkbox label="Enabled" name="provider.enabled" checked={enabled} onValue={setEnabled} />
          <Checkbox label="Record bodies" name="provider.record_bodies" checked={recordBodies} onValue={setRecordBodies} />
        </div>
      </Form>
    </Card>
  );
}

function Credentials(props: { provider: Provider; onChanged: () => void }) {
  const { client } = useSession();
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<SecretKind>('value');
  const [secret, setSecret] = useState('');
  const creds = props.provider.credentials ?? [];
  return (
    <Card title="Credentials (write-only)">
      <Table
        label="Credentials"
        rows={creds}
        rowKey={(c) => c.id ?? ''}
        empty="No credentials."
        columns={[
          { label: 'Name', render: (c) => c.name || <span class="muted">unnamed</span> },
          { label: 'Kind', render: (c) => enumLabel(c.kind, 'CREDENTIAL_KIND_') },
          { label: 'Reference', render: (c) => (c.envVar ? <code>${c.envVar}</code> : <code>{c.hint}</code>) },
          {
            label: 'State',
            render: (c) => (
              <button
                type="button"
                onClick={async () => {
                  await client.provider.updateProviderCredential.mutate({ id: c.id, enabled: c.enabled === false, updateMask: 'enabled' });
                  props.onChanged();
                }}
              >
                {c.enabled === false ? 'Enable' : 'Disable'}
              </button>
            ),
          },
          {
            label: 'Delete',
            render: (c) => (
              <DangerButton
                label="Delete"
                onConfirm={async () => {
                  await client.provider.deleteProviderCredential.mutate({ id: c.id });
                  props.onChanged();
                }}
              />
            ),
          },
        ]}
      />
      <Form
        label="Add credential"
        submit={submit}
        submitLabel="Add credential"
        onSubmit={async () => {
          await client.provider.createProviderCredential.mutate({ providerId: props.provider.id, name, source: credentialSource(kind, secret) });
          setSecret('');
          setName('');
          props.onChanged();
        }}
      >
        <TextInput label="Credential name" name="name" value={name} onValue={setName} />
        <SecretInput kind={kind} onKind={setKind} value={secret} onValue={setSecret} name="source" />
      </Form>
    </Card>
  );
}

const perMtok = (micros: string | undefined) => (micros === undefined ? '' : String(Number(micros) / 1e6));
const toMicros = (usd: string) => (usd.trim() === '' ? undefined : String(Math.round(Number(usd) * 1e6)));

function Models(props: { provider: Provider }) {
  const { client } = useSession();
  const models = useLoad(() => client.provider.listModels.query({ providerId: props.provider.id, pageSize: 1000 }), [props.provider.id]);
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [input, setInput] = useState('');
  const [output, setOutput] = useState('');
  const [actionError, setActionError] = useState('');
  return (
    <Card title="Models">
      <Failure failure={models.failure} />
      {actionError ? <p class="notice danger">{actionError}</p> : null}
      <Table<Model>
        label="Models"
        rows={models.data?.models ?? []}
        rowKey={(m) => m.id ?? ''}
        empty="No models yet."
        columns={[
          { label: 'Public name', render: (m) => <code>{m.publicName}</code> },
          { label: 'Input $/MTok', numeric: true, render: (m) => perMtok(m.price?.inputPerMtokMicros) || <span class="muted">catalogue</span> },
          { label: 'Output $/MTok', numeric: true, render: (m) => perMtok(m.price?.outputPerMtokMicros) || <span class="muted">catalogue</span> },
          {
            label: 'State',
            render: (m) => (
              <button
                type="button"
                onClick={async () => {
                  await client.provider.updateModel.mutate({ model: { id: m.id, enabled: m.enabled === false }, updateMask: 'enabled' });
                  models.reload();
                }}
              >
                {m.enabled === false ? 'Enable' : 'Disable'}
              </button>
            ),
          },
          {
            label: 'Delete',
            render: (m) => (
              <DangerButton
                label="Delete"
                onConfirm={async () => {
                  setActionError('');
                  await client.provider.deleteModel.mutate({ id: m.id }).catch((e: unknown) => setActionError(e instanceof Error ? e.message : String(e)));
                  models.reload();
                }}
              />
            ),
          },
        ]}
      />
      <Form
        label="Add model"
        submit={submit}
        submitLabel="Add model"
        onSubmit={async () => {
          const price = { inputPerMtokMicros: toMicros(input), outputPerMtokMicros: toMicros(output) };
          await client.provider.createModel.mutate({
            providerId: props.provider.id,
            model: { name, ...(price.inputPerMtokMicros || price.outputPerMtokMicros ? { price } : {}) },
          });
          setName('');
          models.reload();
        }}
      >
        <div class="row">
          <TextInput label="Model name" name="model.name" value={name} onValue={setName} hint="The upstream model id (Azure: the deployment name)." />
          <TextInput label="Input price (USD per MTok)" name="model.price.input_per_mtok_micros" value={input} onValue={setInput} placeholder="catalogue" />
          <TextInput label="Output price (USD per MTok)" name="model.price.output_per_mtok_micros" value={output} onValue={setOutput} placeholder="catalogue" />
        </div>
      </Form>
    </Card>
  );
}

export function ProviderDetail(props: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(() => client.provider.getProvider.query({ id: props.id }), [props.id]);
  const p = loaded.data?.provider;
  const [deleteError, setDeleteError] = useState('');
  return (
    <Page
      title={p ? `Provider ${p.name}` : 'Provider'}
      actions={
        p ? (
          <DangerButton
            label="Delete provider"
            onConfirm={async () => {
              try {
                await client.provider.deleteProvider.mutate({ id: p.id });
                navigate('/providers');
              } catch (e) {
                setDeleteError(e instanceof Error ? e.message : String(e));
              }
            }}
          />
        ) : null
      }
    >
      <p>
        <Link to="/providers">← All providers</Link>
      </p>
      <Failure failure={loaded.failure} />
      {deleteError ? <p class="notice danger">{deleteError}</p> : null}
      {p ? (
        <>
          <p class="muted">
            {enumLabel(p.type, 'PROVIDER_TYPE_')} · created {time(p.createTime)}
          </p>
          <div class="grid two">
            <EditProvider key={p.updateTime} provider={p} onSaved={loaded.reload} />
            {p.type !== 'PROVIDER_TYPE_MOCK' ? <Credentials provider={p} onChanged={loaded.reload} /> : null}
          </div>
          <Models provider={p} />
        </>
      ) : null}
    </Page>
  );
}

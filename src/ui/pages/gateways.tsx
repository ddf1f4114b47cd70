/** Gateways with their routes (CEL conditions, pools, fallbacks), rate limits and spend limits. */
import { useState } from 'preact/hooks';
import type { Gateway, Pool, RateLimit, Route, SpendLimit } from '../api';
import { CelEditor } from '../components/cel-editor';
import { Checkbox, Field, FieldErrors, Form, Select, splitList, TextArea, TextInput, useSubmit } from '../components/form';
import { Badge, Card, DangerButton, Failure, Page, Table } from '../components/ui';
import { enumLabel, microsToUsd, usd } from '../format';
import { useLoad } from '../hooks';
import { Link, navigate } from '../router';
import { useSession } from '../session';

const STRATEGIES = [
  ['POOL_STRATEGY_PRIORITY', 'priority (in order)'],
  ['POOL_STRATEGY_ROUND_ROBIN', 'round robin'],
  ['POOL_STRATEGY_WEIGHTED', 'weighted'],
  ['POOL_STRATEGY_LEAST_LATENCY', 'least latency'],
  ['POOL_STRATEGY_LOWEST_COST', 'lowest cost'],
] as const;
type Strategy = (typeof STRATEGIES)[number][0];

function CreateGateway(props: { onCreated: () => void }) {
  const { client, workspace } = useSession();
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [models, setModels] = useState('');
  return (
    <Card title="New gateway">
      <Form
        label="New gateway"
        submit={submit}
        submitLabel="Create gateway"
        onSubmit={async () => {
          await client.gateway.createGateway.mutate({ workspaceId: workspace!.id, gateway: { name, description, models: splitList(models) } });
          setName('');
          setDescription('');
          props.onCreated();
        }}
      >
        <div class="row">
          <TextInput label="Name" name="gateway.name" value={name} onValue={setName} hint="Slug; part of client URLs: /gateways/{name}/v1." />
          <TextInput label="Description" name="gateway.description" value={description} onValue={setDescription} />
        </div>
        <TextInput label="Models served (optional)" name="gateway.models" value={models} onValue={setModels} hint="Comma-separated public names; empty serves every enabled model." />
      </Form>
    </Card>
  );
}

export function Gateways() {
  const { client, workspace } = useSession();
  const list = useLoad(() => client.gateway.listGateways.query({ workspaceId: workspace!.id, pageSize: 1000 }), [workspace?.id]);
  return (
    <Page title="Gateways">
      <Failure failure={list.failure} />
      <Table<Gateway>
        label="Gateways"
        rows={list.data?.gateways ?? []}
        rowKey={(g) => g.id ?? ''}
        onRow={(g) => navigate(`/gateways/${g.id}`)}
        empty="No gateways yet."
        columns={[
          { label: 'Name', render: (g) => <Link to={`/gateways/${g.id}`}>{g.name}</Link> },
          { label: 'Description', render: (g) => g.description },
          { label: 'Models', render: (g) => (g.models?.length ? g.models.join(', ') : <span class="muted">all enabled</span>) },
          { label: 'Model selector', render: (g) => (g.modelSelector ? <code>{g.modelSelector}</code> : <span class="muted">request.model</span>) },
        ]}
      />
      <CreateGateway onCreated={list.reload} />
    </Page>
  );
}

function EditGateway(props: { gateway: Gateway; onSaved: () => void }) {
  const { client } = useSession();
  const g = props.gateway;
  const submit = useSubmit();
  const [description, setDescription] = useState(g.description ?? '');
  const [tags, setTags] = useState((g.tags ?? []).join(', '));
  const [models, setModels] = useState((g.models ?? []).join(', '));
  const [selector, setSelector] = useState(g.modelSelector ?? '');
  const [deferLoading, setDeferLoading] = useState(Boolean(g.mcp?.deferLoading));
  const [blocked, setBlocked] = useState((g.mcp?.blockedTools ?? []).join('\n'));
  const [authorization, setAuthorization] = useState(g.mcp?.authorization ?? '');
  return (
    <Card title="Settings">
      <Form
        label="Gateway settings"
        submit={submit}
        submitLabel="Save gateway"
        onSubmit={async () => {
          await client.gateway.updateGateway.mutate({
            gateway: {
              id: g.id,
              description,
              tags: splitList(tags),
              models: splitList(models),
              modelSelector: selector,
              mcp: { ...g.mcp, deferLoading, blockedTools: splitList(blocked), authorization },
            },
            updateMask: 'description,tags,models,modelSelector,mcp',
          });
          props.onSaved();
        }}
      >
        <TextInput label="Description" name="gateway.description" value={description} onValue={setDescription} />
        <div class="row">
          <TextInput label="Tags" name="gateway.tags" value={tags} onValue={setTags} hint="Comma-separated." />
          <TextInput label="Models served" name="gateway.models" value={models} onValue={setModels} hint="Empty serves every enabled model." />
        </div>
        <CelEditor label="Model selector (CEL, string)" name="gateway.model_selector" kind="EXPRESSION_KIND_MODEL_SELECTOR" value={selector} onValue={setSelector} />
        <fieldset>
          <legend>MCP</legend>
          <Checkbox label="Defer loading of tools by default" name="gateway.mcp.defer_loading" checked={deferLoading} onValue={setDeferLoading} />
          <TextArea label="Blocked tools" name="gateway.mcp.blocked_tools" value={blocked} onValue={setBlocked} hint="One pattern per line: server:tool, server:*, *:tool." />
          <CelEditor label="Authorization rule (CEL, bool)" name="gateway.mcp.authorization" kind="EXPRESSION_KIND_MCP_AUTHORIZATION" value={authorization} onValue={setAuthorization} />
        </fieldset>
        <FieldErrors name="gateway.mcp" />
      </Form>
    </Card>
  );
}

/** Members as text, one `provider/model [weight]` per line. */
function membersText(pool: Pool | undefined): string {
  return (pool?.members ?? []).map((m) => `${m.provider}/${m.model}${m.weight ? ` ${m.weight}` : ''}`).join('\n');
}

function parseMembers(text: string) {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [ref = '', weight] = line.split(/\s+/);
      const slash = ref.indexOf('/');
      return { provider: slash < 0 ? ref : ref.slice(0, slash), model: slash < 0 ? '' : ref.slice(slash + 1), weight: weight ? Number(weight) : 0 };
    });
}

interface PoolDraft {
  strategy: Strategy;
  members: string;
  timeout: string;
}

const draftOf = (pool: Pool | undefined): PoolDraft => ({ strategy: (pool?.strategy as Strategy | undefined) ?? 'POOL_STRATEGY_PRIORITY', members: membersText(pool), timeout: String(pool?.attemptTimeoutMs ?? 0) });
const poolOf = (d: PoolDraft) => ({ strategy: d.strategy, members: parseMembers(d.members), attemptTimeoutMs: Number(d.timeout || 0) });

function PoolEditor(props: { legend: string; name: string; value: PoolDraft; onValue: (d: PoolDraft) => void; onRemove?: () => void }) {
  const d = props.value;
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      <div class="row">
        <Select<Strategy> label="Strategy" name={`${props.name}.strategy`} value={d.strategy} onValue={(strategy) => props.onValue({ ...d, strategy })} options={STRATEGIES} />
        <TextInput label="Attempt timeout (ms)" name={`${props.name}.attempt_timeout_ms`} type="number" value={d.timeout} onValue={(timeout) => props.onValue({ ...d, timeout })} hint="0: the provider's timeout." />
      </div>
      <Field label="Members" name={`${props.name}.members`} nested hint="One per line: provider/model, optionally a weight (e.g. mock/small 3).">
        {(id, describedBy, invalid) => (
          <textarea id={id} class="mono" rows={3} spellcheck={false} value={d.members} aria-invalid={invalid} aria-describedby={describedBy} onInput={(e) => props.onValue({ ...d, members: (e.target as HTMLTextAreaElement).value })} />
        )}
      </Field>
      {props.onRemove ? (
        <button type="button" onClick={props.onRemove}>
          Remove this fallback pool
        </button>
      ) : null}
    </fieldset>
  );
}

function RouteForm(props: { gatewayId: string; route?: Route; onSaved: () => void; onCancel?: () => void }) {
  const { client } = useSession();
  const r = props.route;
  const submit = useSubmit();
  const [name, setName] = useState(r?.name ?? '');
  const [priority, setPriority] = useState(String(r?.priority ?? 0));
  const [condition, setCondition] = useState(r?.condition ?? '');
  const [enabled, setEnabled] = useState(r?.enabled !== false);
  const [pool, setPool] = useState(draftOf(r?.pool));
  const [fallbacks, setFallbacks] = useState((r?.fallbacks ?? []).map(draftOf));
  return (
    <Form
      label={r ? `Edit route ${r.name}` : 'New route'}
      submit={submit}
      submitLabel={r ? 'Save route' : 'Create route'}
      extraActions={
        props.onCancel ? (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        ) : null
      }
      onSubmit={async () => {
        const route = { name, priority: Number(priority || 0), condition, enabled, pool: poolOf(pool), fallbacks: fallbacks.map(poolOf) };
        if (r) await client.gateway.updateRoute.mutate({ route: { ...route, id: r.id }, updateMask: 'priority,condition,pool,fallbacks,enabled' });
        else await client.gateway.createRoute.mutate({ gatewayId: props.gatewayId, route });
        props.onSaved();
      }}
    >
      <div class="row">
        <TextInput label="Route name" name="route.name" value={name} onValue={setName} input={{ disabled: Boolean(r) }} />
        <TextInput label="Priority" name="route.priority" type="number" value={priority} onValue={setPriority} hint="Lower runs first." />
        <Checkbox label="Enabled" name="route.enabled" checked={enabled} onValue={setEnabled} />
      </div>
      <CelEditor label="Condition (CEL, bool)" name="route.condition" kind="EXPRESSION_KIND_ROUTE_CONDITION" value={condition} onValue={setCondition} />
      <PoolEditor legend="Pool" name="route.pool" value={pool} onValue={setPool} />
      {fallbacks.map((f, i) => (
        <PoolEditor
          key={i}
          legend={`Fallback pool ${i + 1}`}
          name={`route.fallbacks[${i}]`}
          value={f}
          onValue={(d) => setFallbacks(fallbacks.map((x, j) => (j === i ? d : x)))}
          onRemove={() => setFallbacks(fallbacks.filter((_, j) => j !== i))}
        />
      ))}
      <button type="button" onClick={() => setFallbacks([...fallbacks, draftOf(undefined)])}>
        Add fallback pool
      </button>
      <FieldErrors name="route.fallbacks" />
    </Form>
  );
}

function Routes(props: { gateway: Gateway }) {
  const { client } = useSession();
  const routes = useLoad(() => client.gateway.listRoutes.query({ gatewayId: props.gateway.id, pageSize: 1000 }), [props.gateway.id]);
  const [editing, setEditing] = useState<string>();
  const [adding, setAdding] = useState(false);
  const list = routes.data?.routes ?? [];
  const editingRoute = list.find((r) => r.id === editing);
  return (
    <Card
      title="Routes"
      actions={
        !adding ? (
          <button type="button" onClick={() => setAdding(true)}>
            Add route
          </button>
        ) : null
      }
    >
      <p class="muted">Evaluated in order (priority, then name); the first match wins. Without routes, the gateway serves every model it allows.</p>
      <Failure failure={routes.failure} />
      <Table<Route>
        label="Routes"
        rows={list}
        rowKey={(r) => r.id ?? ''}
        empty="No routes."
        columns={[
          { label: 'Priority', numeric: true, render: (r) => String(r.priority ?? 0) },
          { label: 'Name', render: (r) => r.name },
          { label: 'Condition', render: (r) => (r.condition ? <code>{r.condition}</code> : <span class="muted">true</span>) },
          { label: 'Pool', render: (r) => `${enumLabel(r.pool?.strategy, 'POOL_STRATEGY_')}: ${(r.pool?.members ?? []).map((m) => `${m.provider}/${m.model}`).join(', ')}` },
          { label: 'Fallbacks', numeric: true, render: (r) => String(r.fallbacks?.length ?? 0) },
          { label: 'State', render: (r) => (r.enabled === false ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">enabled</Badge>) },
          {
            label: 'Actions',
            render: (r) => (
              <div class="row tight">
                <button type="button" onClick={() => setEditing(r.id)} aria-label={`Edit route ${r.name}`}>
                  Edit
                </button>
                <DangerButton
                  label="Delete"
                  onConfirm={async () => {
                    await client.gateway.deleteRoute.mutate({ id: r.id });
                    routes.reload();
                  }}
                />
              </div>
            ),
          },
        ]}
      />
      {editingRoute ? (
        <div class="subcard">
          <h3>Edit route {editingRoute.name}</h3>
          <RouteForm
            key={editingRoute.id}
            gatewayId={props.gateway.id ?? ''}
            route={editingRoute}
            onCancel={() => setEditing(undefined)}
            onSaved={() => {
              setEditing(undefined);
              routes.reload();
            }}
          />
        </div>
      ) : null}
      {adding ? (
        <div class="subcard">
          <h3>New route</h3>
          <RouteForm
            gatewayId={props.gateway.id ?? ''}
            onCancel={() => setAdding(false)}
            onSaved={() => {
              setAdding(false);
              routes.reload();
            }}
          />
        </div>
      ) : null}
    </Card>
  );
}

type ScopeKind = 'workspace' | 'gateway' | 'key' | 'expr';

function scopeLabel(scope: { workspace?: boolean; gateway?: boolean; key?: boolean; expr?: string } | undefined): string {
  if (!scope) return 'gateway';
  if (scope.expr) return `per ${scope.expr}`;
  if (scope.key) return 'per API key';
  if (scope.workspace) return 'workspace';
  return 'gateway';
}

function ScopeEditor(props: { name: string; kinds: readonly ScopeKind[]; kind: ScopeKind; onKind: (k: ScopeKind) => void; expr: string; onExpr: (v: string) => void }) {
  const labels: Record<ScopeKind, string> = { workspace: 'whole workspace', gateway: 'whole gateway', key: 'per API key', expr: 'per value of a CEL expression' };
  return (
    <>
      <Select<ScopeKind> label="Scope" name={props.name} value={props.kind} onValue={props.onKind} options={props.kinds.map((k) => [k, labels[k]] as const)} />
      {props.kind === 'expr' ? <CelEditor label="Key expression (CEL)" name={`${props.name}.expr`} kind="EXPRESSION_KIND_LIMIT_KEY" value={props.expr} onValue={props.onExpr} /> : null}
    </>
  );
}

const scopeOf = (kind: ScopeKind, expr: string) => (kind === 'expr' ? { expr } : { [kind]: true });

const FAILURE_MODES = [
  ['STORE_FAILURE_MODE_FAIL_OPEN', 'fail open (admit)'],
  ['STORE_FAILURE_MODE_FAIL_CLOSED', 'fail closed (503)'],
] as const;
type FailureMode = (typeof FAILURE_MODES)[number][0];

function RateLimits(props: { gateway: Gateway }) {
  const { client } = useSession();
  const limits = useLoad(() => client.gateway.listRateLimits.query({ gatewayId: props.gateway.id, pageSize: 1000 }), [props.gateway.id]);
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [unit, setUnit] = useState<'RATE_LIMIT_UNIT_REQUESTS' | 'RATE_LIMIT_UNIT_TOKENS'>('RATE_LIMIT_UNIT_REQUESTS');
  const [limit, setLimit] = useState('');
  const [window, setWindow] = useState<'RATE_LIMIT_WINDOW_SECOND' | 'RATE_LIMIT_WINDOW_MINUTE' | 'RATE_LIMIT_WINDOW_HOUR' | 'RATE_LIMIT_WINDOW_DAY'>('RATE_LIMIT_WINDOW_MINUTE');
  const [burst, setBurst] = useState('');
  const [scopeKind, setScopeKind] = useState<ScopeKind>('key');
  const [expr, setExpr] = useState('');
  const [onFailure, setOnFailure] = useState<FailureMode>('STORE_FAILURE_MODE_FAIL_OPEN');
  return (
    <Card title="Rate limits">
      <Failure failure={limits.failure} />
      <Table<RateLimit>
        label="Rate limits"
        rows={limits.data?.rateLimits ?? []}
        rowKey={(l) => l.id ?? ''}
        empty="No rate limits."
        columns={[
          { label: 'Name', render: (l) => l.name },
          { label: 'Limit', render: (l) => `${l.limit} ${enumLabel(l.unit, 'RATE_LIMIT_UNIT_')} / ${enumLabel(l.window, 'RATE_LIMIT_WINDOW_')}${l.burst && l.burst !== '0' ? ` (+${l.burst} burst)` : ''}` },
          { label: 'Scope', render: (l) => scopeLabel(l.scope) },
          { label: 'Store down', render: (l) => enumLabel(l.onStoreFailure, 'STORE_FAILURE_MODE_') },
          {
            label: 'Delete',
            render: (l) => (
              <DangerButton
                label="Delete"
                onConfirm={async () => {
                  await client.gateway.deleteRateLimit.mutate({ id: l.id });
                  limits.reload();
                }}
              />
            ),
          },
        ]}
      />
      <Form
        label="New rate limit"
        submit={submit}
        submitLabel="Add rate limit"
        onSubmit={async () => {
          await client.gateway.createRateLimit.mutate({
            gatewayId: props.gateway.id,
            rateLimit: { name, unit, limit: limit || '0', window, burst: burst || '0', scope: scopeOf(scopeKind, expr), onStoreFailure: onFailure },
          });
          setName('');
          limits.reload();
        }}
      >
        <div class="row">
          <TextInput label="Limit name" name="rate_limit.name" value={name} onValue={setName} />
          <TextInput label="Limit" name="rate_limit.limit" type="number" value={limit} onValue={setLimit} />
          <Select label="Unit" name="rate_limit.unit" value={unit} onValue={setUnit} options={[['RATE_LIMIT_UNIT_REQUESTS', 'requests'], ['RATE_LIMIT_UNIT_TOKENS', 'tokens']]} />
          <Select
            label="Window"
            name="rate_limit.window"
            value={window}
            onValue={setWindow}
            options={[['RATE_LIMIT_WINDOW_SECOND', 'second'], ['RATE_LIMIT_WINDOW_MINUTE', 'minute'], ['RATE_LIMIT_WINDOW_HOUR', 'hour'], ['RATE_LIMIT_WINDOW_DAY', 'day']]}
          />
          <TextInput label="Burst" name="rate_limit.burst" type="number" value={burst} onValue={setBurst} />
        </div>
        <div class="row">
          <ScopeEditor name="rate_limit.scope" kinds={['gateway', 'key', 'expr']} kind={scopeKind} onKind={setScopeKind} expr={expr} onExpr={setExpr} />
          <Select<FailureMode> label="When the counter store is down" name="rate_limit.on_store_failure" value={onFailure} onValue={setOnFailure} options={FAILURE_MODES} />
        </div>
      </Form>
    </Card>
  );
}

function SpendLimits(props: { gateway: Gateway }) {
  const { client, workspace } = useSession();
  const limits = useLoad(() => client.gateway.listSpendLimits.query({ workspaceId: workspace!.id, gatewayId: props.gateway.id, pageSize: 1000 }), [props.gateway.id]);
  const submit = useSubmit();
  const [name, setName] = useState('');
  const [amount, setAmount] = useState('');
  const [period, setPeriod] = useState<'SPEND_PERIOD_DAILY' | 'SPEND_PERIOD_WEEKLY' | 'SPEND_PERIOD_MONTHLY'>('SPEND_PERIOD_MONTHLY');
  const [enforcement, setEnforcement] = useState<'SPEND_ENFORCEMENT_BLOCK' | 'SPEND_ENFORCEMENT_ALERT'>('SPEND_ENFORCEMENT_BLOCK');
  const [warnAt, setWarnAt] = useState('0.8');
  const [scopeKind, setScopeKind] = useState<ScopeKind>('gateway');
  const [expr, setExpr] = useState('');
  const [onFailure, setOnFailure] = useState<FailureMode>('STORE_FAILURE_MODE_FAIL_OPEN');
  return (
    <Card title="Spend limits">
      <Failure failure={limits.failure} />
      <Table<SpendLimit>
        label="Spend limits"
        rows={limits.data?.spendLimits ?? []}
        rowKey={(l) => l.id ?? ''}
        empty="No spend limits."
        columns={[
          { label: 'Name', render: (l) => l.name },
          { label: 'Budget', render: (l) => `${usd(microsToUsd(l.amountMicros))} ${enumLabel(l.period, 'SPEND_PERIOD_')}` },
          { label: 'Enforcement', render: (l) => enumLabel(l.enforcement, 'SPEND_ENFORCEMENT_') },
          { label: 'Warn at', render: (l) => (l.warnAt ? `${Math.round(Number(l.warnAt) * 100)} %` : '–') },
          { label: 'Scope', render: (l) => scopeLabel(l.scope) },
          {
            label: 'Delete',
            render: (l) => (
              <DangerButton
                label="Delete"
                onConfirm={async () => {
                  await client.gateway.deleteSpendLimit.mutate({ id: l.id });
                  limits.reload();
                }}
              />
            ),
          },
        ]}
      />
      <Form
        label="New spend limit"
        submit={submit}
        submitLabel="Add spend limit"
        onSubmit={async () => {
          await client.gateway.createSpendLimit.mutate({
            workspaceId: workspace!.id,
            spendLimit: {
              gatewayId: props.gateway.id,
              name,
              amountMicros: amount.trim() ? String(Math.round(Number(amount) * 1e6)) : '0',
              period,
              enforcement,
              warnAt: Number(warnAt || 0),
              scope: scopeOf(scopeKind, expr),
              onStoreFailure: onFailure,
            },
          });
          setName('');
          limits.reload();
        }}
      >
        <div class="row">
          <TextInput label="Budget name" name="spend_limit.name" value={name} onValue={setName} />
          <TextInput label="Amount (USD)" name="spend_limit.amount_micros" value={amount} onValue={setAmount} />
          <Select label="Period" name="spend_limit.period" value={period} onValue={setPeriod} options={[['SPEND_PERIOD_DAILY', 'daily'], ['SPEND_PERIOD_WEEKLY', 'weekly'], ['SPEND_PERIOD_MONTHLY', 'monthly']]} />
          <Select label="Enforcement" name="spend_limit.enforcement" value={enforcement} onValue={setEnforcement} options={[['SPEND_ENFORCEMENT_BLOCK', 'block (429)'], ['SPEND_ENFORCEMENT_ALERT', 'alert only']]} />
          <TextInput label="Warn at (fraction)" name="spend_limit.warn_at" value={warnAt} onValue={setWarnAt} />
        </div>
        <div class="row">
          <ScopeEditor name="spend_limit.scope" kinds={['gateway', 'key', 'expr']} kind={scopeKind} onKind={setScopeKind} expr={expr} onExpr={setExpr} />
          <Select<FailureMode> label="When the counter store is down" name="spend_limit.on_store_failure" value={onFailure} onValue={setOnFailure} options={FAILURE_MODES} />
        </div>
      </Form>
    </Card>
  );
}

export function GatewayDetail(props: { id: string }) {
  const { client } = useSession();
  const loaded = useLoad(() => client.gateway.getGateway.query({ id: props.id }), [props.id]);
  const g = loaded.data?.gateway;
  const [deleteError, setDeleteError] = useState('');
  return (
    <Page
      title={g ? `Gateway ${g.name}` : 'Gateway'}
      actions={
        g ? (
          <DangerButton
            label="Delete gateway"
            onConfirm={async () => {
              try {
                await client.gateway.deleteGateway.mutate({ id: g.id });
                navigate('/gateways');
              } catch (e) {
                setDeleteError(e instanceof Error ? e.message : String(e));
              }
            }}
          />
        ) : null
      }
    >
      <p>
        <Link to="/gateways">← All gateways</Link>
      </p>
      {deleteError ? <p class="notice danger">{deleteError}</p> : null}
      <Failure failure={loaded.failure} />
      {g ? (
        <>
          <p class="muted">
            Clients call <code>/gateways/{g.name}/v1/…</code> and <code>/gateways/{g.name}/mcp</code>.
          </p>
          <EditGateway key={g.updateTime} gateway={g} onSaved={loaded.reload} />
          <Routes gateway={g} />
          <div class="grid two">
            <RateLimits gateway={g} />
            <SpendLimits gateway={g} />
          </div>
        </>
      ) : null}
    </Page>
  );
}

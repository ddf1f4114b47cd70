/** Small presentational pieces shared by the pages. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { ApiFailure } from '../api';

export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-header">
        <h1 id="page-title">{props.title}</h1>
        {props.actions ? <div class="page-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

export function Card(props: { title?: string; children: ComponentChildren; class?: string; actions?: ComponentChildren }) {
  return (
    <section class={`card ${props.class ?? ''}`} aria-label={props.title}>
      {props.title || props.actions ? (
        <header class="card-header">
          {props.title ? <h2>{props.title}</h2> : null}
          {props.actions}
        </header>
      ) : null}
      {props.children}
    </section>
  );
}

/** A headline figure; `value` is undefined while it loads (shown as an ellipsis, never as a zero). */
export function Stat(props: { label: string; value: string | undefined; sub?: string; testId?: string }) {
  return (
    <div class="stat" data-testid={props.testId}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value ?? '…'}</div>
      {props.sub ? <div class="stat-sub">{props.sub}</div> : null}
    </div>
  );
}

export function Failure(props: { failure: ApiFailure | undefined; what?: string }) {
  if (!props.failure) return null;
  const unimplemented = props.failure.kind === 'unimplemented';
  return (
    <div class={`notice ${unimplemented ? 'info' : 'danger'}`} role="alert">
      {props.what ? <strong>{props.what}: </strong> : null}
      {props.failure.message}
    </div>
  );
}

export function Empty(props: { children: ComponentChildren; busy?: boolean }) {
  return (
    <p class="empty" aria-busy={props.busy ? 'true' : undefined}>
      {props.children}
    </p>
  );
}

/**
 * Newer/older buttons over keyset page tokens kept in the URL (`?page=`): `history` holds the
 * tokens of the pages before this one (the page owns it, so a new filter can reset it).
 */
export function Pager(props: { pageToken: string; nextPageToken: string | undefined; history: string[]; setHistory: (h: string[]) => void; go: (page: string | undefined) => void }) {
  const { pageToken, history } = props;
  return (
    <nav class="pager" aria-label="Pages">
      <button
        type="button"
        disabled={!pageToken}
        onClick={() => {
          props.go(history[history.length - 1] || undefined);
          props.setHistory(history.slice(0, -1));
        }}
      >
        ← Newer
      </button>
      <button
        type="button"
        disabled={!props.nextPageToken}
        onClick={() => {
          props.setHistory([...history, pageToken]);
          props.go(props.nextPageToken);
        }}
      >
        Older →
      </button>
    </nav>
  );
}

/** Re-runs a page's query (new rows in a log that ends now); disabled while it runs. */
export function RefreshButton(props: { loading: boolean; onRefresh: () => void }) {
  return (
    <button type="button" onClick={props.onRefresh} disabled={props.loading} aria-busy={props.loading ? 'true' : 'false'}>
      Refresh
    </button>
  );
}

/** A secret returned once by the API, with a copy button and the warning that it will not be shown again. */
export function SecretOnce(props: { label: string; secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="notice success secret" role="status">
      <p>
        <strong>{props.label}</strong> — copy it now; it is not shown again.
      </p>
      <code class="secret-value" data-testid="secret">
        {props.secret}
      </code>
      <div class="row">
        <button
          type="button"
          onClick={() => {
            void navigator.clipboard?.writeText(props.secret).then(() => setCopied(true));
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={props.onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

export interface Column<T> {
  label: string;
  render: (row: T) => ComponentChildren;
  numeric?: boolean;
}

/**
 * A data table; `busy` (while its rows load) sets `aria-busy` on the table,
 * or on the empty-state notice when there are no rows yet.
 */
export function Table<T>(props: { label: string; columns: Column<T>[]; rows: T[]; rowKey: (row: T) => string; onRow?: (row: T) => void; empty?: string; busy?: boolean }) {
  if (props.rows.length === 0) return <Empty busy={props.busy}>{props.empty ?? 'Nothing here yet.'}</Empty>;
  return (
    <div class="table-wrap">
      <table aria-label={props.label} aria-busy={props.busy ? 'true' : 'false'}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c.label} scope="col" class={c.numeric ? 'num' : undefined}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr
              key={props.rowKey(row)}
              class={props.onRow ? 'clickable' : undefined}
              tabIndex={props.onRow ? 0 : undefined}
              onClick={props.onRow ? () => props.onRow!(row) : undefined}
              onKeyDown={
                props.onRow
                  ? (e) => {
                      if (e.key === 'Enter') props.onRow!(row);
                    }
                  : undefined
              }
            >
              {props.columns.map((c) => (
                <td key={c.label} class={c.numeric ? 'num' : undefined}>
                  {c.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Tabs(props: { label: string; tabs: { id: string; label: string; body: () => ComponentChildren }[]; initial?: string }) {
  const [active, setActive] = useState(props.initial ?? props.tabs[0]?.id ?? '');
  const current = props.tabs.find((t) => t.id === active) ?? props.tabs[0];
  return (
    <div class="tabs">
      <div role="tablist" aria-label={props.label}>
        {props.tabs.map((t, i) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={t.id === current?.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={t.id === current?.id ? 0 : -1}
            onClick={() => setActive(t.id)}
            onKeyDown={(e) => {
              const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
              if (!step) return;
              const next = props.tabs[(i + step + props.tabs.length) % props.tabs.length]!;
              setActive(next.id);
              (e.currentTarget.parentElement?.querySelector(`#tab-${next.id}`) as HTMLElement | null)?.focus();
            }}
          >
            {t.label}
          </button>
        ))}
      </div>
      {current ? (
        <div role="tabpanel" id={`panel-${current.id}`} aria-labelledby={`tab-${current.id}`} tabIndex={0}>
          {current.body()}
        </div>
      ) : null}
    </div>
  );
}

export function Badge(props: { tone?: 'ok' | 'warn' | 'bad' | 'muted'; children: ComponentChildren }) {
  return <span class={`badge ${props.tone ?? 'muted'}`}>{props.children}</span>;
}

export function Json(props: { value: unknown }) {
  if (props.value === undefined || props.value === null) return <Empty>Not recorded.</Empty>;
  return <pre class="json">{JSON.stringify(props.value, null, 2)}</pre>;
}

/** Confirms a destructive action inline (no modal): first click arms, second confirms. */
export function DangerButton(props: { label: string; onConfirm: () => void | Promise<void> }) {
  const [armed, setArmed] = useState(false);
  return (
    <button
      type="button"
      class={armed ? 'danger armed' : 'danger'}
      onBlur={() => setArmed(false)}
      onClick={() => {
        if (!armed) return setArmed(true);
        setArmed(false);
        void props.onConfirm();
      }}
    >
      {armed ? `Confirm ${props.label.toLowerCase()}` : props.label}
    </button>
  );
}

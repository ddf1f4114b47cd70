/**
 * Form controls with labels and the API's field-level errors. A `<Form>`
 * runs its submit action and keeps the failure; each control names the proto
 * field path it edits (`provider.base_url`) and shows the violations of that
 * path under itself (`aria-invalid`, `aria-describedby`). Violations no
 * control claims, and errors that are not about fields, are listed at the
 * bottom of the form next to the submit button.
 */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useContext, useRef, useState } from 'preact/hooks';
import { fieldMatches, toFailure, type ApiFailure, type FieldError } from '../api';

interface FormState {
  failure: ApiFailure | undefined;
  claimed: Set<string>;
  prefix: string;
}

const FormContext = createContext<FormState>({ failure: undefined, claimed: new Set(), prefix: '' });

let nextId = 0;
function useId(name: string): string {
  const ref = useRef<string | undefined>(undefined);
  if (!ref.current) ref.current = `f${++nextId}-${name.replace(/[^a-z0-9]+/gi, '-')}`;
  return ref.current;
}

/** The violations at `name` (exactly, or under it when `nested`), and marks them claimed. */
function useFieldErrors(name: string | undefined, nested = false): FieldError[] {
  const ctx = useContext(FormContext);
  if (!name || !ctx.failure) return [];
  ctx.claimed.add(nested ? `${name}*` : name);
  return ctx.failure.fields.filter((f) => (nested ? fieldMatches(f.field, name) : f.field === name));
}

export interface SubmitState {
  busy: boolean;
  failure: ApiFailure | undefined;
  /** Runs `action`; a thrown API error becomes `failure`. Resolves to whether it succeeded. */
  run(action: () => Promise<unknown>): Promise<boolean>;
  clear(): void;
}

export function useSubmit(): SubmitState {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<ApiFailure>();
  return {
    busy,
    failure,
    clear: () => setFailure(undefined),
    async run(action) {
      setBusy(true);
      setFailure(undefined);
      try {
        await action();
        return true;
      } catch (err) {
        setFailure(toFailure(err));
        return false;
      } finally {
        setBusy(false);
      }
    },
  };
}

export function Form(props: {
  submit: SubmitState;
  onSubmit: () => Promise<unknown>;
  label: string;
  submitLabel: string;
  children: ComponentChildren;
  extraActions?: ComponentChildren;
}) {
  const claimed = new Set<string>();
  const state: FormState = { failure: props.submit.failure, claimed, prefix: '' };
  return (
    <FormContext.Provider value={state}>
      <form
        class="form"
        aria-label={props.label}
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void props.submit.run(props.onSubmit);
        }}
      >
        {props.children}
        <div class="form-actions">
          <button type="submit" class="primary" disabled={props.submit.busy}>
            {props.submit.busy ? 'Saving…' : props.submitLabel}
          </button>
          {props.extraActions}
        </div>
        <FormSummary />
      </form>
    </FormContext.Provider>
  );
}

/** Errors no control showed, and the message of a failure that is not about fields. */
function FormSummary() {
  const ctx = useContext(FormContext);
  const failure = ctx.failure;
  if (!failure) return null;
  const isClaimed = (field: string) =>
    [...ctx.claimed].some((c) => (c.endsWith('*') ? fieldMatches(field, c.slice(0, -1)) : c === field));
  const rest = failure.fields.filter((f) => !isClaimed(f.field));
  if (failure.fields.length > 0 && rest.length === 0) {
    return (
      <p class="form-error" role="alert">
        Fix the highlighted {failure.fields.length === 1 ? 'field' : `${failure.fields.length} fields`}.
      </p>
    );
  }
  return (
    <div class="form-error" role="alert">
      {failure.fields.length === 0 ? <p>{failure.message}</p> : null}
      {rest.length > 0 ? (
        <ul>
          {rest.map((f) => (
            <li key={f.field}>
              <code>{f.field}</code>: {f.description}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A labelled control wrapper with its hint and errors. */
export function Field(props: { label: string; name?: string; hint?: ComponentChildren; nested?: boolean; children: (id: string, describedBy: string | undefined, invalid: boolean) => ComponentChildren }) {
  const id = useId(props.name ?? props.label);
  const errors = useFieldErrors(props.name, props.nested);
  const describedBy = [props.hint ? `${id}-hint` : '', errors.length ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${errors.length ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy, errors.length > 0)}
      {props.hint ? (
        <small id={`${id}-hint`} class="hint">
          {props.hint}
        </small>
      ) : null}
      {errors.length ? (
        <small id={`${id}-err`} class="error" data-field={props.name}>
          {errors.map((e) => e.description).join('; ')}
        </small>
      ) : null}
    </div>
  );
}

interface InputProps {
  autocomplete?: string;
  disabled?: boolean;
}

export function TextInput(props: { label: string; name?: string; value: string; onValue: (v: string) => void; hint?: ComponentChildren; type?: string; placeholder?: string; required?: boolean; input?: InputProps }) {
  return (
    <Field label={props.label} name={props.name} hint={props.hint}>
      {(id, describedBy, invalid) => (
        <input
          id={id}
          type={(props.type ?? 'text') as 'text'}
          value={props.value}
          placeholder={props.placeholder}
          required={props.required}
          aria-invalid={invalid}
          aria-describedby={describedBy}
          onInput={(e) => props.onValue((e.target as HTMLInputElement).value)}
          {...props.input}
        />
      )}
    </Field>
  );
}

export function TextArea(props: { label: string; name?: string; value: string; onValue: (v: string) => void; hint?: ComponentChildren; rows?: number; placeholder?: string; mono?: boolean }) {
  return (
    <Field label={props.label} name={props.name} hint={props.hint}>
      {(id, describedBy, invalid) => (
        <textarea
          id={id}
          rows={props.rows ?? 3}
          class={props.mono ? 'mono' : undefined}
          value={props.value}
          placeholder={props.placeholder}
          aria-invalid={invalid}
          aria-describedby={describedBy}
          spellcheck={false}
          onInput={(e) => props.onValue((e.target as HTMLTextAreaElement).value)}
        />
      )}
    </Field>
  );
}

export function Select<T extends string>(props: { label: string; name?: string; value: T; onValue: (v: T) => void; options: readonly (readonly [T, string])[]; hint?: ComponentChildren }) {
  return (
    <Field label={props.label} name={props.name} hint={props.hint}>
      {(id, describedBy, invalid) => (
        <select id={id} value={props.value} aria-invalid={invalid} aria-describedby={describedBy} onChange={(e) => props.onValue((e.target as HTMLSelectElement).value as T)}>
          {props.options.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function Checkbox(props: { label: string; name?: string; checked: boolean; onValue: (v: boolean) => void; hint?: ComponentChildren }) {
  const id = useId(props.name ?? props.label);
  const errors = useFieldErrors(props.name);
  return (
    <div class={`field checkbox${errors.length ? ' invalid' : ''}`}>
      <input id={id} type="checkbox" checked={props.checked} aria-invalid={errors.length > 0} onChange={(e) => props.onValue((e.target as HTMLInputElement).checked)} />
      <label for={id}>{props.label}</label>
      {props.hint ? <small class="hint">{props.hint}</small> : null}
      {errors.length ? (
        <small class="error" data-field={props.name}>
          {errors.map((e) => e.description).join('; ')}
        </small>
      ) : null}
    </div>
  );
}

/** Shows violations under `name` (nested paths included) where no single control stands for them. */
export function FieldErrors(props: { name: string }) {
  const errors = useFieldErrors(props.name, true);
  if (!errors.length) return null;
  return (
    <ul class="error" data-field={props.name}>
      {errors.map((e) => (
        <li key={e.field}>
          <code>{e.field}</code>: {e.description}
        </li>
      ))}
    </ul>
  );
}

/** Splits a comma- or newline-separated list, dropping blanks. */
export function splitList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Parses `k=v` lines into a map. */
export function parsePairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

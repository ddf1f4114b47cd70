/**
 * A CEL expression editor: checks the expression on the server as you type
 * (`GatewayService.CheckExpression`, the same rules saving applies) and, with
 * a sample, evaluates it (`EvaluateExpression`) against variables you edit as
 * JSON. The problem's line and column are marked under the source.
 */
import { useEffect, useState } from 'preact/hooks';
import { toFailure, type ApiFailure, type ExpressionKind, type ExpressionProblem } from '../api';
import { useSession } from '../session';
import { Field } from './form';

/** A sample of the variables, as the editor starts it. */
export const SAMPLE_CONTEXT = {
  request: {
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'x-tier': 'free', 'x-user-id': 'u-42' },
    query: {},
    model: 'gpt-4o',
    body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] },
  },
  key: { id: 'key_123', name: 'ci', metadata: { team: 'search' } },
  gateway: { name: 'prod' },
  workspace: { name: 'acme' },
};

export const MCP_SAMPLE_CONTEXT = {
  tool: { server: 'github', name: 'create_issue' },
  key: { id: 'key_123', name: 'ci', metadata: { team: 'search' } },
  gateway: { name: 'prod' },
  workspace: { name: 'acme' },
};

const EMPTY_MEANS: Record<ExpressionKind, string> = {
  EXPRESSION_KIND_UNSPECIFIED: '',
  EXPRESSION_KIND_ROUTE_CONDITION: 'Empty means true: the route matches every request.',
  EXPRESSION_KIND_MODEL_SELECTOR: 'Empty means request.model.',
  EXPRESSION_KIND_LIMIT_KEY: 'A key expression is required for an expression scope.',
  EXPRESSION_KIND_MCP_AUTHORIZATION: 'Empty means every tool call is allowed.',
};

type Check = { state: 'idle' } | { state: 'checking' } | { state: 'ok' } | { state: 'problem'; problem: ExpressionProblem } | { state: 'error'; failure: ApiFailure };

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function ProblemMarker(props: { source: string; problem: ExpressionProblem }) {
  const line = props.source.split('\n')[(props.problem.line ?? 1) - 1] ?? '';
  const column = Math.max(1, props.problem.column ?? 1);
  return (
    <div class="cel-problem" role="alert" data-testid="cel-problem">
      <div>
        <strong>
          {props.problem.kind} error at {props.problem.line}:{props.problem.column}
        </strong>
        : {props.problem.message}
      </div>
      <pre aria-hidden="true">
        {line}
        {'\n'}
        {' '.repeat(Array.from(line).slice(0, column - 1).length)}^
      </pre>
    </div>
  );
}

export function CelEditor(props: { label: string; name?: string; kind: ExpressionKind; value: string; onValue: (v: string) => void; withSample?: boolean; rows?: number }) {
  const { client } = useSession();
  const [check, setCheck] = useState<Check>({ state: 'idle' });
  const source = useDebounced(props.value, 250);

  useEffect(() => {
    if (!source.trim()) return setCheck({ state: 'idle' });
    let live = true;
    setCheck({ state: 'checking' });
    client.gateway.checkExpression.mutate({ expression: source, kind: props.kind }).then(
      (out) => live && setCheck(out.problem ? { state: 'problem', problem: out.problem } : { state: 'ok' }),
      (err: unknown) => live && setCheck({ state: 'error', failure: toFailure(err) }),
    );
    return () => {
      live = false;
    };
  }, [source, props.kind, client]);

  return (
    <div class="cel-editor">
      <Field label={props.label} name={props.name} hint={!props.value.trim() ? EMPTY_MEANS[props.kind] : undefined}>
        {(id, describedBy, invalid) => (
          <textarea
            id={id}
            class="mono"
            rows={props.rows ?? 2}
            spellcheck={false}
            value={props.value}
            aria-invalid={invalid || check.state === 'problem'}
            aria-describedby={describedBy}
            onInput={(e) => props.onValue((e.target as HTMLTextAreaElement).value)}
          />
        )}
      </Field>
      <div class="cel-status" aria-live="polite">
        {check.state === 'checking' ? <span class="muted">checking…</span> : null}
        {check.state === 'ok' ? (
          <span class="ok" data-testid="cel-ok">
            ✓ valid
          </span>
        ) : null}
        {check.state === 'problem' ? <ProblemMarker source={source} problem={check.problem} /> : null}
        {check.state === 'error' ? <span class="error">{check.failure.fields.map((f) => `${f.field}: ${f.description}`).join('; ') || check.failure.message}</span> : null}
      </div>
      {props.withSample ? <SampleEvaluation expression={props.value} kind={props.kind} /> : null}
    </div>
  );
}

type Evaluation =
  | { state: 'idle' }
  | { state: 'result'; value: unknown }
  | { state: 'runtime'; error: string }
  | { state: 'problem'; problem: ExpressionProblem }
  | { state: 'failure'; failure: ApiFailure }
  | { state: 'json'; error: string };

function SampleEvaluation(props: { expression: string; kind: ExpressionKind }) {
  const { client } = useSession();
  const mcp = props.kind === 'EXPRESSION_KIND_MCP_AUTHORIZATION';
  const [sample, setSample] = useState(() => JSON.stringify(mcp ? MCP_SAMPLE_CONTEXT : SAMPLE_CONTEXT, null, 2));
  useEffect(() => setSample(JSON.stringify(mcp ? MCP_SAMPLE_CONTEXT : SAMPLE_CONTEXT, null, 2)), [mcp]);
  const [evaluation, setEvaluation] = useState<Evaluation>({ state: 'idle' });
  const inputs = useDebounced({ expression: props.expression, sample }, 300);

  useEffect(() => {
    if (!inputs.expression.trim()) return setEvaluation({ state: 'idle' });
    let context: unknown;
    try {
      context = JSON.parse(inputs.sample);
    } catch (err) {
      return setEvaluation({ state: 'json', error: (err as Error).message });
    }
    if (typeof context !== 'object' || context === null || Array.isArray(context)) return setEvaluation({ state: 'json', error: 'the sample must be a JSON object' });
    let live = true;
    client.gateway.evaluateExpression.mutate({ expression: inputs.expression, kind: props.kind, context: context as Record<string, never> }).then(
      (out) => {
        if (!live) return;
        if (out.problem) setEvaluation({ state: 'problem', problem: out.problem });
        else if (out.error) setEvaluation({ state: 'runtime', error: out.error });
        else setEvaluation({ state: 'result', value: out.result });
      },
      (err: unknown) => live && setEvaluation({ state: 'failure', failure: toFailure(err) }),
    );
    return () => {
      live = false;
    };
  }, [inputs, props.kind, client]);

  return (
    <div class="cel-sample">
      <div class="field">
        <label for="cel-sample">Sample {mcp ? 'tool call' : 'request'} (JSON)</label>
        <textarea id="cel-sample" class="mono" rows={12} spellcheck={false} value={sample} onInput={(e) => setSample((e.target as HTMLTextAreaElement).value)} />
      </div>
      <div class="cel-result" aria-live="polite" data-testid="cel-result">
        <strong>Result: </strong>
        {evaluation.state === 'idle' ? <span class="muted">enter an expression</span> : null}
        {evaluation.state === 'result' ? <code>{JSON.stringify(evaluation.value)}</code> : null}
        {evaluation.state === 'runtime' ? <span class="error">runtime error: {evaluation.error}</span> : null}
        {evaluation.state === 'problem' ? <span class="error">not evaluated: the expression is invalid</span> : null}
        {evaluation.state === 'json' ? <span class="error">sample is not valid JSON: {evaluation.error}</span> : null}
        {evaluation.state === 'failure' ? (
          <span class="error">{evaluation.failure.fields.map((f) => `${f.field}: ${f.description}`).join('; ') || evaluation.failure.message}</span>
        ) : null}
      </div>
    </div>
  );
}

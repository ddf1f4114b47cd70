/** A CEL playground: write an expression of any kind and evaluate it against a sample you edit. */
import { useState } from 'preact/hooks';
import type { ExpressionKind } from '../api';
import { CelEditor } from '../components/cel-editor';
import { Select } from '../components/form';
import { Card, Page } from '../components/ui';

const KINDS = [
  ['EXPRESSION_KIND_ROUTE_CONDITION', 'Route condition (bool)'],
  ['EXPRESSION_KIND_MODEL_SELECTOR', 'Model selector (string)'],
  ['EXPRESSION_KIND_LIMIT_KEY', 'Limit key (string, number or bool)'],
  ['EXPRESSION_KIND_MCP_AUTHORIZATION', 'MCP authorization (bool)'],
] as const;

export function CelPage() {
  const [kind, setKind] = useState<ExpressionKind>('EXPRESSION_KIND_ROUTE_CONDITION');
  const [source, setSource] = useState('request.headers["x-tier"] == "free" && key.metadata.team == "search"');
  return (
    <Page title="CEL editor">
      <Card>
        <p class="muted">
          Variables: <code>request</code> (method, path, headers, query, body, model), <code>key</code> (id, name, metadata), <code>gateway.name</code>,{' '}
          <code>workspace.name</code>; MCP rules read <code>tool</code> (server, name) instead of <code>request</code>. Regular expressions use the linear-time{' '}
          <code>re_matches(text, pattern)</code>; <code>bucket(value, n)</code> splits traffic.
        </p>
        <Select<ExpressionKind> label="Used as" value={kind} onValue={setKind} options={KINDS} />
        <CelEditor label="Expression" kind={kind} value={source} onValue={setSource} withSample rows={3} />
      </Card>
    </Page>
  );
}

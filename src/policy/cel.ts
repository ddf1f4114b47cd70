/**
 * The CEL environment for routing conditions and model selectors. Expressions
 * are compiled once when the config snapshot is built, never per request.
 * Variables: `request` (method, path, headers with lowercase keys, query,
 * body, model), `key` (id, name, metadata), `gateway` (name), `workspace`
 * (name). A runtime error (e.g. a missing map key) is reported to the caller,
 * which treats it as "no match".
 */
import { Environment } from '@marcbachmann/cel-js';

/** The values an expression can read. */
export interface CelContext {
  request: {
    method: string;
    path: string;
    headers: Record<string, string>;
    query: Record<string, string>;
    body: unknown;
    model: string;
  };
  key: { id: string; name: string; metadata: Record<string, string> };
  gateway: { name: string };
  workspace: { name: string };
}

const env = new Environment({ unlistedVariablesAreDyn: false, limits: { maxAstNodes: 2000, maxDepth: 50 } })
  .registerVariable('request', 'map')
  .registerVariable('key', 'map')
  .registerVariable('gateway', 'map')
  .registerVariable('workspace', 'map');

/** A compiled expression. */
export interface CompiledCel {
  source: string;
  /** Whether the expression reads `request.body` (the body is parsed only then). */
  readsBody: boolean;
  evaluate(ctx: CelContext): { ok: true; value: unknown } | { ok: false; error: string };
}

/** Compiles `source`; throws with the parser's message on a syntax error. */
export function compileCel(source: string): CompiledCel {
  const program = env.parse(source);
  return {
    source,
    readsBody: /\brequest\s*\.\s*body\b|\brequest\s*\[\s*["']body["']\s*\]/.test(source),
    evaluate(ctx) {
      try {
        return { ok: true, value: program(ctx as unknown as Record<string, unknown>) };
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    },
  };
}

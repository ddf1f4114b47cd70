/**
 * Reading `sluice.yaml`: YAML parse, `${ENV}` interpolation of string values,
 * then validation. Interpolation happens on parsed scalars, never on the raw
 * text, so a secret containing `: ` or `#` cannot change the file's structure.
 * Every problem is collected and returned; nothing here throws on bad input.
 */
import { readFile } from 'node:fs/promises';
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { childPath, type ScalarSources } from './reader.js';
import { validateConfig, type SluiceConfig } from './schema.js';

/** The outcome of loading a file: a config only when there is no problem. */
export interface LoadResult {
  config?: SluiceConfig;
  /** Every problem, as `path: message` (or `file:line:col: message` for YAML syntax). */
  problems: string[];
}

/** One string after interpolation, with what was wrong in it. */
export interface Interpolated {
  value: string;
  problems: string[];
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Expands `${NAME}` and `${NAME:-default}` (default used when NAME is unset or
 * empty) from `env`; `$${` is a literal `${`. An unset NAME without a default,
 * a malformed reference or an unterminated `${` is a problem. No nesting.
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv): Interpolated {
  const problems: string[] = [];
  let value = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      value += '${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      if (end < 0) {
        problems.push('unterminated "${"; write "$${" for a literal "${"');
        value += text.slice(i);
        break;
      }
      const body = text.slice(i + 2, end);
      const m = REFERENCE.exec(body);
      if (!m?.[1]) {
        problems.push(`invalid reference "\${${body}}"; use \${NAME} or \${NAME:-default}`);
      } else {
        const set = env[m[1]];
        if (m[2] !== undefined) value += set === undefined || set === '' ? m[2] : set;
        else if (set === undefined) problems.push(`environment variable ${m[1]} is not set`);
        else value += set;
      }
      i = end + 1;
    } else {
      value += text[i];
      i += 1;
    }
  }
  return { value, problems };
}

/** Aliases may repeat a node; more than this many expansions is treated as an alias bomb. */
const MAX_ALIAS_EXPANSIONS = 1000;

interface Plain extends ScalarSources {
  value: unknown;
  problems: string[];
}

/** Converts the YAML tree to plain values, interpolating strings and recording number sources by path. */
function toPlain(doc: Document, env: NodeJS.ProcessEnv): Plain {
  const numbers = new Map<string, string>();
  const interpolated = new Set<string>();
  const problems: string[] = [];
  const onStack = new Set<Node>();
  let expansions = 0;

  const walk = (node: unknown, path: string): unknown => {
    if (isAlias(node)) {
      const target = node.resolve(doc);
      expansions += 1;
      if (!target || onStack.has(target) || expansions > MAX_ALIAS_EXPANSIONS) {
        problems.push(`${path || '(root)'}: alias *${node.source} cannot be expanded`);
        return null;
      }
      return walk(target, path);
    }
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'number') numbers.set(path, node.source ?? String(v));
      if (typeof v !== 'string' || !v.includes('$')) return v;
      const r = interpolate(v, env);
      for (const p of r.problems) problems.push(`${path || '(root)'}: ${p}`);
      if (r.value !== v) interpolated.add(path);
      return r.value;
    }
    if (isMap(node)) {
      onStack.add(node);
      // A null prototype keeps a `__proto__` key an ordinary (unknown) key.
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const pair of node.items) {
        const key = isPair(pair) && isScalar(pair.key) ? pair.key.value : undefined;
        if (typeof key !== 'string' && typeof key !== 'number') {
          problems.push(`${path || '(root)'}: mapping keys must be plain strings`);
          continue;
        }
        out[String(key)] = walk(pair.value, childPath(path, String(key)));
      }
      onStack.delete(node);
      return out;
    }
    if (isSeq(node)) {
      onStack.add(node);
      const out = node.items.map((item, i) => walk(item, childPath(path, i)));
      onStack.delete(node);
      return out;
    }
    return null;
  };

  const value = walk(doc.contents, '');
  return { value, numbers, interpolated, problems };
}

/**
 * Loads a config from text. `sourceName` (usually the file path) prefixes
 * YAML syntax errors. Returns every problem; `config` is set only when there
 * is none.
 */
export function loadConfigText(text: string, env: NodeJS.ProcessEnv, sourceName: string): LoadResult {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, strict: true });
  const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0];
    const where = pos ? `${sourceName}:${pos.line}:${pos.col}` : sourceName;
    // With prettyErrors the message carries a source excerpt after the first line.
    return `${where}: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? e.code}`;
  });
  if (yamlProblems.length > 0) return { problems: yamlProblems };
  const plain = toPlain(doc, env);
  const { config, problems } = validateConfig(plain.value, plain);
  // A value whose interpolation failed is reported once, not again by validation.
  const failed = plain.problems.map((p) => `${p.split(': ')[0]}: `);
  const all = [...plain.problems, ...problems.filter((p) => !failed.some((f) => p.startsWith(f)))];
  return all.length > 0 ? { problems: all } : { config, problems: [] };
}

/** Reads and loads the file at `path`; an unreadable file is one problem, not an exception. */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
    return { problems: [`${path}: cannot read the file (${reason})`] };
  }
  return loadConfigText(text, env, path);
}

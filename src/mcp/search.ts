/**
 * Tool search for deferred loading (`search_tools`): BM25 ranking (MiniSearch,
 * BM25+ with prefix and light fuzzy matching) over each tool's name, server,
 * description and the text of its input schema (property names,
 * descriptions, enum values), or a linear-time regular expression (RE2,
 * via re2js) over the same text.
 *
 * An index is built once per tool-list change, never per call: the cache
 * keeps the last index of each gateway with the identity of the upstream
 * lists it was built from (the upstream sessions hand out the same list
 * objects until a list changes).
 */
import { createHash } from 'node:crypto';
import MiniSearch from 'minisearch';
import { RE2JS } from 're2js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';

/** A tool as the gateway exposes it, with the server it belongs to. */
export interface IndexedTool {
  tool: Tool;
  server: string;
}

/** One search hit. */
export interface ToolHit {
  tool: Tool;
  server: string;
  score: number;
}

/** Longest regular expression accepted. */
export const MAX_PATTERN_LENGTH = 1000;
/** Most hits one search returns. */
export const MAX_RESULTS = 50;

const SCHEMA_TEXT_LIMIT = 4000;
const STOP_WORDS = new Set(['a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'for', 'from', 'in', 'into', 'is', 'it', 'of', 'on', 'or', 'the', 'this', 'to', 'with']);

/** Splits `snake_case`, `kebab-case`, `camelCase` and punctuation into lowercase words. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0 && !STOP_WORDS.has(w));
}

/** Property names, descriptions, titles and enum values of a JSON schema, depth-bounded. */
export function schemaText(schema: unknown, depth = 0, out: string[] = []): string[] {
  if (depth > 6 || !schema || typeof schema !== 'object') return out;
  const s = schema as Record<string, unknown>;
  for (const key of ['description', 'title']) if (typeof s[key] === 'string') out.push(s[key]);
  if (Array.isArray(s.enum)) out.push(...s.enum.filter((v): v is string => typeof v === 'string'));
  if (s.properties && typeof s.properties === 'object') {
    for (const [name, prop] of Object.entries(s.properties as Record<string, unknown>)) {
      out.push(name);
      schemaText(prop, depth + 1, out);
    }
  }
  for (const key of ['items', 'additionalProperties']) schemaText(s[key], depth + 1, out);
  for (const key of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(s[key])) for (const sub of s[key]) schemaText(sub, depth + 1, out);
  return out;
}

interface Doc {
  id: number;
  name: string;
  server: string;
  description: string;
  schema: string;
}

/** A search index over one tool list. Immutable once built. */
export class ToolIndex {
  private readonly search: MiniSearch<Doc>;
  private readonly docs: Doc[];

  constructor(readonly tools: readonly IndexedTool[]) {
    this.docs = tools.map(({ tool, server }, id) => ({
      id,
      name: tool.name,
      server,
      description: [tool.title, tool.description, tool.annotations?.title].filter(Boolean).join(' '),
      schema: schemaText(tool.inputSchema).join(' ').slice(0, SCHEMA_TEXT_LIMIT),
    }));
    this.search = new MiniSearch<Doc>({
      fields: ['name', 'server', 'description', 'schema'],
      tokenize: words,
      processTerm: (term) => term,
      searchOptions: { boost: { name: 3, server: 1.5, description: 1.5, schema: 1 }, prefix: (term) => term.length >= 3, fuzzy: (term) => (term.length >= 5 ? 0.2 : false), combineWith: 'OR' },
    });
    this.search.addAll(this.docs);
  }

  /** BM25-ranked tools for a natural-language query, best first. */
  query(text: string, options: { server?: string; limit: number }): ToolHit[] {
    if (!words(text).length) return [];
    const hits = this.search.search(text, options.server ? { filter: (r) => this.docs[r.id as number]!.server === options.server } : {});
    return hits.slice(0, options.limit).map((h) => ({ ...this.tools[h.id as number]!, score: Math.round(h.score * 1000) / 1000 }));
  }

  /**
   * Tools whose name, description or schema text matches `pattern` (RE2
   * syntax, case-insensitive), ranked: name matches first, then
   * description, then schema; ties keep list order. Throws `SyntaxError`
   * with RE2's reason for an invalid pattern.
   */
  regex(pattern: string, options: { server?: string; limit: number }): ToolHit[] {
    let re: RE2JS;
    try {
      re = RE2JS.compile(pattern, RE2JS.CASE_INSENSITIVE);
    } catch (err) {
      throw new SyntaxError(`invalid regular expression: ${err instanceof Error ? err.message : String(err)}`);
    }
    const hits: ToolHit[] = [];
    this.docs.forEach((doc, i) => {
      if (options.server && doc.server !== options.server) return;
      const score = re.matcher(doc.name).find() ? 3 : re.matcher(doc.description).find() ? 2 : re.matcher(doc.schema).find() ? 1 : 0;
      if (score) hits.push({ ...this.tools[i]!, score });
    });
    return hits.sort((a, b) => b.score - a.score).slice(0, options.limit);
  }
}

/** Indexes kept (one per gateway, or per gateway and key when an authorization rule shapes what a key sees). */
const MAX_CACHED_INDEXES = 256;

/**
 * The last index per cache id, reused while the lists it was built from are
 * the same objects; when they are new objects with the same content (a list
 * re-fetched after its cache age), the index is kept too.
 */
export class ToolIndexCache {
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private readonly last = new Map<string, { key: string; digest: string; index: ToolIndex }>();
  /** Indexes built so far (for tests: proves an index is not rebuilt per call). */
  builds = 0;

  private idOf(list: object): number {
    let id = this.ids.get(list);
    if (id === undefined) this.ids.set(list, (id = ++this.nextId));
    return id;
  }

  /** The index for `cacheId` over `lists`; `build` makes the visible tool list when the lists changed. */
  get(cacheId: string, lists: readonly object[], build: () => IndexedTool[]): ToolIndex {
    const key = lists.map((l) => this.idOf(l)).join(',');
    const hit = this.last.get(cacheId);
    if (hit?.key === key) return hit.index;
    const tools = build();
    const digest = createHash('sha256').update(JSON.stringify(tools)).digest('hex');
    let index = hit?.digest === digest ? hit.index : undefined;
    if (!index) {
      index = new ToolIndex(tools);
      this.builds++;
    }
    this.last.delete(cacheId);
    this.last.set(cacheId, { key, digest, index });
    if (this.last.size > MAX_CACHED_INDEXES) this.last.delete(this.last.keys().next().value as string);
    return index;
  }
}

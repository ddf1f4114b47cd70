/**
 * The CEL environment of Sluice (see README.md beside this file). Route
 * conditions, model selectors, limit keys and MCP authorization rules are
 * checked when they are saved (`checkCel`) and compiled once per config
 * change (`compileCel`), never per request. Compiling type-checks against
 * declared variables, rejects the backtracking `matches()` in favour of the
 * linear-time `re_matches()`, bounds the expression's size, and records which
 * variables the expression reads, so the body is handed over only when read.
 * Evaluating never throws: a runtime error (a missing map key, a bad
 * conversion) comes back as `{ ok: false, error }`, which callers treat as
 * "no match".
 */
import {
  Environment,
  EvaluationError,
  Optional,
  ParseError,
  TypeError as CelTypeError,
  type ASTNode,
  type BinaryOperator,
  type Limits,
} from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { RE2JS } from 're2js';

/** The values a request-side expression (route, model selector, limit key) can read. */
export interface CelContext {
  request: {
    method: string;
    path: string;
    /** Lowercase names; repeated headers joined with ", ". */
    headers: Record<string, string>;
    query: Record<string, string>;
    /** The parsed JSON body; only filled in when some expression of the gateway reads it. */
    body: unknown;
    /** The requested model (after the model selector, for route conditions). */
    model: string;
  };
  key: { id: string; name: string; metadata: Record<string, string> };
  gateway: { name: string };
  workspace: { name: string };
}

/** The values an MCP authorization rule can read: the calling key and the tool being called. */
export interface McpCelContext {
  key: CelContext['key'];
  /** `server` is the MCP server id, `name` the tool's own (un-namespaced) name. */
  tool: { server: string; name: string };
  gateway: CelContext['gateway'];
  workspace: CelContext['workspace'];
}

/**
 * What an expression must evaluate to: `bool` (route conditions, MCP
 * authorization), `string` (the model selector) or `key` (limit scopes: a
 * string, int, uint, double or bool, turned into a string counter key; see
 * `toCounterKey`).
 */
export type CelExpected = 'bool' | 'string' | 'key';

/** Which variables are declared: `llm` for model requests (`CelContext`), `mcp` for tool calls (`McpCelContext`). */
export type CelSurface = 'llm' | 'mcp';

/** Why an expression was rejected; match on this, not on the message. */
export type CelProblemKind = 'syntax' | 'type' | 'unknown_variable' | 'limit' | 'regex';

/** A 1-based line and column (in Unicode code points) into the expression source. */
export interface CelPosition {
  line: number;
  column: number;
}

/** A rejected expression: where and why. */
export interface CelCheckFailure {
  ok: false;
  kind: CelProblemKind;
  position: CelPosition;
  message: string;
}

/** The outcome of `checkCel`. */
export type CelCheckResult = { ok: true } | CelCheckFailure;

/** A JSON value: what untyped expressions evaluate to (integers as numbers, or decimal strings beyond 2^53). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The outcome of one evaluation; `error` is one line, prefixed with the position when known. */
export type CelResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** A compiled expression. Immutable and safe to share between concurrent requests. */
export interface CompiledCel<T = JsonValue, C = CelContext> {
  readonly source: string;
  /**
   * The variable fields the expression reads, found by walking its syntax
   * tree: `request.headers`, `key.metadata`… A variable used as a whole
   * (`cel.bind(r, request, …)`, `request[k]`) is listed by its bare name.
   */
  readonly reads: ReadonlySet<string>;
  /** Whether the expression reads `request.body` (the pipeline hands the body to CEL only then). */
  readonly readsBody: boolean;
  /** Evaluates against `ctx`; never throws. */
  evaluate(ctx: C): CelResult<T>;
}

/** Longest source accepted for route conditions, model selectors and MCP authorization rules. */
export const MAX_CEL_LENGTH = 4096;
/** Longest source accepted for a limit scope's key expression. */
export const MAX_KEY_EXPR_LENGTH = 1024;

/** Structural bounds, applied while parsing; they bound evaluation cost together with the rules in `walk`. */
const LIMITS: Limits = { maxAstNodes: 1024, maxDepth: 32, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 };

/** Compiled RE2 programs for `re_matches` patterns, most recently added last. */
const MAX_CACHED_PATTERNS = 256;
const patternCache = new Map<string, RE2JS>();

function compilePattern(pattern: string): RE2JS {
  let re = patternCache.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    // Patterns built from request data could grow the cache without bound: drop the oldest.
    if (patternCache.size >= MAX_CACHED_PATTERNS) patternCache.delete(patternCache.keys().next().value ?? '');
    patternCache.set(pattern, re);
  }
  return re;
}

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function mix(hash: number, byte: number): number {
  return Math.imul(hash ^ byte, FNV_PRIME);
}

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (a lone surrogate is
 * encoded as U+FFFD, as TextEncoder does): start at 0x811c9dc5; for each
 * byte, XOR it in, then multiply by 0x01000193 modulo 2^32. Returns an
 * unsigned 32-bit integer. Encodes on the fly: this runs on the request path.
 */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      hash = mix(hash, c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = text.charCodeAt(i + 1);
      if (c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      hash = mix(mix(hash, 0xc0 | (c >> 6)), 0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      hash = mix(mix(mix(hash, 0xe0 | (c >> 12)), 0x80 | ((c >> 6) & 0x3f)), 0x80 | (c & 0x3f));
    } else {
      hash = mix(mix(mix(mix(hash, 0xf0 | (c >> 18)), 0x80 | ((c >> 12) & 0x3f)), 0x80 | ((c >> 6) & 0x3f)), 0x80 | (c & 0x3f));
    }
  }
  return hash >>> 0;
}

/** CEL `bucket(s, n)`: `fnv1a32(s) mod n`, in [0, n). */
function bucket(text: string, n: bigint): bigint {
  if (n <= 0n) throw new EvaluationError(`bucket(): n must be positive, got ${n}`);
  return BigInt(fnv1a32(text)) % n;
}

/** CEL `re_matches(text, pattern)`: whether RE2 `pattern` matches anywhere in `text` (as CEL's `matches`). */
function reMatches(text: string, pattern: string): boolean {
  let re: RE2JS;
  try {
    re = compilePattern(pattern);
  } catch (err) {
    throw new EvaluationError(`re_matches(): invalid pattern: ${errorText(err)}`);
  }
  return re.test(text);
}

/**
 * Typed views of the context, built per evaluation. The library finds a
 * value's declared CEL type by its constructor; plain objects would instead
 * go through its generic converter, which halves the evaluation rate.
 */
abstract class CelRecord {}

class RequestRecord extends CelRecord {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly query: Record<string, string>;
  readonly body: unknown;
  readonly model: string;

  constructor(r: CelContext['request']) {
    super();
    this.method = r.method;
    this.path = r.path;
    this.headers = r.headers;
    this.query = r.query;
    this.body = r.body;
    this.model = r.model;
  }
}

class KeyRecord extends CelRecord {
  readonly id: string;
  readonly name: string;
  readonly metadata: Record<string, string>;

  constructor(k: CelContext['key']) {
    super();
    this.id = k.id;
    this.name = k.name;
    this.metadata = k.metadata;
  }
}

/** `gateway` and `workspace`. */
class NameRecord extends CelRecord {
  readonly name: string;

  constructor(v: { name: string }) {
    super();
    this.name = v.name;
  }
}

class ToolRecord extends CelRecord {
  readonly server: string;
  readonly name: string;

  constructor(t: McpCelContext['tool']) {
    super();
    this.server = t.server;
    this.name = t.name;
  }
}

const base = new Environment({ unlistedVariablesAreDyn: false, enableOptionalTypes: true, limits: LIMITS })
  // `async: false` keeps evaluation synchronous: the library treats handlers as async unless told.
  .registerFunction('bucket(string, int): int', bucket, { async: false, description: 'FNV-1a 32-bit hash of the UTF-8 bytes, modulo n' })
  .registerFunction('re_matches(string, string): bool', reMatches, { async: false, description: 'RE2 partial match, linear time' })
  .registerType('sluice.Key', { ctor: KeyRecord, fields: { id: 'string', name: 'string', metadata: 'map<string, string>' } })
  .registerType('sluice.Name', { ctor: NameRecord, fields: { name: 'string' } })
  .registerVariable('key', 'sluice.Key')
  .registerVariable('gateway', 'sluice.Name')
  .registerVariable('workspace', 'sluice.Name');

interface Surface {
  env: Environment;
  variables: ReadonlySet<string>;
  /** The evaluation context of the library: one record per variable. */
  records(ctx: CelContext & McpCelContext): Record<string, CelRecord>;
}

/** One environment per surface; `clone` freezes `base`, so nothing else can be registered on it. */
const SURFACES: Record<CelSurface, Surface> = {
  llm: {
    env: base
      .clone()
      .registerType('sluice.Request', {
        ctor: RequestRecord,
        fields: { method: 'string', path: 'string', headers: 'map<string, string>', query: 'map<string, string>', body: 'dyn', model: 'string' },
      })
      .registerVariable('request', 'sluice.Request'),
    variables: new Set(['request', 'key', 'gateway', 'workspace']),
    records: (ctx) => ({
      request: new RequestRecord(ctx.request),
      key: new KeyRecord(ctx.key),
      gateway: new NameRecord(ctx.gateway),
      workspace: new NameRecord(ctx.workspace),
    }),
  },
  mcp: {
    env: base.clone().registerType('sluice.Tool', { ctor: ToolRecord, fields: { server: 'string', name: 'string' } }).registerVariable('tool', 'sluice.Tool'),
    variables: new Set(['tool', 'key', 'gateway', 'workspace']),
    records: (ctx) => ({ tool: new ToolRecord(ctx.tool), key: new KeyRecord(ctx.key), gateway: new NameRecord(ctx.gateway), workspace: new NameRecord(ctx.workspace) }),
  },
};

/** Checked result types each expectation accepts; `dyn` is checked again at run time. */
const ACCEPTED_TYPES: Record<CelExpected, ReadonlySet<string>> = {
  bool: new Set(['bool', 'dyn']),
  string: new Set(['string', 'dyn']),
  key: new Set(['string', 'int', 'uint', 'double', 'bool', 'dyn']),
};

const EXPECTED_TEXT: Record<CelExpected, string> = {
  bool: 'a bool',
  string: 'a string',
  key: 'a string, int, uint, double or bool (a limit key)',
};

/** Macros that bind an iteration variable in their later arguments. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

type OperatorNode = Extract<ASTNode, { op: BinaryOperator | '&&' | '||' | '?:' }>;

const OPERATORS: ReadonlySet<string> = new Set<OperatorNode['op']>(['==', '!=', 'in', '+', '-', '*', '/', '%', '<', '<=', '>', '>=', '&&', '||', '?:']);

function isOperator(node: ASTNode): node is OperatorNode {
  return OPERATORS.has(node.op);
}

const UNSAFE_MATCHES = 'matches() may backtrack catastrophically; use re_matches(text, pattern) (RE2 syntax, linear time)';

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The 1-based line and code-point column of UTF-16 `offset` in `source`. */
function positionAt(source: string, offset: number): CelPosition {
  const before = source.slice(0, Math.max(0, Math.min(offset, source.length)));
  const lineStart = before.lastIndexOf('\n') + 1;
  let line = 1;
  for (let i = before.indexOf('\n'); i !== -1; i = before.indexOf('\n', i + 1)) line++;
  return { line, column: [...before.slice(lineStart)].length + 1 };
}

/** Skips whitespace, closing parentheses and `//` comments from `i`. */
function skipTrivia(source: string, i: number): number {
  while (i < source.length) {
    const c = source[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === ')') i++;
    else if (source.startsWith('//', i)) i = source.indexOf('\n', i) === -1 ? source.length : source.indexOf('\n', i);
    else break;
  }
  return i;
}

/**
 * Where to point for an error at `node`. The library anchors operators and
 * method calls at their first operand; the operator (or method name) is where
 * a reader looks, as in cel-go.
 */
function anchorOf(source: string, node: ASTNode): number {
  if (isOperator(node)) return skipTrivia(source, node.args[0].end);
  if (node.op === '[]' || node.op === '[?]') return skipTrivia(source, node.args[0].end);
  if (node.op === 'rcall') {
    const dot = skipTrivia(source, node.args[1].end);
    return source[dot] === '.' ? skipTrivia(source, dot + 1) : dot;
  }
  return node.pos;
}

function isAstNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value && 'pos' in value;
}

/** Offset of a library error: the refined anchor of its node, or its range. */
function errorOffset(source: string, err: ParseError | CelTypeError | EvaluationError): number | undefined {
  const node: unknown = err.node;
  if (isAstNode(node)) return anchorOf(source, node);
  return err.node?.pos ?? err.range?.start;
}

function failure(kind: CelProblemKind, source: string, offset: number, message: string): CelCheckFailure {
  return { ok: false, kind, position: positionAt(source, offset), message };
}

/** Formats a rejection as `line:column: message`, the form used in API violations and `sluice.yaml` problems. */
export function formatCelProblem(problem: CelCheckFailure): string {
  return `${problem.position.line}:${problem.position.column}: ${problem.message}`;
}

function libraryFailure(source: string, err: unknown): CelCheckFailure {
  if (err instanceof ParseError || err instanceof CelTypeError) {
    const kind: CelProblemKind =
      err instanceof ParseError ? (err.code === 'limit_exceeded' ? 'limit' : 'syntax') : err.code === 'unknown_variable' ? 'unknown_variable' : 'type';
    return failure(kind, source, errorOffset(source, err) ?? 0, err.summary);
  }
  return failure('syntax', source, 0, errorText(err));
}

/** What the walk learns about an expression. */
interface WalkResult {
  reads: Set<string>;
  problem?: CelCheckFailure;
}

/**
 * Walks the syntax tree once. Records the variable fields read (honouring
 * names bound by comprehensions and `cel.bind`, which shadow variables) and
 * rejects what the type checker cannot: `matches()` (JavaScript's
 * backtracking RegExp underneath), `re_matches` with an invalid literal
 * pattern, and a comprehension nested in another that ranges over anything
 * but part of an enclosing element or a literal, whose cost would multiply.
 */
function walk(source: string, root: ASTNode, variables: ReadonlySet<string>): WalkResult {
  const result: WalkResult = { reads: new Set() };
  const reject = (kind: CelProblemKind, node: ASTNode, message: string) => {
    result.problem ??= failure(kind, source, anchorOf(source, node), message);
  };

  /** `bound`: names that shadow variables; `elements`: iteration variables of enclosing comprehensions (undefined outside any). */
  const visit = (node: ASTNode, bound: ReadonlySet<string>, elements: ReadonlySet<string> | undefined): void => {
    switch (node.op) {
      case 'value':
        return;
      case 'id':
        if (variables.has(node.args) && !bound.has(node.args)) result.reads.add(node.args);
        return;
      case '.':
      case '.?':
      case '[]':
      case '[?]':
        return visitAccess(node, bound, elements);
      case 'call': {
        const [name, args] = node.args;
        if (name === 'matches') reject('regex', node, UNSAFE_MATCHES);
        if (name === 're_matches') checkLiteralPattern(args[1]);
        for (const arg of args) visit(arg, bound, elements);
        return;
      }
      case 'rcall':
        return visitMethod(node, bound, elements);
      case 'list':
        for (const item of node.args) visit(item, bound, elements);
        return;
      case 'map':
        for (const [k, v] of node.args) {
          visit(k, bound, elements);
          visit(v, bound, elements);
        }
        return;
      case '!_':
      case '-_':
        return visit(node.args, bound, elements);
      default:
        for (const arg of node.args) visit(arg, bound, elements);
    }
  };

  const checkLiteralPattern = (pattern: ASTNode | undefined): void => {
    if (pattern?.op !== 'value' || typeof pattern.args !== 'string') return;
    try {
      compilePattern(pattern.args);
    } catch (err) {
      reject('regex', pattern, `invalid RE2 pattern: ${errorText(err)}`);
    }
  };

  /** `a.b`, `a["b"]` and their optional forms: a variable followed by a literal field is recorded as `variable.field`. */
  const visitAccess = (node: ASTNode, bound: ReadonlySet<string>, elements: ReadonlySet<string> | undefined): void => {
    const chain: AccessNode[] = [];
    let target: ASTNode = node;
    while (isAccess(target)) {
      chain.push(target);
      target = target.args[0];
    }
    for (const access of chain) if (access.op === '[]' || access.op === '[?]') visit(access.args[1], bound, elements);
    const first = chain[chain.length - 1];
    if (target.op !== 'id' || !first || !variables.has(target.args) || bound.has(target.args)) return visit(target, bound, elements);
    const field = first.op === '.' || first.op === '.?' ? first.args[1] : first.args[1].op === 'value' ? first.args[1].args : undefined;
    result.reads.add(typeof field === 'string' ? `${target.args}.${field}` : target.args);
  };

  const visitMethod = (node: Extract<ASTNode, { op: 'rcall' }>, bound: ReadonlySet<string>, elements: ReadonlySet<string> | undefined): void => {
    const [name, receiver, args] = node.args;
    const iterVar = args[0]?.op === 'id' ? args[0].args : undefined;
    if (name === 'matches') reject('regex', node, UNSAFE_MATCHES);
    if (COMPREHENSIONS.has(name) && iterVar !== undefined && args.length >= 2) {
      if (elements && !isLiteral(receiver) && !elements.has(rootName(receiver) ?? '')) {
        reject('limit', node, 'a comprehension inside another must range over part of the enclosing element or over a literal, so its cost stays linear');
      }
      visit(receiver, bound, elements);
      const inner = new Set(bound).add(iterVar);
      const innerElements = new Set(elements).add(iterVar);
      for (const arg of args.slice(1)) visit(arg, inner, innerElements);
      return;
    }
    if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel' && iterVar !== undefined && args.length === 3) {
      visit(args[1]!, bound, elements);
      visit(args[2]!, new Set(bound).add(iterVar), elements);
      return;
    }
    visit(receiver, bound, elements);
    for (const arg of args) visit(arg, bound, elements);
  };

  visit(root, new Set(), undefined);
  return result;
}

type AccessNode = Extract<ASTNode, { op: '.' | '.?' | '[]' | '[?]' }>;

function isAccess(node: ASTNode): node is AccessNode {
  return node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]';
}

function isLiteral(node: ASTNode): boolean {
  return node.op === 'list' || node.op === 'map';
}

/** The identifier an access chain starts from (`m` for `m.content[0]`). */
function rootName(node: ASTNode): string | undefined {
  let target = node;
  while (isAccess(target)) target = target.args[0];
  return target.op === 'id' ? target.args : undefined;
}

/** A checked program with what the walk learned, or why it was rejected. */
type Analysis = { ok: true; program: (context: object) => unknown; reads: Set<string> } | CelCheckFailure;

function analyse(source: string, expected: CelExpected | undefined, surface: CelSurface): Analysis {
  const { env, variables } = SURFACES[surface];
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = env.parse(source);
  } catch (err) {
    return libraryFailure(source, err);
  }
  // Walk first: `matches(a, b)` fails the type checker with a less helpful message.
  const walked = walk(source, parsed.ast, variables);
  if (walked.problem) return walked.problem;
  // Checking once also stores the types on the tree, so evaluation skips its own per-call check.
  const checked = parsed.check();
  if (!checked.valid) return libraryFailure(source, checked.error);
  const type = checked.type ?? 'dyn';
  if (expected && !ACCEPTED_TYPES[expected].has(type)) {
    return failure('type', source, parsed.ast.start, `must evaluate to ${EXPECTED_TEXT[expected]}, got '${type}'`);
  }
  return { ok: true, program: parsed, reads: walked.reads };
}

/**
 * Checks `source` as saved by the control API and `sluice apply`: syntax,
 * types against the declared variables of `surface`, unknown variables and
 * fields, size limits, the regex rules, and that the result fits `expected`.
 * Never throws.
 */
export function checkCel(source: string, expected: CelExpected, surface: CelSurface = 'llm'): CelCheckResult {
  const analysis = analyse(source, expected, surface);
  return analysis.ok ? { ok: true } : analysis;
}

/** Thrown by `compileCel` for an expression `checkCel` would reject; the message is `line:column: reason`. */
export class CelCompileError extends Error {
  readonly kind: CelProblemKind;
  readonly position: CelPosition;
  readonly reason: string;

  constructor(problem: CelCheckFailure) {
    super(formatCelProblem(problem));
    this.name = 'CelCompileError';
    this.kind = problem.kind;
    this.position = problem.position;
    this.reason = problem.message;
  }
}

/**
 * The counter key of a limit scope value: strings as they are, integers in
 * decimal, doubles as ECMAScript's shortest round-trip form (`1.5`, `2`),
 * booleans as `true`/`false`. Anything else has no key.
 */
export function toCounterKey(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean' || value instanceof UnsignedInt) return String(value);
  return undefined;
}

function bigintJson(value: bigint): number | string {
  return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
}

/**
 * A JSON-safe copy of a CEL value: integers become numbers (decimal strings
 * beyond 2^53), maps objects, timestamps ISO strings, bytes base64, durations
 * their CEL text (`1.5s`), optionals their value or null; anything else its
 * string form.
 */
export function toJsonValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return bigintJson(value);
  if (value instanceof UnsignedInt) return bigintJson(value.value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Duration) return value.toString();
  if (value instanceof Optional) return value.hasValue() ? toJsonValue(value.value()) : null;
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJsonValue(v)]));
  if (value instanceof CelRecord || (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonValue(v)]));
  }
  return String(value);
}

function runtimeError(source: string, err: unknown): string {
  const message = err instanceof EvaluationError || err instanceof CelTypeError ? err.summary : errorText(err).split('\n')[0];
  const offset = err instanceof EvaluationError || err instanceof CelTypeError ? errorOffset(source, err) : undefined;
  if (offset === undefined) return message ?? 'evaluation failed';
  const { line, column } = positionAt(source, offset);
  return `${line}:${column}: ${message}`;
}

/** Shapes a raw result as `expected` asks (a `dyn` result is only known now). */
function finish(raw: unknown, expected: CelExpected | undefined): CelResult<JsonValue> {
  switch (expected) {
    case 'bool':
      return typeof raw === 'boolean' ? { ok: true, value: raw } : { ok: false, error: `expected a bool result, got ${typeName(raw)}` };
    case 'string':
      return typeof raw === 'string' ? { ok: true, value: raw } : { ok: false, error: `expected a string result, got ${typeName(raw)}` };
    case 'key': {
      const key = toCounterKey(raw);
      return key === undefined ? { ok: false, error: `a limit key must be a string, number or bool, got ${typeName(raw)}` } : { ok: true, value: key };
    }
    default:
      return { ok: true, value: toJsonValue(raw) };
  }
}

function typeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map || value instanceof CelRecord || Object.getPrototypeOf(value) === Object.prototype) return 'a map';
  return typeof value === 'object' ? value.constructor.name : typeof value;
}

/**
 * Compiles `source` once: parses, type-checks and walks it as `checkCel`
 * does, and throws `CelCompileError` where `checkCel` would reject. Without
 * `expected` the result type is not constrained and values come back
 * JSON-safe; with it, evaluation yields a boolean or a string (a limit key
 * per `toCounterKey`), and a `dyn` result of another type is a runtime error.
 */
export function compileCel(source: string): CompiledCel;
export function compileCel(source: string, expected: 'bool'): CompiledCel<boolean>;
export function compileCel(source: string, expected: 'string' | 'key'): CompiledCel<string>;
export function compileCel(source: string, expected: 'bool', surface: 'mcp'): CompiledCel<boolean, McpCelContext>;
export function compileCel(source: string, expected?: CelExpected, surface: CelSurface = 'llm'): CompiledCel<JsonValue, CelContext & McpCelContext> {
  const analysis = analyse(source, expected, surface);
  if (!analysis.ok) throw new CelCompileError(analysis);
  const { program, reads } = analysis;
  const { records } = SURFACES[surface];
  return {
    source,
    reads,
    readsBody: reads.has('request') || reads.has('request.body'),
    evaluate(ctx) {
      let raw: unknown;
      // A runtime error (a missing key) is an answer here, not a bug: capturing its stack would cost ≈6 µs a request.
      const stackTraceLimit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        raw = program(records(ctx));
      } catch (err) {
        return { ok: false, error: runtimeError(source, err) };
      } finally {
        Error.stackTraceLimit = stackTraceLimit;
      }
      return finish(raw, expected);
    },
  };
}

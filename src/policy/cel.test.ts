import { describe, expect, it } from 'vitest';
import { CelCompileError, checkCel, compileCel, fnv1a32, formatCelProblem, toCounterKey, toJsonValue, type CelContext, type McpCelContext } from './cel.js';

function context(overrides: { headers?: Record<string, string>; body?: unknown; model?: string; metadata?: Record<string, string> } = {}): CelContext {
  return {
    request: {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: overrides.headers ?? { 'content-type': 'application/json', 'x-user-id': 'user-1', 'x-tier': 'free' },
      query: { beta: '1' },
      body: overrides.body ?? { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: [{ type: 'image_url' }] }] },
      model: overrides.model ?? 'gpt-4o',
    },
    key: { id: 'key_1', name: 'ci', metadata: overrides.metadata ?? { team: 'ml' } },
    gateway: { name: 'prod' },
    workspace: { name: 'acme' },
  };
}

/** `line:column: message` of a rejected expression, or 'ok'. */
function problem(source: string, expected: 'bool' | 'string' | 'key' = 'bool', surface: 'llm' | 'mcp' = 'llm'): string {
  const r = checkCel(source, expected, surface);
  return r.ok ? 'ok' : formatCelProblem(r);
}

/** FNV-1a 32 computed the slow, obvious way, to check the on-the-fly encoder. */
function referenceFnv(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

describe('checkCel', () => {
  it('accepts well-typed expressions of each kind', () => {
    expect(problem('request.model.startsWith("anthropic-main/")')).toBe('ok');
    expect(problem('bucket(request.headers["x-user-id"], 100) < 20')).toBe('ok');
    expect(problem('key.metadata["team"] in ["ml", "research"] && gateway.name == "prod" && workspace.name != ""')).toBe('ok');
    expect(problem('request.body.max_tokens > 1000 || size(request.body.messages) > 20')).toBe('ok');
    expect(problem('request.headers["x-tier"] == "free" ? "openai-main/gpt-4o-mini" : request.model', 'string')).toBe('ok');
    expect(problem('request.headers[?"x-user-id"].orValue(key.id)', 'key')).toBe('ok');
    expect(problem('size(request.body.messages)', 'key')).toBe('ok');
    expect(problem('request.body.user', 'key')).toBe('ok');
    expect(problem('key.metadata["team"] == "platform" || tool.name != "deploy"', 'bool', 'mcp')).toBe('ok');
  });

  it('rejects type errors at the operator, with the reason', () => {
    expect(checkCel('request.model + 1', 'string')).toEqual({ ok: false, kind: 'type', position: { line: 1, column: 15 }, message: 'no such overload: string + int' });
    expect(problem('key.metadata.team > 3')).toBe('1:19: no such overload: string > int');
    expect(problem('request.method == "GET" &&\n  request.model')).toBe("1:25: Logical operator requires bool operands, got 'string'");
    expect(problem('request.model.size() == 5u')).toBe('1:22: no such overload: int == uint');
    expect(problem('request.model.shout()')).toBe("1:15: found no matching overload for 'string.shout()'");
    expect(problem('bucket(request.model)')).toBe("1:1: found no matching overload for 'bucket(string)'");
  });

  it('rejects unknown fields and variables, naming them', () => {
    expect(checkCel('request.nope == "x"', 'bool')).toMatchObject({ kind: 'type', position: { line: 1, column: 9 } });
    expect(problem('request.nope == "x"')).toContain('nope');
    expect(problem('key.team == "ml"')).toBe('1:5: No such key: team');
    expect(checkCel('user.id == "u"', 'bool')).toEqual({ ok: false, kind: 'unknown_variable', position: { line: 1, column: 1 }, message: 'Unknown variable: user' });
    // `tool` exists only for MCP authorization, `request` only for model requests.
    expect(checkCel('tool.name == "x"', 'bool')).toMatchObject({ kind: 'unknown_variable' });
    expect(checkCel('request.model == "x"', 'bool', 'mcp')).toMatchObject({ kind: 'unknown_variable' });
  });

  it('rejects syntax errors with line and column on multi-line and non-ASCII sources', () => {
    expect(checkCel('request.model ==', 'bool')).toEqual({ ok: false, kind: 'syntax', position: { line: 1, column: 17 }, message: 'Unexpected token: EOF' });
    expect(problem('request.model == "a" &&\n  request.path ==')).toBe('2:18: Unexpected token: EOF');
    expect(problem('"héllo" == request.model &&\n  "é" + 1 == "x"')).toBe('2:7: no such overload: string + int');
    expect(checkCel('"abc', 'bool')).toMatchObject({ kind: 'syntax' });
    expect(checkCel('', 'bool')).toMatchObject({ kind: 'syntax' });
  });

  it('requires the result type of the use: bool, string, or a scalar key', () => {
    expect(problem('request.model')).toBe("1:1: must evaluate to a bool, got 'string'");
    expect(problem('request.model == "a"', 'string')).toBe("1:1: must evaluate to a string, got 'bool'");
    expect(problem('request.headers', 'key')).toBe("1:1: must evaluate to a string, int, uint, double or bool (a limit key), got 'map<string, string>'");
    expect(problem('request.headers[?"x"]', 'key')).toMatch(/got 'optional<string>'/);
    expect(problem('[key.id]', 'key')).toMatch(/got 'list<string>'/);
    expect(problem('tool.name', 'bool', 'mcp')).toBe("1:1: must evaluate to a bool, got 'string'");
  });

  it('rejects matches() and invalid literal RE2 patterns', () => {
    expect(checkCel('request.path.matches("^/v1/(a+)+$")', 'bool')).toMatchObject({ kind: 'regex', position: { line: 1, column: 14 } });
    expect(problem('request.path.matches("^/v1/")')).toMatch(/use re_matches\(text, pattern\)/);
    expect(checkCel('matches(request.path, "x")', 'bool')).toMatchObject({ kind: 'regex' });
    expect(problem('re_matches(request.path, "^/v1/(")')).toBe('1:26: invalid RE2 pattern: error parsing regexp: missing closing ): `^/v1/(`');
    expect(problem('re_matches(request.path, "(a)\\\\1")')).toMatch(/invalid RE2 pattern: .*invalid escape sequence/);
    expect(problem('re_matches(request.path, "^/v1/(chat|messages)")')).toBe('ok');
  });

  it('bounds the cost: AST size, depth, literal sizes and nested comprehensions', () => {
    const long = Array.from({ length: 300 }, (_, i) => `request.model == "m${i}"`).join(' || ');
    expect(checkCel(long, 'bool')).toMatchObject({ kind: 'limit', message: 'Exceeded maxAstNodes (1024)' });
    expect(checkCel(`${'('.repeat(40)}true${')'.repeat(40)}`, 'bool')).toMatchObject({ kind: 'limit', message: 'Exceeded maxDepth (32)' });
    const list = `request.model in [${Array.from({ length: 257 }, (_, i) => `"m${i}"`).join(', ')}]`;
    expect(checkCel(list, 'bool')).toMatchObject({ kind: 'limit' });
    // Iterating the body inside an iteration over the body multiplies; iterating part of the element does not.
    expect(problem('request.body.messages.exists(m, request.body.messages.exists(n, n == m))')).toMatch(/^1:55: a comprehension inside another/);
    expect(problem('request.body.messages.exists(m, m.content.exists(p, p.type == "image_url"))')).toBe('ok');
    expect(problem('request.body.messages.exists(m, ["system", "developer"].exists(r, m.role == r))')).toBe('ok');
    expect(problem('request.headers.all(h, h.startsWith("x-") || h == "accept") && request.body.messages.all(m, has(m.role))')).toBe('ok');
  });
});

describe('compileCel', () => {
  it('throws a CelCompileError carrying kind, position and reason', () => {
    let caught: unknown;
    try {
      compileCel('request.model + 1', 'string');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CelCompileError);
    expect(caught).toMatchObject({ kind: 'type', position: { line: 1, column: 15 }, reason: 'no such overload: string + int', message: '1:15: no such overload: string + int' });
  });

  it('records the variable fields an expression reads, from the syntax tree', () => {
    const reads = (source: string) => [...compileCel(source).reads].sort();
    expect(reads('request.headers["x-tier"] == "a" && key.metadata.team == "b"')).toEqual(['key.metadata', 'request.headers']);
    expect(reads('has(request.body.user) && request.model != ""')).toEqual(['request.body', 'request.model']);
    expect(reads('request["body"].user == "u"')).toEqual(['request.body']);
    expect(reads('"the request.body text" == request.path')).toEqual(['request.path']);
    // Iteration and bind variables shadow the variables of the same name.
    expect(reads('[1, 2].exists(request, request == 2)')).toEqual([]);
    expect(reads('cel.bind(request, "x", request.size() > 0)')).toEqual([]);
    // A variable used whole may reach any of its fields.
    expect(reads('cel.bind(r, request, r.model == "m")')).toEqual(['request']);
    expect(reads('request.headers[request.model] == "x"')).toEqual(['request.headers', 'request.model']);
  });

  it('says exactly whether the body is read', () => {
    expect(compileCel('request.headers["x-tier"] == "premium"').readsBody).toBe(false);
    expect(compileCel('"request.body" == request.model').readsBody).toBe(false);
    expect(compileCel('request.body.max_tokens > 1000').readsBody).toBe(true);
    expect(compileCel('request.headers.exists(h, has(request.body.stream))').readsBody).toBe(true);
    expect(compileCel('[request].exists(r, r.model == "m")').readsBody).toBe(true);
    expect(compileCel('[{"body": 1}].exists(request, request.body == 1)').readsBody).toBe(false);
  });

  it('evaluates conditions, selectors and keys to plain booleans and strings', () => {
    const ctx = context();
    expect(compileCel('request.headers["x-tier"] == "free" && request.method == "POST"', 'bool').evaluate(ctx)).toEqual({ ok: true, value: true });
    expect(compileCel('request.query["beta"] == "1" && request.path.endsWith("/completions")', 'bool').evaluate(ctx)).toEqual({ ok: true, value: true });
    expect(compileCel('request.headers["x-tier"] == "free" ? "openai/gpt-4o-mini" : request.model', 'string').evaluate(ctx)).toEqual({ ok: true, value: 'openai/gpt-4o-mini' });
    expect(compileCel('key.metadata["team"] + ":" + request.model', 'key').evaluate(ctx)).toEqual({ ok: true, value: 'ml:gpt-4o' });
    expect(compileCel('request.body.messages.exists(m, m.content.exists(p, p.type == "image_url"))', 'bool').evaluate(ctx)).toEqual({ ok: true, value: true });
    // JSON numbers are doubles; comparing them with int literals works.
    expect(compileCel('request.body.max_tokens > 1000', 'bool').evaluate(ctx)).toEqual({ ok: true, value: true });
    const mcp: McpCelContext = { key: ctx.key, tool: { server: 'github', name: 'deploy' }, gateway: ctx.gateway, workspace: ctx.workspace };
    const rule = compileCel('key.metadata["team"] == "platform" || tool.name != "deploy"', 'bool', 'mcp');
    expect(rule.evaluate(mcp)).toEqual({ ok: true, value: false });
    expect(rule.evaluate({ ...mcp, key: { ...mcp.key, metadata: { team: 'platform' } } })).toEqual({ ok: true, value: true });
  });

  it('turns every scalar into a JSON-safe string key and refuses the rest at run time', () => {
    const ctx = context({ body: { user: 'u-7', n: 42, ratio: 1.5, flag: true, tags: ['a'] } });
    const key = (source: string) => compileCel(source, 'key').evaluate(ctx);
    expect(key('request.body.user')).toEqual({ ok: true, value: 'u-7' });
    expect(key('size(request.body.tags)')).toEqual({ ok: true, value: '1' });
    expect(key('9223372036854775807')).toEqual({ ok: true, value: '9223372036854775807' });
    expect(key('18446744073709551615u')).toEqual({ ok: true, value: '18446744073709551615' });
    expect(key('request.body.n')).toEqual({ ok: true, value: '42' });
    expect(key('request.body.ratio')).toEqual({ ok: true, value: '1.5' });
    expect(key('request.body.flag')).toEqual({ ok: true, value: 'true' });
    expect(key('request.body.tags')).toEqual({ ok: false, error: 'a limit key must be a string, number or bool, got a list' });
    expect(key('request.headers[?"x-team"].orValue(key.id)')).toEqual({ ok: true, value: 'key_1' });
    expect(toCounterKey(null)).toBeUndefined();
  });

  it('returns runtime errors with their position instead of throwing', () => {
    const ctx = context();
    expect(compileCel('request.headers["x-missing"] == "a"', 'bool').evaluate(ctx)).toEqual({ ok: false, error: '1:16: No such key: x-missing' });
    expect(compileCel('key.metadata.owner == "a"', 'bool').evaluate(ctx)).toEqual({ ok: false, error: '1:14: No such key: owner' });
    expect(compileCel('request.body.max_tokens + 1 > 0', 'bool').evaluate(ctx)).toEqual({ ok: false, error: '1:25: no such overload: dyn<double> + int' });
    expect(compileCel('request.body.model', 'bool').evaluate(ctx)).toEqual({ ok: false, error: 'expected a bool result, got string' });
    expect(compileCel('request.body.max_tokens', 'string').evaluate(ctx)).toEqual({ ok: false, error: 'expected a string result, got number' });
    expect(compileCel('int(request.headers["x-tier"]) > 1', 'bool').evaluate(ctx)).toMatchObject({ ok: false });
    expect(compileCel('request.body.messages[5].role == "user"', 'bool').evaluate(ctx)).toMatchObject({ ok: false });
    // A body the gateway did not parse is empty, never a crash.
    expect(compileCel('request.body.model == "x"', 'bool').evaluate(context({ body: {} }))).toEqual({ ok: false, error: '1:14: No such key: model' });
  });

  it('evaluates with stack capture off (a missing key is an answer, not a bug) and restores Error.stackTraceLimit', () => {
    const limit = Error.stackTraceLimit;
    expect(compileCel('request.headers["x-missing"] == "a"', 'bool').evaluate(context())).toEqual({ ok: false, error: '1:16: No such key: x-missing' });
    expect(Error.stackTraceLimit).toBe(limit);
    expect(compileCel('request.model == "gpt-4o"', 'bool').evaluate(context())).toMatchObject({ ok: true });
    expect(Error.stackTraceLimit).toBe(limit);
    // A function the expression calls sees the limit the evaluator set.
    let seen: number | undefined;
    const spy = compileCel('request.body.model == "x"', 'bool');
    const body = new Proxy({}, { get: () => ((seen = Error.stackTraceLimit), undefined), has: () => ((seen = Error.stackTraceLimit), false) });
    spy.evaluate(context({ body }));
    expect(seen).toBe(0);
    expect(Error.stackTraceLimit).toBe(limit);
  });

  it('makes untyped results JSON-safe: no BigInt, no Map', () => {
    expect(compileCel('{"n": 1, "big": -9007199254740993}').evaluate(context())).toEqual({ ok: true, value: { n: 1, big: '-9007199254740993' } });
    expect(compileCel('request.headers').evaluate(context({ headers: { a: 'b' } }))).toEqual({ ok: true, value: { a: 'b' } });
    const v = compileCel('[dyn(1), dyn(9007199254740993), dyn(2u), dyn(b"hi"), dyn(duration("90s")), dyn(timestamp("2026-01-01T00:00:00Z")), dyn(key), dyn(null)]').evaluate(context());
    expect(v).toEqual({ ok: true, value: [1, '9007199254740993', 2, 'aGk=', '90s', '2026-01-01T00:00:00.000Z', { id: 'key_1', name: 'ci', metadata: { team: 'ml' } }, null] });
    expect(() => JSON.stringify(v)).not.toThrow();
    expect(toJsonValue(new Map([[1n, [2n]]]))).toEqual({ 1: [2] });
  });
});

describe('bucket', () => {
  it('is FNV-1a 32 of the UTF-8 bytes (published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('encodes non-ASCII text, astral characters and lone surrogates as UTF-8 does', () => {
    const samples = ['é', '€uro', '😀 user', 'x\ud800y', '\udc00', 'a\ud83d', 'ü'.repeat(50)];
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      let s = '';
      for (let j = 0; j < 12; j++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        s += String.fromCharCode(seed % 0x10000);
      }
      samples.push(s);
    }
    for (const s of samples) expect(fnv1a32(s)).toBe(referenceFnv(s));
  });

  it('splits deterministically in [0, n) and refuses n <= 0 at run time', () => {
    const split = compileCel('bucket(request.headers["x-user-id"], 100)', 'key');
    const at = (id: string) => split.evaluate(context({ headers: { 'x-user-id': id } }));
    expect(at('foobar')).toEqual({ ok: true, value: String(0xbf9cf968 % 100) });
    expect(at('user-1')).toEqual(at('user-1'));
    const counts = new Array<number>(10).fill(0);
    const decile = compileCel('bucket(request.headers["x-user-id"], 10)', 'key');
    for (let i = 0; i < 5000; i++) {
      const r = decile.evaluate(context({ headers: { 'x-user-id': `user-${i}` } }));
      if (r.ok) counts[Number(r.value)]!++;
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5000);
    for (const c of counts) expect(c).toBeGreaterThan(400);
    expect(compileCel('bucket("x", 0) < 1', 'bool').evaluate(context())).toEqual({ ok: false, error: '1:1: bucket(): n must be positive, got 0' });
    expect(compileCel('bucket("x", -5) < 1', 'bool').evaluate(context())).toMatchObject({ ok: false });
  });
});

describe('re_matches', () => {
  it('matches anywhere in the text with RE2 syntax, like CEL matches()', () => {
    const ctx = context();
    const m = (source: string) => compileCel(source, 'bool').evaluate(ctx);
    expect(m('re_matches(request.path, "chat")')).toEqual({ ok: true, value: true });
    expect(m('re_matches(request.path, "^/v1/(chat/completions|messages)$")')).toEqual({ ok: true, value: true });
    expect(m('re_matches(request.model, "(?i)^GPT-4")')).toEqual({ ok: true, value: true });
    expect(m('re_matches(request.model, "^claude")')).toEqual({ ok: true, value: false });
    // A pattern built from request data is compiled (and cached) at run time.
    expect(m('re_matches(request.model, request.headers["x-tier"] + "(")')).toMatchObject({ ok: false, error: expect.stringContaining('invalid pattern') });
  });

  it('stays linear on a 50k-character adversarial header', () => {
    const rule = compileCel('re_matches(request.headers["x-evil"], "^(a+)+$")', 'bool');
    const evil = `${'a'.repeat(50_000)}!`;
    const started = performance.now();
    expect(rule.evaluate(context({ headers: { 'x-evil': evil } }))).toEqual({ ok: true, value: false });
    expect(rule.evaluate(context({ headers: { 'x-evil': `${evil}a` } }))).toEqual({ ok: true, value: false });
    // JavaScript's RegExp takes seconds on 30 such characters; RE2 takes milliseconds on 50,000.
    expect(performance.now() - started).toBeLessThan(250);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox, ToolCallError, type WorkflowRequest } from './sandbox.js';

const sandbox = new Sandbox({ workers: 2, limits: { timeoutMs: 5000, memoryBytes: 32 * 1024 * 1024, stackBytes: 256 * 1024, maxResultBytes: 1024 * 1024 } });
afterAll(() => sandbox.close());

const calls: { tool: string; args: unknown }[] = [];
function request(source: string, extra: Partial<WorkflowRequest> = {}): WorkflowRequest {
  return {
    source,
    context: {},
    tools: ['math__add', 'echo'],
    signal: new AbortController().signal,
    async call(tool, args) {
      calls.push({ tool, args });
      if (tool === 'math__add') return { sum: Number(args.a) + Number(args.b) };
      if (args.fail) throw new ToolCallError('refused by policy', 'tool_blocked');
      return { echoed: args };
    },
    ...extra,
  };
}

/** The host's event loop keeps turning while a workflow runs. */
async function loopStaysFree<T>(work: Promise<T>): Promise<{ result: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  try {
    return { result: await work, ticks };
  } finally {
    clearInterval(timer);
  }
}

describe('orchestrator sandbox', () => {
  it('runs a workflow that awaits tools and returns a JSON value', async () => {
    const out = await sandbox.run(
      request('const a = await tools.math__add({ a: context.x, b: 2 }); const b = await tools.math__add({ a: a.sum, b: 3 }); return { total: b.sum, n: context.list.length };', {
        context: { x: 1, list: [1, 2, 3] },
      }),
    );
    expect(out).toMatchObject({ ok: true, toolCalls: 2 });
    expect(out.ok && JSON.parse(out.json)).toEqual({ total: 6, n: 3 });
  });

  it('runs tool calls in parallel with Promise.all and returns undefined as null', async () => {
    const out = await sandbox.run(request('await Promise.all([1, 2, 3].map((i) => tools.echo({ i })));'));
    expect(out).toMatchObject({ ok: true, json: 'null', toolCalls: 3 });
  });

  it('lets the workflow catch a refused tool call, with its code', async () => {
    const out = await sandbox.run(request('try { await tools.echo({ fail: true }); } catch (e) { return [e.name, e.message, e.code]; }'));
    expect(out.ok && JSON.parse(out.json)).toEqual(['ToolError', 'refused by policy', 'tool_blocked']);
  });

  it('reports syntax errors and uncaught exceptions', async () => {
    expect(await sandbox.run(request('return (;'))).toMatchObject({ ok: false, code: 'syntax_error' });
    const thrown = await sandbox.run(request('throw new TypeError("nope")'));
    expect(thrown).toMatchObject({ ok: false, code: 'workflow_error', message: 'TypeError: nope' });
  });

  it.each([
    ['require', 'return require("fs")', /'require' is not defined/],
    ['process', 'return process.env', /'process' is not defined/],
    ['fetch', 'return await fetch("http://127.0.0.1:1/")', /'fetch' is not defined/],
    ['setTimeout', 'await new Promise((r) => setTimeout(r, 10)); return 1', /'setTimeout' is not defined/],
    ['dynamic import', 'return await import("node:fs")', /./],
    ['globalThis via Function', 'return Function("return typeof process + typeof require + typeof globalThis.fetch")()', undefined],
  ])('has no %s', async (_name, source, message) => {
    const out = await sandbox.run(request(source));
    if (message) {
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.message).toMatch(message);
    } else {
      expect(out).toMatchObject({ ok: true, json: '"undefinedundefinedundefined"' });
    }
  });

  it('keeps prototype tricks inside the sandbox', async () => {
    const out = await sandbox.run(
      request(`
        Object.prototype.polluted = 'yes';
        ({}).__proto__.pwned = true;
        Array.prototype.push = () => 0;
        const global = ({}).constructor.constructor('return this')();
        return { keys: Object.getOwnPropertyNames(global).filter((k) => /^(process|require|module|Buffer|fetch|console|setTimeout|setInterval|queueMicrotask|__sluice.*)$/.test(k)), toolsFrozen: Object.isFrozen(tools) };
      `),
    );
    expect(out.ok && JSON.parse(out.json)).toEqual({ keys: [], toolsFrozen: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).pwned).toBeUndefined();
    const arr: number[] = [];
    arr.push(1);
    expect(arr).toEqual([1]);
    // And the next run starts from a clean engine.
    const next = await sandbox.run(request('return [({}).polluted, typeof [].push]'));
    expect(next.ok && JSON.parse(next.json)).toEqual([null, 'function']);
  });

  it('stops an infinite loop at the deadline without stalling the event loop', async () => {
    const { result, ticks } = await loopStaysFree(sandbox.run(request('while (true) {}')));
    expect(result).toMatchObject({ ok: false, code: 'timeout' });
    expect(result.ms).toBeLessThan(7000);
    expect(ticks).toBeGreaterThan(20);
  });

  it('stops memory bombs: growing arrays and doubling strings', async () => {
    const arrays = await sandbox.run(request('const a = []; for (;;) a.push({ x: [1, 2, 3], s: "abc" + a.length });'));
    expect(arrays).toMatchObject({ ok: false, code: 'out_of_memory' });
    const strings = await sandbox.run(request('let s = "x"; for (;;) s += s;'));
    expect(strings.ok).toBe(false);
    if (!strings.ok) expect(['out_of_memory', 'workflow_error']).toContain(strings.code);
    if (!strings.ok && strings.code === 'workflow_error') expect(strings.message).toMatch(/string too long/);
  });

  it('stops deep recursion', async () => {
    const out = await sandbox.run(request('function f(n) { return n + f(n + 1); } return f(0);'));
    expect(out).toMatchObject({ ok: false, code: 'stack_overflow' });
  });

  it('refuses huge results and huge sources', async () => {
    const big = await sandbox.run(request('return "y".repeat(2 * 1024 * 1024);'));
    expect(big).toMatchObject({ ok: false, code: 'result_too_large' });
    const source = await sandbox.run(request(`return 1; // ${'z'.repeat(64 * 1024)}`));
    expect(source).toMatchObject({ ok: false, code: 'source_too_large' });
  });

  it('limits tool calls per run', async () => {
    const out = await sandbox.run(request('let n = 0; try { for (;;) { await tools.echo({}); n++; } } catch (e) { return [n, e.code]; }'));
    expect(out.ok && JSON.parse(out.json)).toEqual([50, 'too_many_tool_calls']);
  });

  it('answers only the tools it was given, and a promise that never settles ends the run', async () => {
    const unknown = await sandbox.run(request('return typeof tools.orchestrator + "/" + typeof tools.search_tools'));
    expect(unknown.ok && JSON.parse(unknown.json)).toBe('undefined/undefined');
    const hang = await sandbox.run(request('await new Promise(() => {});'));
    expect(hang).toMatchObject({ ok: false, code: 'never_settled' });
  });

  it('still runs ordinary workflows after every failure above', async () => {
    const out = await sandbox.run(request('return (await tools.math__add({ a: 20, b: 22 })).sum'));
    expect(out).toMatchObject({ ok: true, json: '42' });
  });
});

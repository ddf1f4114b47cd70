/**
 * A sandbox worker: runs orchestrator workflows in QuickJS compiled to
 * WebAssembly, one run at a time, inside a `worker_threads` Worker (so a
 * runaway script never holds the gateway's event loop; the host kills the
 * worker if a run outlives its wall time).
 *
 * Each run gets a fresh WebAssembly instance whose memory is capped (twice
 * the QuickJS heap limit), a fresh runtime with heap and stack limits and a
 * deadline interrupt, and a context holding only the ECMAScript built-ins
 * plus `tools`: no `require`, `process`, `import()`, `fetch`, timers,
 * file system or console. The instance is dropped after the run, so nothing
 * a workflow leaves behind reaches the next one.
 *
 * `tools.<name>(args)` posts a `call` message and returns a guest promise
 * that the host's `call_result` settles; the worker then runs the guest's
 * pending jobs until the workflow's promise settles or it waits on nothing.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import variantExport from '@jitl/quickjs-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSContext, type QuickJSDeferredPromise, type QuickJSHandle, type QuickJSSyncVariant } from 'quickjs-emscripten-core';
import type { CallResultMessage, DoneMessage, HostMessage, RunFailure, RunMessage, WorkerMessage } from './protocol.js';

const WASM_PAGE = 65_536;
/** The QuickJS build starts with 16 MiB of linear memory. */
const INITIAL_PAGES = 256;
/** Longest error message passed back (guest messages can be huge). */
const MAX_MESSAGE = 500;

/** The package's types describe its CommonJS build; its ES module's default export is the variant. */
const baseVariant = variantExport as unknown as QuickJSSyncVariant;
const port = parentPort;
if (!port) throw new Error('the orchestrator worker must run in a worker thread');

const wasmModule = new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')));

/** Set up inside the guest before the workflow: `tools`, and the runner that JSON-encodes the result. */
const PRELUDE = `(() => {
  const call = globalThis.__sluice_call;
  const names = JSON.parse(globalThis.__sluice_names);
  const context = JSON.parse(globalThis.__sluice_context);
  const body = globalThis.__sluice_body;
  delete globalThis.__sluice_call; delete globalThis.__sluice_names; delete globalThis.__sluice_context; delete globalThis.__sluice_body;
  const tools = Object.create(null);
  for (const name of names) {
    tools[name] = (args) => call(name, JSON.stringify(args === undefined ? {} : args)).then((text) => JSON.parse(text));
  }
  Object.freeze(tools);
  const AsyncFunction = (async function () {}).constructor;
  const workflow = new AsyncFunction('context', 'tools', body);
  return workflow(context, tools).then((value) => (value === undefined ? 'null' : JSON.stringify(value)));
})()`;

function post(message: WorkerMessage): void {
  port!.postMessage(message);
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

/** A guest error as `{ name, message }`, without its (possibly huge) stack. */
function describe(ctx: QuickJSContext, handle: QuickJSHandle): { name: string; message: string; thrownNull?: boolean } {
  try {
    if (ctx.sameValue(handle, ctx.null)) return { name: 'Error', message: 'null was thrown', thrownNull: true };
    if (ctx.typeof(handle) === 'object') {
      const name = ctx.getProp(handle, 'name').consume((h) => (ctx.typeof(h) === 'string' ? ctx.getString(h) : 'Error'));
      const message = ctx.getProp(handle, 'message').consume((h) => (ctx.typeof(h) === 'string' ? ctx.getString(h) : ''));
      return { name, message: clip(message) };
    }
    return { name: 'Error', message: clip(String(ctx.dump(handle))) };
  } catch {
    return { name: 'Error', message: 'an unprintable value was thrown' };
  }
}

/** Classifies a guest or engine failure. */
function failure(name: string, message: string, timedOut: boolean, timeoutMs: number): { code: RunFailure; message: string } {
  if (timedOut || message === 'interrupted') return { code: 'timeout', message: `the workflow ran longer than ${timeoutMs} ms` };
  if (message === 'out of memory' || /out of memory|memory access out of bounds|Cannot allocate/i.test(message)) return { code: 'out_of_memory', message: 'the workflow ran out of memory' };
  if (message === 'stack overflow' || /call stack size/i.test(message)) return { code: 'stack_overflow', message: 'the workflow exceeded the stack limit (recursion too deep)' };
  if (name === 'SyntaxError') return { code: 'syntax_error', message: `SyntaxError: ${message}` };
  return { code: 'workflow_error', message: `${name}: ${message}` };
}

/** One run, from a fresh engine to the `done` message. */
async function run(msg: RunMessage, results: AsyncIterator<CallResultMessage>): Promise<DoneMessage> {
  const { runId, limits } = msg;
  const deadline = Date.now() + limits.timeoutMs;
  const fail = (code: RunFailure, message: string): DoneMessage => ({ type: 'done', runId, ok: false, code, message });
  const maxPages = Math.max(INITIAL_PAGES, Math.ceil((2 * limits.memoryBytes) / WASM_PAGE));
  const wasmMemory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: maxPages });
  const qjs = await newQuickJSWASMModuleFromVariant(newVariant(baseVariant, { wasmModule, wasmMemory }));
  const rt = qjs.newRuntime();
  rt.setMemoryLimit(limits.memoryBytes);
  rt.setMaxStackSize(limits.stackBytes);
  rt.setInterruptHandler(() => Date.now() > deadline);
  const ctx = rt.newContext();
  const pending = new Map<number, QuickJSDeferredPromise>();
  let calls = 0;
  /**
   * At the heap limit QuickJS may fail to build even its "out of memory" error and throw `null`
   * instead: `null` thrown after the engine's memory grew to the heap limit is reported as that.
   */
  const heapFull = (): boolean => wasmMemory.buffer.byteLength >= limits.memoryBytes;
  const classify = (e: { name: string; message: string; thrownNull?: boolean }) => {
    const f = failure(e.name, e.message, Date.now() > deadline, limits.timeoutMs);
    return f.code === 'workflow_error' && e.thrownNull && heapFull() ? failure('InternalError', 'out of memory', false, limits.timeoutMs) : f;
  };

  try {
    const call = ctx.newFunction('call', (nameHandle, argsHandle) => {
      const callId = ++calls;
      const deferred = ctx.newPromise();
      pending.set(callId, deferred);
      post({ type: 'call', runId, callId, tool: ctx.getString(nameHandle), args: ctx.getString(argsHandle) });
      return deferred.handle;
    });
    ctx.setProp(ctx.global, '__sluice_call', call);
    call.dispose();
    for (const [name, value] of [
      ['__sluice_names', JSON.stringify(msg.tools)],
      ['__sluice_context', msg.context],
      ['__sluice_body', msg.source],
    ] as const) {
      ctx.newString(value).consume((h) => ctx.setProp(ctx.global, name, h));
    }

    const started = ctx.evalCode(PRELUDE, 'workflow.js');
    if (started.error) {
      const f = classify(describe(ctx, started.error));
      return fail(f.code, f.message);
    }
    const promise = started.value;
    for (;;) {
      const jobs = rt.executePendingJobs();
      if (jobs.error) {
        const f = classify(describe(ctx, jobs.error));
        return fail(f.code, f.message);
      }
      const state = ctx.getPromiseState(promise);
      if (state.type === 'fulfilled') {
        const value = state.value;
        if (ctx.typeof(value) !== 'string') return fail('invalid_result', 'the workflow returned a value JSON cannot encode');
        const length = ctx.getProp(value, 'length').consume((h) => ctx.getNumber(h));
        if (length > limits.maxResultBytes) return fail('result_too_large', `the workflow's result is ${length} characters of JSON; at most ${limits.maxResultBytes} are allowed`);
        return { type: 'done', runId, ok: true, value: ctx.getString(value) };
      }
      if (state.type === 'rejected') {
        const f = classify(describe(ctx, state.error));
        return fail(f.code, f.message);
      }
      if (pending.size === 0) return fail('never_settled', 'the workflow awaits something that can never settle (only tool calls resolve asynchronously)');
      if (Date.now() > deadline) return fail('timeout', `the workflow ran longer than ${limits.timeoutMs} ms`);
      const next = await results.next();
      if (next.done) return fail('sandbox_error', 'the host went away');
      const result = next.value;
      const deferred = pending.get(result.callId);
      if (!deferred) continue;
      pending.delete(result.callId);
      if (result.ok) {
        ctx.newString(result.value).consume((h) => deferred.resolve(h));
      } else {
        const error = ctx.newError({ name: 'ToolError', message: result.value });
        if (result.code) ctx.newString(result.code).consume((h) => ctx.setProp(error, 'code', h));
        deferred.reject(error);
        error.dispose();
      }
    }
  } catch (err) {
    // Engine-level failures (a WebAssembly trap, the host stack exhausted inside the engine).
    const message = err instanceof Error ? err.message : String(err);
    const f = failure(err instanceof Error ? err.name : 'Error', message, Date.now() > deadline, limits.timeoutMs);
    return fail(f.code === 'workflow_error' ? 'sandbox_error' : f.code, f.code === 'workflow_error' ? `the sandbox failed: ${clip(message)}` : f.message);
  }
  // The instance (runtime, context, handles, memory) is dropped here and collected with the run.
}

/** Call results of the current run, in arrival order. */
class Inbox implements AsyncIterator<CallResultMessage> {
  private readonly queue: CallResultMessage[] = [];
  private waiter: ((r: IteratorResult<CallResultMessage>) => void) | undefined;
  runId = 0;

  push(msg: CallResultMessage): void {
    if (msg.runId !== this.runId) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: msg, done: false });
    } else this.queue.push(msg);
  }

  reset(runId: number): void {
    this.runId = runId;
    this.queue.length = 0;
  }

  next(): Promise<IteratorResult<CallResultMessage>> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve({ value: queued, done: false });
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

const inbox = new Inbox();
let busy: Promise<void> = Promise.resolve();

port.on('message', (msg: HostMessage) => {
  if (msg.type === 'call_result') return inbox.push(msg);
  busy = busy.then(async () => {
    inbox.reset(msg.runId);
    let done: DoneMessage;
    try {
      done = await run(msg, inbox);
    } catch (err) {
      done = { type: 'done', runId: msg.runId, ok: false, code: 'sandbox_error', message: `the sandbox failed: ${clip(err instanceof Error ? err.message : String(err))}` };
    }
    post(done);
  });
});
post({ type: 'ready' });

/**
 * The host side of the orchestrator sandbox: a small pool of worker threads
 * (worker.ts) that run workflows in QuickJS/WebAssembly, one run per worker
 * at a time, further runs queued up to `maxQueue`.
 *
 * Bounds: the workflow source (`maxSourceBytes`), tool calls per run
 * (`maxToolCalls`; the next call fails inside the guest with
 * `too_many_tool_calls`), and inside the worker the wall time, heap, stack
 * and result size. The wall time is also enforced from here: a worker still
 * busy `killGraceMs` after its deadline (a long native call inside the
 * engine) is terminated and replaced, so the event loop never waits on a
 * script. A cancelled run (the client went away) terminates its worker too.
 *
 * Tool calls cross as JSON text and go through `call`, which applies the
 * gateway's own rules (blocked tools, authorisation, rate limit, logging):
 * the sandbox can reach exactly the tools named in `tools`, nothing else.
 */
import { Worker } from 'node:worker_threads';
import type { CallMessage, DoneMessage, RunFailure, RunLimits, WorkerMessage } from './protocol.js';

/** Sandbox settings. */
export interface SandboxOptions {
  /** Worker threads (each runs one workflow at a time). */
  workers: number;
  /** Runs waiting for a worker before new ones are refused. */
  maxQueue: number;
  /** Largest workflow source in bytes (UTF-8). */
  maxSourceBytes: number;
  /** Largest `context` in bytes of JSON. */
  maxContextBytes: number;
  /** Tool calls one run may make. */
  maxToolCalls: number;
  limits: RunLimits;
  /** How long past the deadline a worker may stay busy before it is terminated. */
  killGraceMs: number;
}

/** Defaults: 2 workers, 30 s, 32 MiB heap, 64 KiB source, 50 tool calls. */
export const DEFAULT_SANDBOX_OPTIONS: SandboxOptions = {
  workers: 2,
  maxQueue: 32,
  maxSourceBytes: 64 * 1024,
  maxContextBytes: 1024 * 1024,
  maxToolCalls: 50,
  limits: { timeoutMs: 30_000, memoryBytes: 32 * 1024 * 1024, stackBytes: 256 * 1024, maxResultBytes: 1024 * 1024 },
  killGraceMs: 250,
};

/** A failed tool call as the guest sees it (`ToolError` with `code`). */
export class ToolCallError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ToolCallError';
  }
}

/** One workflow to run. */
export interface WorkflowRequest {
  source: string;
  context: unknown;
  /** Tool names the workflow may call as `tools.<name>(args)`. */
  tools: readonly string[];
  /** Makes one tool call; throw `ToolCallError` for a refusal the guest may catch. */
  call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
  signal: AbortSignal;
}

/** Why a run failed, beyond the guest's own failures. */
export type SandboxFailure = RunFailure | 'source_too_large' | 'context_too_large' | 'invalid_context' | 'busy' | 'cancelled';

/** The outcome of a run. */
export type WorkflowOutcome = (RunEnd & { toolCalls: number; ms: number });

/** How a run ended, before its counters are added. */
type RunEnd = { ok: true; /** The returned value, JSON-encoded. */ json: string } | { ok: false; code: SandboxFailure; message: string };

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
  dead: boolean;
}

const WORKER_URL = new URL('./worker-entry.mjs', import.meta.url);

/** See the module comment. `close()` terminates every worker. */
export class Sandbox {
  readonly options: SandboxOptions;
  private readonly slots: Slot[] = [];
  private readonly queue: ((slot: Slot) => void)[] = [];
  private runIds = 0;
  private closed = false;

  constructor(options: Partial<SandboxOptions> = {}) {
    this.options = { ...DEFAULT_SANDBOX_OPTIONS, ...options, limits: { ...DEFAULT_SANDBOX_OPTIONS.limits, ...options.limits } };
  }

  /** Workers alive now (for tests and diagnostics). */
  get workers(): number {
    return this.slots.filter((s) => !s.dead).length;
  }

  /**
   * Starts one worker if none is alive, so the first workflow does not wait
   * for the engine to load (about 1.5 s on a small machine).
   */
  warm(): void {
    if (!this.closed && this.slots.length === 0) this.spawn();
  }

  /** Runs one workflow; never throws. */
  async run(req: WorkflowRequest): Promise<WorkflowOutcome> {
    const started = Date.now();
    const refuse = (code: SandboxFailure, message: string): WorkflowOutcome => ({ ok: false, code, message, toolCalls: 0, ms: Date.now() - started });
    const o = this.options;
    const sourceBytes = Buffer.byteLength(req.source, 'utf8');
    if (sourceBytes > o.maxSourceBytes) return refuse('source_too_large', `the workflow is ${sourceBytes} bytes; at most ${o.maxSourceBytes} are allowed`);
    let context: string;
    try {
      context = JSON.stringify(req.context ?? {});
    } catch {
      return refuse('invalid_context', 'context must be a JSON object');
    }
    if (Buffer.byteLength(context, 'utf8') > o.maxContextBytes) return refuse('context_too_large', `context is larger than ${o.maxContextBytes} bytes of JSON`);
    if (this.closed) return refuse('busy', 'the orchestrator is shutting down');
    const slot = await this.acquire();
    if (!slot) return refuse('busy', 'the orchestrator is busy; retry later');
    try {
      await slot.ready;
    } catch (err) {
      this.retire(slot);
      return refuse('sandbox_error', `the sandbox could not start: ${err instanceof Error ? err.message : String(err)}`);
    }
    return this.execute(slot, req, context, started);
  }

  /** Terminates every worker; runs in progress end as `sandbox_error`. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.queue.splice(0)) wake(undefined as unknown as Slot);
    await Promise.all(this.slots.splice(0).map((s) => ((s.dead = true), s.worker.terminate())));
  }

  private spawn(): Slot {
    // No environment: the worker needs none, and the gateway's holds secrets.
    const worker = new Worker(WORKER_URL, { env: {}, resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 } });
    worker.unref();
    const slot: Slot = { worker, busy: false, dead: false, ready: Promise.resolve() };
    slot.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.type !== 'ready') return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
    });
    slot.ready.catch(() => {});
    worker.on('exit', () => {
      slot.dead = true;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    });
    // An error inside the worker outside a run ends it; the exit handler above forgets it.
    worker.on('error', () => {});
    this.slots.push(slot);
    return slot;
  }

  private async acquire(): Promise<Slot | undefined> {
    const free = this.slots.find((s) => !s.busy && !s.dead);
    if (free) return ((free.busy = true), free);
    if (this.slots.length < this.options.workers) {
      const slot = this.spawn();
      slot.busy = true;
      return slot;
    }
    if (this.queue.length >= this.options.maxQueue) return undefined;
    const slot = await new Promise<Slot>((resolve) => this.queue.push(resolve));
    return slot && !this.closed ? slot : undefined;
  }

  private release(slot: Slot): void {
    slot.busy = false;
    if (slot.dead) {
      // Its replacement takes the next queued run.
      const wake = this.queue.shift();
      if (wake) {
        const next = this.spawn();
        next.busy = true;
        wake(next);
      }
      return;
    }
    const wake = this.queue.shift();
    if (wake) {
      slot.busy = true;
      wake(slot);
    }
  }

  private retire(slot: Slot): void {
    slot.dead = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
    this.release(slot);
  }

  private execute(slot: Slot, req: WorkflowRequest, context: string, started: number): Promise<WorkflowOutcome> {
    const o = this.options;
    const runId = ++this.runIds;
    const calls = new AbortController();
    let toolCalls = 0;
    return new Promise<WorkflowOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: RunEnd, kill: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        slot.worker.off('message', onMessage);
        slot.worker.off('exit', onExit);
        req.signal.removeEventListener('abort', onAbort);
        calls.abort();
        if (kill) this.retire(slot);
        else this.release(slot);
        resolve({ ...outcome, toolCalls, ms: Date.now() - started });
      };
      const onCall = async (m: CallMessage) => {
        const answer = (ok: boolean, value: string, code?: string) => {
          if (!settled) slot.worker.postMessage({ type: 'call_result', runId, callId: m.callId, ok, value, ...(code ? { code } : {}) });
        };
        if (++toolCalls > o.maxToolCalls) return answer(false, `a workflow may make at most ${o.maxToolCalls} tool calls`, 'too_many_tool_calls');
        if (!req.tools.includes(m.tool)) return answer(false, `unknown tool: ${m.tool}`, 'tool_not_found');
        let args: Record<string, unknown>;
        try {
          const parsed: unknown = JSON.parse(m.args);
          if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return answer(false, 'tool arguments must be an object', 'invalid_arguments');
          args = parsed as Record<string, unknown>;
        } catch {
          return answer(false, 'tool arguments must be JSON-encodable', 'invalid_arguments');
        }
        try {
          const result = await req.call(m.tool, args, calls.signal);
          answer(true, JSON.stringify(result ?? null));
        } catch (err) {
          if (err instanceof ToolCallError) answer(false, err.message, err.code);
          else answer(false, err instanceof Error ? err.message : 'tool call failed', 'tool_failed');
        }
      };
      const onMessage = (m: WorkerMessage) => {
        if (m.type === 'call' && m.runId === runId) void onCall(m);
        else if (m.type === 'done' && m.runId === runId) finish(doneOutcome(m), false);
      };
      const onExit = () => finish({ ok: false, code: 'sandbox_error', message: 'the sandbox worker stopped unexpectedly' }, true);
      const onAbort = () => finish({ ok: false, code: 'cancelled', message: 'the request was cancelled' }, true);
      const timer = setTimeout(() => finish({ ok: false, code: 'timeout', message: `the workflow ran longer than ${o.limits.timeoutMs} ms` }, true), o.limits.timeoutMs + o.killGraceMs);
      slot.worker.on('message', onMessage);
      slot.worker.once('exit', onExit);
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener('abort', onAbort, { once: true });
      slot.worker.postMessage({ type: 'run', runId, source: req.source, context, tools: [...req.tools], limits: o.limits });
    });
  }
}

function doneOutcome(m: DoneMessage): RunEnd {
  return m.ok ? { ok: true, json: m.value } : { ok: false, code: m.code, message: m.message };
}

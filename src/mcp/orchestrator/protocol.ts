/**
 * Messages between the orchestrator host (sandbox.ts, on the gateway's
 * event loop) and a sandbox worker (worker.ts, a `worker_threads` Worker
 * running QuickJS). Values cross as JSON text, never as objects: nothing the
 * guest produces is structured-cloned into the host.
 */

/** Bounds of one run, enforced inside the worker (the host adds a hard wall-time kill). */
export interface RunLimits {
  /** Wall time of the whole run, tool calls included. */
  timeoutMs: number;
  /** QuickJS heap limit. The WASM memory is capped at twice this. */
  memoryBytes: number;
  /** QuickJS stack limit (deep recursion ends as a guest `InternalError`). */
  stackBytes: number;
  /** Longest JSON text the workflow may return. */
  maxResultBytes: number;
}

/** Host → worker: start a run. */
export interface RunMessage {
  type: 'run';
  runId: number;
  /** The workflow: the body of an async function of `(context, tools)`. */
  source: string;
  /** `context` as JSON text. */
  context: string;
  /** Names `tools.<name>` answers to. */
  tools: string[];
  limits: RunLimits;
}

/** Host → worker: the outcome of a tool call the guest made. */
export interface CallResultMessage {
  type: 'call_result';
  runId: number;
  callId: number;
  ok: boolean;
  /** The result as JSON text when `ok`, else the error message. */
  value: string;
  /** Machine code of a failed call (`tool_blocked`, `too_many_tool_calls`…). */
  code?: string;
}

/** Worker → host: the guest called `tools.<tool>(args)`. */
export interface CallMessage {
  type: 'call';
  runId: number;
  callId: number;
  tool: string;
  /** The arguments as JSON text. */
  args: string;
}

/** Why a run failed. */
export type RunFailure =
  | 'syntax_error'
  | 'workflow_error'
  | 'timeout'
  | 'out_of_memory'
  | 'stack_overflow'
  | 'result_too_large'
  | 'invalid_result'
  | 'never_settled'
  | 'sandbox_error';

/** Worker → host: the run ended. */
export type DoneMessage =
  | { type: 'done'; runId: number; ok: true; /** JSON text of the returned value (`null` for undefined). */ value: string }
  | { type: 'done'; runId: number; ok: false; code: RunFailure; message: string };

/** Worker → host: the worker loaded QuickJS and takes runs. */
export interface ReadyMessage {
  type: 'ready';
}

export type HostMessage = RunMessage | CallResultMessage;
export type WorkerMessage = CallMessage | DoneMessage | ReadyMessage;

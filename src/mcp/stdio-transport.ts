/**
 * MCP over a child process's stdin/stdout, with the child in its own process
 * group so that everything it starts (`npx` → `node`, `sh -c` → …) is
 * signalled together. Unlike the SDK's stdio transport, no grandchild can
 * outlive the transport:
 * - `close()` ends stdin, then after a grace period sends SIGTERM to the
 *   group, then SIGKILL;
 * - when the child exits on its own, the rest of its group is killed;
 * - when the gateway process exits, every live group gets SIGKILL.
 * The child sees only a minimal inherited environment (HOME, LOGNAME, PATH,
 * SHELL, TERM, USER) plus its configured variables, never the gateway's own
 * (which holds the master key). The last 4 KiB of stderr are kept for error
 * reports; stderr is always drained so the child never blocks on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

const STDERR_TAIL = 4096;

/** Process-group ids of live children, for the exit hook. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

function track(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Runs on normal exit and after an uncaught exception; only synchronous work is possible here.
  process.on('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGKILL');
  });
}

/** What to run. */
export interface StdioCommand {
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** How long to wait after ending stdin, and again after SIGTERM (default 1000 ms). */
  graceMs?: number;
}

/** A `Transport` over one child process; single use (start once, close once). */
export class ProcessGroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private isRunning = false;
  private closing: Promise<void> | undefined;
  private closedNotified = false;
  private readonly buffer = new ReadBuffer();
  private tail = '';

  constructor(private readonly command: StdioCommand) {}

  /** The child's pid (also its process-group id) once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the child is running. */
  get running(): boolean {
    return this.isRunning;
  }

  /** The last bytes the child wrote to stderr. */
  get stderrTail(): string {
    return this.tail;
  }

  start(): Promise<void> {
    if (this.child) return Promise.reject(new Error('stdio transport already started'));
    return new Promise((resolve, reject) => {
      const child = spawn(this.command.command, [...this.command.args], {
        env: { ...getDefaultEnvironment(), ...this.command.env },
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        windowsHide: true,
      });
      this.child = child;
      let markExited: () => void = () => {};
      this.exited = new Promise((done) => (markExited = done));
      child.once('spawn', () => {
        this.isRunning = true;
        if (child.pid !== undefined) track(child.pid);
        resolve();
      });
      child.once('error', (err) => {
        if (!this.isRunning) {
          markExited();
          this.notifyClosed();
        }
        reject(err);
        this.onerror?.(err);
      });
      child.once('exit', () => {
        this.isRunning = false;
        if (child.pid !== undefined) {
          signalGroup(child.pid, 'SIGKILL');
          liveGroups.delete(child.pid);
        }
        markExited();
        this.notifyClosed();
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        try {
          this.buffer.append(chunk);
        } catch (err) {
          // A message over the buffer bound (10 MiB): the stream cannot be resynchronised.
          this.onerror?.(err instanceof Error ? err : new Error(String(err)));
          void this.close();
          return;
        }
        this.drainMessages();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        this.tail = (this.tail + chunk.toString('utf8')).slice(-STDERR_TAIL);
      });
      for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.on('error', (err: Error) => this.onerror?.(err));
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!this.isRunning || !stdin?.writable) {
        reject(new Error('stdio transport is not connected'));
        return;
      }
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', () => resolve());
    });
  }

  /** Stops the child (stdin EOF, then SIGTERM, then SIGKILL to its group); resolves once it has exited. */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    const child = this.child;
    const pid = child?.pid;
    if (child && pid !== undefined && this.isRunning) {
      const grace = this.command.graceMs ?? 1000;
      child.stdin?.end();
      if (!(await this.exitWithin(grace))) {
        signalGroup(pid, 'SIGTERM');
        if (!(await this.exitWithin(grace))) {
          signalGroup(pid, 'SIGKILL');
          await this.exited;
        }
      }
    }
    this.buffer.clear();
    this.notifyClosed();
  }

  private exitWithin(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private drainMessages(): void {
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (err) {
        // A line that is not JSON-RPC (a stray log line on stdout): report and keep reading.
        this.onerror?.(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  }

  private notifyClosed(): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.onclose?.();
  }
}

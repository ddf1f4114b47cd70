import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ProcessGroupStdioTransport } from './stdio-transport.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pids: number[], ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** A shell that starts a background `sleep` and then waits on stdin, ignoring SIGTERM. */
const STUBBORN = { command: '/bin/sh', args: ['-c', "trap '' TERM; sleep 300 & cat > /dev/null; wait"], env: {}, graceMs: 200 };

describe('ProcessGroupStdioTransport', () => {
  it('exchanges newline-delimited JSON-RPC with the child', async () => {
    const echo = `process.stdin.on('data', (d) => process.stdout.write(d))`;
    const transport = new ProcessGroupStdioTransport({ command: process.execPath, args: ['-e', echo], env: {} });
    const received = new Promise((resolve) => (transport.onmessage = resolve));
    await transport.start();
    await transport.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(await received).toEqual({ jsonrpc: '2.0', id: 1, method: 'ping' });
    await transport.close();
    expect(transport.running).toBe(false);
  });

  it('passes only a minimal environment plus the configured one', async () => {
    process.env.SLUICE_SHOULD_NOT_LEAK = 'secret';
    const print = `process.stdout.write(JSON.stringify({jsonrpc:'2.0', method:'env', params: process.env}) + '\\n')`;
    const transport = new ProcessGroupStdioTransport({ command: process.execPath, args: ['-e', print], env: { GIVEN: 'yes' } });
    const received = new Promise<{ params?: Record<string, string> }>((resolve) => (transport.onmessage = (m) => resolve(m as { params?: Record<string, string> })));
    await transport.start();
    const env = (await received).params ?? {};
    expect(env.GIVEN).toBe('yes');
    expect(env.PATH).toBe(process.env.PATH);
    expect(env).not.toHaveProperty('SLUICE_SHOULD_NOT_LEAK');
    delete process.env.SLUICE_SHOULD_NOT_LEAK;
    await transport.close();
  });

  it('escalates to SIGKILL and takes the whole process group with it', async () => {
    const transport = new ProcessGroupStdioTransport(STUBBORN);
    let closed = 0;
    transport.onclose = () => void closed++;
    await transport.start();
    const pid = transport.pid!;
    await new Promise((r) => setTimeout(r, 100));
    const grandchildren = childrenOf(pid);
    expect(grandchildren.length).toBeGreaterThan(0);
    await transport.close();
    expect(await gone([pid, ...grandchildren])).toBe(true);
    expect(closed).toBe(1);
  });

  it('kills the rest of the group when the child exits on its own', async () => {
    const transport = new ProcessGroupStdioTransport({ command: '/bin/sh', args: ['-c', 'sleep 300 & sleep 0.2'], env: {} });
    const closed = new Promise((resolve) => (transport.onclose = () => resolve(true)));
    await transport.start();
    await new Promise((r) => setTimeout(r, 100));
    const grandchildren = childrenOf(transport.pid!);
    expect(await closed).toBe(true);
    expect(await gone(grandchildren)).toBe(true);
  });

  it('reports a command that cannot start', async () => {
    const transport = new ProcessGroupStdioTransport({ command: '/nonexistent/server', args: [], env: {} });
    await expect(transport.start()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(transport.running).toBe(false);
  });

  it('leaves no child behind when the gateway process exits without closing', () => {
    const module = fileURLToPath(new URL('./stdio-transport.ts', import.meta.url));
    const script = [
      `import { ProcessGroupStdioTransport } from ${JSON.stringify(module)};`,
      `const t = new ProcessGroupStdioTransport(${JSON.stringify(STUBBORN)});`,
      'await t.start();',
      'await new Promise((r) => setTimeout(r, 100));',
      'console.log(t.pid);',
      'process.exit(0);',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const pid = Number(out.trim());
    expect(pid).toBeGreaterThan(0);
    // The group (shell, sleep, cat) was SIGKILLed by the exit hook.
    let groupAlive = true;
    try {
      process.kill(-pid, 0);
    } catch {
      groupAlive = false;
    }
    expect(groupAlive && alive(pid)).toBe(false);
  });
});

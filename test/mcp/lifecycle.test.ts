/**
 * Upstream transports and process hygiene: server-everything over Streamable
 * HTTP and SSE, and stdio children (and their own children) that never
 * outlive their use: not after close, not after idling, not after a config
 * change, not when they ignore EOF and SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { alive, connectClient, EVERYTHING_JS, eventually, startTestGateway, type TestGateway } from './harness.js';
import { freePort } from './test-upstream.js';

const everythingStdio = { transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true };

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** server-everything as a network server on its own port. */
async function startEverything(mode: 'streamableHttp' | 'sse'): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [EVERYTHING_JS, mode], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
  const until = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (Date.now() > until) throw new Error(`server-everything ${mode} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, port };
}

/** Direct children of a process (Linux). */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

const echoText = async (client: Awaited<ReturnType<typeof connectClient>>['client'], name: string, message: string) =>
  ((await client.callTool({ name, arguments: { message } })).content as { text: string }[])[0]?.text;

describe('remote upstreams', () => {
  let g: TestGateway;
  let key: string;
  let http: { child: ChildProcess; port: number };
  let sse: { child: ChildProcess; port: number };

  beforeAll(async () => {
    [http, sse] = await Promise.all([startEverything('streamableHttp'), startEverything('sse')]);
    g = await startTestGateway();
    const ws = await g.workspace('acme');
    const gw = await g.gateway(ws, 'main');
    await g.server(gw, { name: 'everything-http', transport: McpTransport.STREAMABLE_HTTP, url: `http://127.0.0.1:${http.port}/mcp`, approved: true });
    await g.server(gw, { name: 'everything-sse', transport: McpTransport.SSE, url: `http://127.0.0.1:${sse.port}/sse`, approved: true });
    key = (await g.apiKey(ws, 'agent', ['main'])).secret;
    await g.sync();
  });
  afterAll(async () => {
    await g?.close();
    http?.child.kill();
    sse?.child.kill();
  });

  it('aggregates server-everything over Streamable HTTP and over SSE', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('everything-http__echo');
    expect(names).toContain('everything-sse__echo');
    expect(names.indexOf('everything-http__echo')).toBeLessThan(names.indexOf('everything-sse__echo'));
    expect(await echoText(client, 'everything-http__echo', 'over http')).toBe('Echo: over http');
    expect(await echoText(client, 'everything-sse__echo', 'over sse')).toBe('Echo: over sse');
    const doc = await client.readResource({ uri: 'demo://resource/static/document/features.md' });
    expect(doc.contents.length).toBe(1);
    await client.close();
  });
});

describe('stdio children', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-mcp-pids-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are stopped with their own children when the app closes, even with clients still connected', async () => {
    const g = await startTestGateway();
    const ws = await g.workspace('acme');
    const gw = await g.gateway(ws, 'main');
    await g.server(gw, { name: 'plain', ...everythingStdio });
    // `sleep` is a grandchild of the gateway: only a process-group kill reaches it.
    await g.server(gw, { name: 'wrapped', transport: McpTransport.STDIO, command: '/bin/sh', args: ['-c', `sleep 300 & exec "${process.execPath}" "${EVERYTHING_JS}" stdio`], approved: true });
    const key = (await g.apiKey(ws, 'agent', ['main'])).secret;
    await g.sync();
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    expect(await echoText(client, 'plain__echo', 'x')).toBe('Echo: x');
    expect(await echoText(client, 'wrapped__echo', 'y')).toBe('Echo: y');
    const pids = g.runtime.pool.sessions().map((s) => s.pid!);
    expect(pids).toHaveLength(2);
    const wrapped = g.runtime.pool.sessions().find((s) => s.server === 'wrapped')!.pid!;
    const grandchildren = childrenOf(wrapped);
    expect(grandchildren.length).toBeGreaterThan(0);
    const started = Date.now();
    await g.close();
    expect(Date.now() - started).toBeLessThan(5000);
    // SIGKILL is delivered asynchronously; the group is gone moments after close resolves.
    await eventually(() => [...pids, ...grandchildren].every((pid) => !alive(pid)), 1000);
  });

  it('are stopped when idle and started again on the next call', async () => {
    const g = await startTestGateway({ upstreamIdleMs: 300 });
    const ws = await g.workspace('acme');
    const gw = await g.gateway(ws, 'main');
    await g.server(gw, { name: 'everything', ...everythingStdio });
    const key = (await g.apiKey(ws, 'agent', ['main'])).secret;
    await g.sync();
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    await echoText(client, 'everything__echo', 'a');
    const first = g.runtime.pool.sessions()[0]!.pid!;
    await eventually(() => !alive(first), 5000);
    expect(g.runtime.pool.sessions()).toEqual([]);
    expect(await echoText(client, 'everything__echo', 'b')).toBe('Echo: b');
    const second = g.runtime.pool.sessions()[0]!.pid!;
    expect(second).not.toBe(first);
    await client.close();
    await g.close();
    expect(alive(second)).toBe(false);
  });

  it('are stopped when their server is disabled or unapproved', async () => {
    const g = await startTestGateway();
    const ws = await g.workspace('acme');
    const gw = await g.gateway(ws, 'main');
    const id = await g.server(gw, { name: 'everything', ...everythingStdio });
    const key = (await g.apiKey(ws, 'agent', ['main'])).secret;
    await g.sync();
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    await echoText(client, 'everything__echo', 'a');
    const pid = g.runtime.pool.sessions()[0]!.pid!;
    await g.updateServer(id, { enabled: false }, ['enabled']);
    await g.sync();
    expect((await client.listTools()).tools).toEqual([]);
    await eventually(() => !alive(pid));
    await client.close();
    await g.close();
  });

  it('that never answer initialize, ignore EOF and SIGTERM are killed after the timeout', async () => {
    const pidFile = join(dir, 'stubborn.pid');
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`;
    const g = await startTestGateway();
    const ws = await g.workspace('acme');
    const gw = await g.gateway(ws, 'main');
    await g.server(gw, { name: 'stubborn', transport: McpTransport.STDIO, command: process.execPath, args: ['-e', script], approved: true, timeoutMs: 500 });
    const key = (await g.apiKey(ws, 'agent', ['main'])).secret;
    await g.sync();
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const started = Date.now();
    const result = await client.listTools();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result._meta?.['sluice/upstream-errors']).toEqual([expect.objectContaining({ server: 'stubborn', code: 'upstream_timeout' })]);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await eventually(() => !alive(pid), 5000);
    await client.close();
    await g.close();
  });
});

/**
 * Dead, slow and restarted upstreams: lists stay bounded and say what is
 * missing, calls fail with clear JSON-RPC errors, and the gateway reconnects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpError, type ListToolsResult } from '@modelcontextprotocol/sdk/types.js';
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { alive, connectClient, EVERYTHING_JS, eventually, startTestGateway, type TestGateway } from './harness.js';
import { freePort, startTestUpstream, type TestUpstream } from './test-upstream.js';

let g: TestGateway;
let key: string;
let slow: TestUpstream;
let sleepy: TestUpstream;
let restartable: TestUpstream;
let restartPort: number;

async function rejection(promise: Promise<unknown>): Promise<McpError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  return err as McpError;
}

type Problem = { server: string; code: string; message: string };
const problemsOf = (result: ListToolsResult) => (result._meta?.['sluice/upstream-errors'] ?? []) as Problem[];

beforeAll(async () => {
  slow = await startTestUpstream({ listDelayMs: 10_000 });
  sleepy = await startTestUpstream();
  restartPort = await freePort();
  restartable = await startTestUpstream({ port: restartPort, tools: ['ping-me'] });
  g = await startTestGateway({ retryMinMs: 5000, retryMaxMs: 10_000 });
  const ws = await g.workspace('acme');
  const gw = await g.gateway(ws, 'main');
  await g.server(gw, { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true });
  await g.server(gw, { name: 'exits', transport: McpTransport.STDIO, command: process.execPath, args: ['-e', 'process.exit(3)'], approved: true, timeoutMs: 2000 });
  await g.server(gw, { name: 'missing-binary', transport: McpTransport.STDIO, command: '/nonexistent/mcp-server', approved: true, timeoutMs: 2000 });
  await g.server(gw, { name: 'closed-port', transport: McpTransport.STREAMABLE_HTTP, url: `http://127.0.0.1:${await freePort()}/mcp`, approved: true, timeoutMs: 2000 });
  await g.server(gw, { name: 'slow', transport: McpTransport.STREAMABLE_HTTP, url: slow.url, approved: true, timeoutMs: 2000 });
  await g.server(gw, { name: 'sleepy', transport: McpTransport.STREAMABLE_HTTP, url: sleepy.url, approved: true, timeoutMs: 2000 });
  await g.server(gw, { name: 'restartable', transport: McpTransport.STREAMABLE_HTTP, url: restartable.url, approved: true });
  key = (await g.apiKey(ws, 'agent', ['main'])).secret;
  await g.sync();
});

afterAll(async () => {
  await g?.close();
  await Promise.all([slow, sleepy, restartable].map((u) => u?.close()));
});

describe('failing upstreams', () => {
  it('never hang tools/list: dead and slow servers drop out within their timeout, with the reason in _meta', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const started = Date.now();
    const result = await client.listTools();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(4500);
    const servers = new Set(result.tools.map((t) => t._meta?.['sluice/server']));
    expect([...servers].sort()).toEqual(['everything', 'restartable', 'sleepy']);
    const problems = problemsOf(result);
    expect(problems.map((p) => p.server)).toEqual(['closed-port', 'exits', 'missing-binary', 'slow']);
    expect(problems.find((p) => p.server === 'slow')).toMatchObject({ code: 'upstream_timeout', message: expect.stringContaining('2000 ms') });
    expect(problems.find((p) => p.server === 'closed-port')).toMatchObject({ code: 'upstream_unavailable', message: expect.stringContaining('ECONNREFUSED') });
    expect(problems.find((p) => p.server === 'missing-binary')).toMatchObject({ code: 'upstream_unavailable', message: expect.stringContaining('ENOENT') });
    expect(problems.find((p) => p.server === 'exits')).toMatchObject({ code: 'upstream_unavailable' });

    // Failed connects are not retried before their backoff: the next list is fast and says so.
    const again = Date.now();
    const second = await client.listTools();
    expect(Date.now() - again).toBeLessThan(1000);
    expect(problemsOf(second).find((p) => p.server === 'closed-port')?.message).toContain('next attempt in');
    expect(second.tools.map((t) => t.name)).toEqual(result.tools.map((t) => t.name));
    await client.close();
  });

  it('answer calls to an unreachable server with a JSON-RPC error naming it', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const err = await rejection(client.callTool({ name: 'closed-port__anything', arguments: {} }));
    expect(err.code).toBe(-32000);
    expect(err.data).toMatchObject({ code: 'upstream_unavailable' });
    expect(err.message).toContain('MCP server "closed-port"');
    await client.close();
  });

  it('bound every call by the server timeout', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const started = Date.now();
    const err = await rejection(client.callTool({ name: 'sleepy__sleep', arguments: { ms: 8000 } }));
    expect(Date.now() - started).toBeLessThan(3500);
    expect(err.code).toBe(-32001);
    expect(err.data).toMatchObject({ kind: 'deadline_exceeded', code: 'upstream_timeout' });
    // The session stays usable after a timed-out call.
    expect(await client.callTool({ name: 'sleepy__sleep', arguments: { ms: 1 } })).toEqual({ content: [{ type: 'text', text: 'sleep' }] });
    await client.close();
  });

  it('replace a stdio child that died', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    await client.callTool({ name: 'everything__echo', arguments: { message: 'first' } });
    const pid = g.runtime.pool.sessions().find((s) => s.server === 'everything')?.pid;
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await eventually(() => !alive(pid!));
    await eventually(() => !g.runtime.pool.sessions().some((s) => s.pid === pid));
    expect(await client.callTool({ name: 'everything__echo', arguments: { message: 'second' } })).toEqual({ content: [{ type: 'text', text: 'Echo: second' }] });
    const replacement = g.runtime.pool.sessions().find((s) => s.server === 'everything')?.pid;
    expect(replacement).toBeDefined();
    expect(replacement).not.toBe(pid);
    await client.close();
  });

  it('reconnect to an HTTP server that restarted and forgot the session', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    expect(await client.callTool({ name: 'restartable__ping-me', arguments: {} })).toEqual({ content: [{ type: 'text', text: 'ping-me' }] });
    await restartable.close();
    restartable = await startTestUpstream({ port: restartPort, tools: ['ping-me'] });
    expect(await client.callTool({ name: 'restartable__ping-me', arguments: {} })).toEqual({ content: [{ type: 'text', text: 'ping-me' }] });
    expect(restartable.sessions()).toBe(1);
    await client.close();
  });
});

/**
 * Deferred loading against real npm MCP servers (server-everything and
 * server-memory over stdio), through the MCP SDK client: which tools are
 * listed (gateway default, per-server override, client header), search_tools
 * (BM25 and regex) and the orchestrator, including sandbox escape attempts
 * made through the gateway.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DeferLoading, McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import type { McpCallRecord } from '../../src/observability/records.js';
import { connectClient, EVERYTHING_JS, MEMORY_JS, startTestGateway, type TestGateway } from './harness.js';

let g: TestGateway;
let key: string;
let dataDir: string;
let gatewayId: string;
const records: McpCallRecord[] = [];
const DEFERRED = { 'x-sluice-mcp-deferred': 'true' };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-mcp-deferred-'));
  g = await startTestGateway({}, { onCall: (r) => records.push(r), sandbox: { limits: { timeoutMs: 3000, memoryBytes: 32 * 1024 * 1024, stackBytes: 256 * 1024, maxResultBytes: 256 * 1024 } } });
  const ws = await g.workspace('acme');
  gatewayId = await g.gateway(ws, 'main');
  await g.server(gatewayId, { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true });
  // Always listed, whatever the session's default.
  await g.server(gatewayId, {
    name: 'memory',
    transport: McpTransport.STDIO,
    command: process.execPath,
    args: [MEMORY_JS],
    env: { MEMORY_FILE_PATH: join(dataDir, 'memory.jsonl') },
    approved: true,
    deferLoading: DeferLoading.DISABLED,
  });
  key = (await g.apiKey(ws, 'agent', ['main'])).secret;
  await g.sync();
});

afterAll(async () => {
  await g?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function text(result: unknown): string {
  const r = result as CallToolResult;
  return r.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

async function names(headers: Record<string, string> = {}): Promise<string[]> {
  const { client } = await connectClient(`${g.baseUrl}/mcp`, key, headers);
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t) => t.name);
}

describe('deferred loading', () => {
  it('is off by default; the client header defers the servers that inherit', async () => {
    const all = await names();
    expect(all).not.toContain('search_tools');
    expect(all.some((n) => n.startsWith('everything__'))).toBe(true);
    const deferred = await names(DEFERRED);
    expect(deferred.slice(0, 2)).toEqual(['search_tools', 'orchestrator']);
    expect(deferred.some((n) => n.startsWith('everything__'))).toBe(false);
    // memory is `disabled`: always listed.
    expect(deferred.filter((n) => n.startsWith('memory__')).length).toBe(all.filter((n) => n.startsWith('memory__')).length);
  });

  it('follows the gateway default, which the header can turn off, and a server set to enabled stays deferred', async () => {
    await g.setMcp(gatewayId, { deferLoading: true });
    await g.sync();
    expect((await names()).slice(0, 2)).toEqual(['search_tools', 'orchestrator']);
    const off = await names({ 'x-sluice-mcp-deferred': 'false' });
    expect(off).not.toContain('search_tools');
    expect(off.some((n) => n.startsWith('everything__'))).toBe(true);
    const memoryId = (await g.runtime.gateway(g.snapshots.current.version, gatewayId)).servers.find((s) => s.name === 'memory')!.id;
    await g.updateServer(memoryId, { deferLoading: DeferLoading.ENABLED }, ['defer_loading']);
    await g.setMcp(gatewayId, { deferLoading: false });
    await g.sync();
    const header = await names({ 'x-sluice-mcp-deferred': 'false' });
    expect(header.slice(0, 2)).toEqual(['search_tools', 'orchestrator']);
    expect(header.some((n) => n.startsWith('memory__'))).toBe(false);
    expect(header.some((n) => n.startsWith('everything__'))).toBe(true);
    await g.updateServer(memoryId, { deferLoading: DeferLoading.DISABLED }, ['defer_loading']);
    await g.sync();
    expect(await names()).not.toContain('search_tools');
  });

  it('search_tools ranks tools with BM25 and returns their full input schemas; the index is built once', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key, DEFERRED);
    const before = g.runtime.search.builds;
    const found = (await client.callTool({ name: 'search_tools', arguments: { query: 'echo a message back' } })) as CallToolResult;
    const hits = (found.structuredContent as { tools: { name: string; inputSchema: { properties?: Record<string, unknown> } }[] }).tools;
    expect(hits[0]?.name).toBe('everything__echo');
    expect(hits[0]?.inputSchema.properties).toHaveProperty('message');
    expect(JSON.parse(text(found))).toEqual(found.structuredContent);
    const sum = (await client.callTool({ name: 'search_tools', arguments: { query: 'add two numbers', server: 'everything', limit: 2 } })) as CallToolResult;
    const sumHits = (sum.structuredContent as { tools: { name: string; server: string }[] }).tools;
    expect(sumHits[0]?.name).toBe('everything__get-sum');
    expect(sumHits.length).toBeLessThanOrEqual(2);
    expect(sumHits.every((t) => t.server === 'everything')).toBe(true);
    expect(g.runtime.search.builds - before).toBe(1);

    const regex = (await client.callTool({ name: 'search_tools', arguments: { query: '^memory__(create|delete)_entities$', mode: 'regex', limit: 10 } })) as CallToolResult;
    expect((regex.structuredContent as { tools: { name: string }[] }).tools.map((t) => t.name).sort()).toEqual(['memory__create_entities', 'memory__delete_entities']);
    const bad = (await client.callTool({ name: 'search_tools', arguments: { query: '(unclosed', mode: 'regex' } })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/invalid regular expression/);
    const empty = (await client.callTool({ name: 'search_tools', arguments: {} })) as CallToolResult;
    expect(empty).toMatchObject({ isError: true });
    // A tool found by search is called directly by its name.
    expect(text(await client.callTool({ name: 'everything__echo', arguments: { message: 'found' } }))).toBe('Echo: found');
    await client.close();
  });

  it('does not offer the gateway tools to a session that is not deferring', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    await expect(client.callTool({ name: 'search_tools', arguments: { query: 'echo' } })).rejects.toThrow(/Unknown tool/);
    await client.close();
  });

  it('orchestrator runs a multi-step workflow across servers in one call, each inner call recorded under it', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key, DEFERRED);
    records.length = 0;
    const workflow = `
      await tools.memory__create_entities({ entities: context.names.map((name) => ({ name, entityType: 'city', observations: ['visited'] })) });
      const graph = await tools.memory__read_graph({});
      const sum = await tools['everything__get-sum']({ a: context.names.length, b: 100 });
      const echo = await tools.everything__echo({ message: 'done' });
      return { cities: graph.structuredContent.entities.map((e) => e.name).sort(), sum: sum.content[0].text, echo: echo.content[0].text };
    `;
    const result = (await client.callTool({ name: 'orchestrator', arguments: { workflow, context: { names: ['Lisbon', 'Oslo', 'Kyoto'] } } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const value = JSON.parse(text(result)) as { cities: string[]; sum: string; echo: string };
    expect(value.cities).toEqual(['Kyoto', 'Lisbon', 'Oslo']);
    expect(value.sum).toMatch(/103/);
    expect(value.echo).toBe('Echo: done');
    expect(result._meta).toMatchObject({ 'sluice/tool-calls': 4 });
    const parent = records.find((r) => r.tool === 'orchestrator');
    expect(parent).toMatchObject({ server: 'sluice', status: 'ok' });
    const children = records.filter((r) => r.parentId === parent?.id);
    expect(children.map((r) => `${r.server}:${r.tool}`)).toEqual(['memory:create_entities', 'memory:read_graph', 'everything:get-sum', 'everything:echo']);
    expect(children.every((r) => r.status === 'ok')).toBe(true);
    await client.close();
  });

  it('keeps blocked tools blocked inside workflows, and a workflow cannot call the gateway tools', async () => {
    await g.setMcp(gatewayId, { blockedTools: ['everything:echo'] });
    await g.sync();
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key, DEFERRED);
    const run = async (workflow: string) => (await client.callTool({ name: 'orchestrator', arguments: { workflow } })) as CallToolResult;
    expect(JSON.parse(text(await run('return [typeof tools.everything__echo, typeof tools.orchestrator, typeof tools.search_tools, typeof tools["everything__get-sum"]]')))).toEqual([
      'undefined',
      'undefined',
      'undefined',
      'function',
    ]);
    const direct = await run('return await tools.everything__echo({ message: "x" })');
    expect(direct.isError).toBe(true);
    expect(text(direct)).toMatch(/not a function/);
    await g.setMcp(gatewayId, { blockedTools: [] });
    await g.sync();
    await client.close();
  });

  it('keeps serving other requests while a workflow spins', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key, DEFERRED);
    const other = await connectClient(`${g.baseUrl}/mcp`, key);
    const spinning = client.callTool({ name: 'orchestrator', arguments: { workflow: 'for (;;) {}' } });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await other.client.ping();
    expect(text(await other.client.callTool({ name: 'everything__echo', arguments: { message: 'meanwhile' } }))).toBe('Echo: meanwhile');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(text(await spinning)).toMatch(/orchestrator: timeout/);
    await client.close();
    await other.client.close();
  });

  it('answers escape attempts, runaway scripts and bad input with tool errors and stays healthy', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key, DEFERRED);
    const run = async (workflow: string) => (await client.callTool({ name: 'orchestrator', arguments: { workflow } })) as CallToolResult;
    const cases: [string, RegExp][] = [
      ['return require("child_process").execSync("id").toString()', /'require' is not defined/],
      ['return process.env', /'process' is not defined/],
      ['return await import("node:fs")', /orchestrator: workflow_error/],
      ['return await fetch("http://127.0.0.1:9/")', /'fetch' is not defined/],
      ['while (true) {}', /orchestrator: timeout/],
      ['const a = []; for (;;) a.push("x".repeat(1 << 16) + a.length);', /orchestrator: out_of_memory/],
      ['function f() { return f() + 1 } return f()', /orchestrator: stack_overflow/],
      ['return "y".repeat(1 << 20)', /orchestrator: result_too_large/],
      ['return (;', /orchestrator: syntax_error/],
      [`return 1; /* ${'z'.repeat(70 * 1024)} */`, /orchestrator: source_too_large/],
      ['return ({}).constructor.constructor("return typeof process")()', /"undefined"/],
    ];
    for (const [workflow, expected] of cases) {
      const result = await run(workflow);
      expect(text(result), workflow.slice(0, 60)).toMatch(expected);
    }
    const missing = (await client.callTool({ name: 'orchestrator', arguments: { context: {} } })) as CallToolResult;
    expect(missing).toMatchObject({ isError: true });
    // Still healthy: pings, lists and workflows work.
    await expect(client.ping()).resolves.toEqual({});
    expect(text(await run('return (await tools["everything__get-sum"]({ a: 1, b: 2 })).content[0].text'))).toMatch(/3/);
    await client.close();
  });
});

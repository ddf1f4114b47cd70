/**
 * One gateway aggregating two real npm MCP servers run as stdio children
 * (server-everything and server-memory), used through the MCP SDK client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LATEST_PROTOCOL_VERSION, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { connectClient, EVERYTHING_JS, initializeBody, MEMORY_JS, rawPost, startTestGateway, type TestGateway } from './harness.js';

let g: TestGateway;
let key: string;
let dataDir: string;
let upstreamOrder: { everything: string[]; memory: string[] };

/** The tool names a server lists when asked directly. */
async function directToolNames(args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const client = new Client({ name: 'direct', version: '1' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' }));
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t) => t.name);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-mcp-'));
  const memoryEnv = { MEMORY_FILE_PATH: join(dataDir, 'memory.jsonl') };
  g = await startTestGateway();
  const ws = await g.workspace('acme');
  const gw = await g.gateway(ws, 'main');
  // Created in reverse order: the listing order must not depend on it.
  await g.server(gw, { name: 'memory', transport: McpTransport.STDIO, command: process.execPath, args: [MEMORY_JS], env: memoryEnv, approved: true });
  await g.server(gw, { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true });
  key = (await g.apiKey(ws, 'agent', ['main'])).secret;
  await g.sync();
  upstreamOrder = { everything: await directToolNames([EVERYTHING_JS, 'stdio']), memory: await directToolNames([MEMORY_JS], memoryEnv) };
});

afterAll(async () => {
  await g?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('MCP gateway over two stdio upstreams', () => {
  it('initialises with the current protocol version and announces its capabilities', async () => {
    const { client, transport } = await connectClient(`${g.baseUrl}/mcp`, key);
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(transport.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);
    expect(client.getServerVersion()?.name).toBe('sluice');
    expect(client.getServerCapabilities()).toMatchObject({ tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true }, completions: {} });
    await expect(client.ping()).resolves.toEqual({});
    await client.close();
  });

  it('negotiates older protocol versions and answers unknown ones with its latest', async () => {
    const older = await rawPost(`${g.baseUrl}/mcp`, initializeBody('2025-03-26'), { authorization: `Bearer ${key}` });
    expect(older.status).toBe(200);
    expect(older.body).toMatchObject({ result: { protocolVersion: '2025-03-26', serverInfo: { name: 'sluice' } } });
    const unknown = await rawPost(`${g.baseUrl}/mcp`, initializeBody('1999-01-01'), { authorization: `Bearer ${key}` });
    expect(unknown.body).toMatchObject({ result: { protocolVersion: LATEST_PROTOCOL_VERSION } });
  });

  it('lists both servers\' tools namespaced, ordered by server name then upstream order, identically across sessions', async () => {
    const a = await connectClient(`${g.baseUrl}/gateways/main/mcp`, key);
    const b = await connectClient(`${g.baseUrl}/mcp`, key);
    const first = await a.client.listTools();
    const second = await b.client.listTools();
    const names = first.tools.map((t) => t.name);
    expect(names).toEqual([...upstreamOrder.everything.map((n) => `everything__${n}`), ...upstreamOrder.memory.map((n) => `memory__${n}`)]);
    expect(second.tools).toEqual(first.tools);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    const echo = first.tools.find((t) => t.name === 'everything__echo') as Tool;
    expect(echo._meta).toMatchObject({ 'sluice/server': 'everything', 'sluice/upstream-name': 'echo' });
    expect(echo.inputSchema.properties).toHaveProperty('message');
    expect(first._meta).toBeUndefined();
    await a.client.close();
    await b.client.close();
  });

  it('routes calls to the owning server', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    expect(await client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } })).toEqual({ content: [{ type: 'text', text: 'Echo: hello' }] });
    const sum = await client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 40 } });
    expect(JSON.stringify(sum.content)).toContain('42');
    await client.callTool({ name: 'memory__create_entities', arguments: { entities: [{ name: 'sluice', entityType: 'gateway', observations: ['routes MCP calls'] }] } });
    const graph = await client.callTool({ name: 'memory__read_graph', arguments: {} });
    expect(JSON.stringify(graph)).toContain('routes MCP calls');
    await client.close();
  });

  it('refuses unknown tools with a JSON-RPC invalid-params error', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    for (const name of ['everything__nope', 'nope__echo', 'echo']) {
      const err = await client.callTool({ name, arguments: {} }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(-32602);
      expect((err as McpError).message).toContain(`Unknown tool: ${name}`);
    }
    await client.close();
  });

  it('relays progress notifications of a long-running call', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const progress: number[] = [];
    await client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1, 2, 3]);
    await client.close();
  });

  it('passes resources and templates through with their URIs and routes reads to the owner', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const { resources } = await client.listResources();
    const doc = resources.find((r) => r.uri === 'demo://resource/static/document/features.md');
    expect(doc).toBeDefined();
    const read = await client.readResource({ uri: doc!.uri });
    expect(JSON.stringify(read.contents)).toContain('Everything Server');
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toContain('demo://resource/dynamic/text/{resourceId}');
    const templated = await client.readResource({ uri: 'demo://resource/dynamic/text/7' });
    expect(templated.contents[0]?.uri).toBe('demo://resource/dynamic/text/7');
    // A link returned by a tool can be read back through the gateway.
    const links = await client.callTool({ name: 'everything__get-resource-links', arguments: { count: 2 } });
    const link = (links.content as { type: string; uri?: string }[]).find((c) => c.type === 'resource_link');
    expect(link?.uri).toBeDefined();
    expect((await client.readResource({ uri: link!.uri! })).contents.length).toBeGreaterThan(0);
    const missing = await client.readResource({ uri: 'nowhere://x' }).then(
      () => undefined,
      (e: unknown) => e as McpError,
    );
    expect(missing?.code).toBe(-32002);
    await client.close();
  });

  it('passes prompts through, namespaced, with arguments and completions', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(expect.arrayContaining(['everything__simple-prompt', 'everything__args-prompt']));
    expect(prompts.every((p) => p.name.startsWith('everything__'))).toBe(true);
    const got = await client.getPrompt({ name: 'everything__args-prompt', arguments: { city: 'Lisbon' } });
    expect(JSON.stringify(got.messages)).toContain('Lisbon');
    const completion = await client.complete({ ref: { type: 'ref/prompt', name: 'everything__completable-prompt' }, argument: { name: 'department', value: 'Eng' } });
    expect(completion.completion.values).toContain('Engineering');
    const unknown = await client.getPrompt({ name: 'everything__nope' }).then(
      () => undefined,
      (e: unknown) => e as McpError,
    );
    expect(unknown?.code).toBe(-32602);
    await client.close();
  });

  it('shares one upstream session per server across client sessions', async () => {
    const a = await connectClient(`${g.baseUrl}/mcp`, key);
    await a.client.callTool({ name: 'everything__echo', arguments: { message: 'a' } });
    const before = g.runtime.pool.sessions().map((s) => `${s.server}:${s.pid}`).sort();
    const b = await connectClient(`${g.baseUrl}/mcp`, key);
    await b.client.callTool({ name: 'everything__echo', arguments: { message: 'b' } });
    await b.client.listTools();
    expect(g.runtime.pool.sessions().map((s) => `${s.server}:${s.pid}`).sort()).toEqual(before);
    expect(before).toHaveLength(2);
    await a.client.close();
    await b.client.close();
  });
});

/**
 * MCP deferred-loading savings, measured (`npm run bench:mcp`).
 *
 * Starts a gateway with real npm MCP servers as stdio upstreams
 * (server-everything, server-memory, server-filesystem,
 * server-sequential-thinking: 37 tools) and, for the other rows, an HTTP
 * upstream with generated tools (16, then 200; each with a one-line
 * description and an empty object schema, so they understate real tools). For each catalogue it counts, with the
 * o200k_base tokenizer (gpt-tokenizer, offline), the tokens of the tool
 * definitions a client hands its model after the initial `tools/list`
 * (`name`, `description`, `inputSchema` of each tool, JSON-encoded), once
 * without and once with deferred loading (`x-sluice-mcp-deferred: true`).
 *
 * Then it runs one multi-step task both ways and counts model round trips
 * (one per tool call the model must issue and read back) and the tokens of
 * the tool results the model reads: tool by tool, and as one search_tools
 * call plus one orchestrator call. Prints a Markdown table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { connectClient, EVERYTHING_JS, FILESYSTEM_JS, MEMORY_JS, startTestGateway, THINKING_JS } from '../mcp/harness.js';
import { startTestUpstream } from '../mcp/test-upstream.js';

const tokens = (value: unknown): number => encode(typeof value === 'string' ? value : JSON.stringify(value)).length;
const modelView = (tools: Tool[]) => tools.map((t) => ({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema }));
const resultText = (r: unknown) => (r as CallToolResult).content.map((b) => (b.type === 'text' ? b.text : JSON.stringify(b))).join('');

const VERBS = ['get', 'list', 'create', 'update', 'delete', 'search', 'export', 'archive'];
const NOUNS = ['invoice', 'customer', 'ticket', 'order', 'shipment', 'product', 'refund', 'subscription', 'report', 'employee', 'project', 'contract', 'payment', 'warehouse', 'campaign', 'lead', 'asset', 'incident', 'vendor', 'budget', 'calendar', 'document', 'repository', 'deployment', 'alert'];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mcp-bench-'));
  const catalogue = VERBS.flatMap((v) => NOUNS.map((n) => `${v}_${n}`));
  const generated = await startTestUpstream({ tools: catalogue });
  const small = await startTestUpstream({ tools: catalogue.slice(0, 16) });
  const g = await startTestGateway();
  try {
    const ws = await g.workspace('bench');
    const real = await g.gateway(ws, 'real');
    const mid = await g.gateway(ws, 'mid');
    const big = await g.gateway(ws, 'big');
    for (const gw of [real, mid, big]) {
      const stdio = { transport: McpTransport.STDIO, command: process.execPath, approved: true } as const;
      await g.server(gw, { ...stdio, name: 'everything', args: [EVERYTHING_JS, 'stdio'] });
      await g.server(gw, { ...stdio, name: 'memory', args: [MEMORY_JS], env: { MEMORY_FILE_PATH: join(dir, `memory-${gw}.jsonl`) } });
      await g.server(gw, { ...stdio, name: 'filesystem', args: [FILESYSTEM_JS, dir] });
      await g.server(gw, { ...stdio, name: 'thinking', args: [THINKING_JS] });
    }
    await g.server(mid, { name: 'catalogue', transport: McpTransport.STREAMABLE_HTTP, url: small.url, approved: true });
    await g.server(big, { name: 'catalogue', transport: McpTransport.STREAMABLE_HTTP, url: generated.url, approved: true });
    const key = (await g.apiKey(ws, 'bench', ['real', 'mid', 'big'])).secret;
    await g.sync();

    const rows: string[] = [];
    for (const [label, gateway] of [
      ['4 npm servers (everything, memory, filesystem, sequential-thinking)', 'real'],
      ['the same + 16 generated tools', 'mid'],
      ['the same + generated catalogue of 200 tools', 'big'],
    ] as const) {
      const url = `${g.baseUrl}/gateways/${gateway}/mcp`;
      const plain = await connectClient(url, key);
      const all = (await plain.client.listTools()).tools;
      const deferred = await connectClient(url, key, { 'x-sluice-mcp-deferred': 'true' });
      const few = (await deferred.client.listTools()).tools;
      const full = tokens(modelView(all));
      const lean = tokens(modelView(few));
      rows.push(`| ${label} | ${all.length} | ${full} | ${few.length} | ${lean} | ${(100 * (1 - lean / full)).toFixed(1)} % |`);
      await plain.client.close();
      await deferred.client.close();
    }

    // One task, two ways: record three cities, link two, read the graph back, add up two numbers, echo a summary.
    const url = `${g.baseUrl}/gateways/real/mcp`;
    const stepwise = await connectClient(url, key);
    const steps: [string, Record<string, unknown>][] = [
      ['memory__create_entities', { entities: ['Lisbon', 'Oslo', 'Kyoto'].map((name) => ({ name, entityType: 'city', observations: ['visited'] })) }],
      ['memory__create_relations', { relations: [{ from: 'Lisbon', to: 'Oslo', relationType: 'flight' }] }],
      ['memory__read_graph', {}],
      ['everything__get-sum', { a: 3, b: 1 }],
      ['everything__echo', { message: 'cities: Kyoto, Lisbon, Oslo; relations: 1' }],
    ];
    let stepTokens = 0;
    for (const [name, args] of steps) stepTokens += tokens(resultText(await stepwise.client.callTool({ name, arguments: args })));
    await stepwise.client.close();

    const orchestrated = await connectClient(url, key, { 'x-sluice-mcp-deferred': 'true' });
    const search = await orchestrated.client.callTool({ name: 'search_tools', arguments: { query: 'knowledge graph entities relations read', server: 'memory', limit: 4 } });
    const workflow = `
      await tools.memory__create_entities({ entities: context.cities.map((name) => ({ name, entityType: 'city', observations: ['visited'] })) });
      await tools.memory__create_relations({ relations: [{ from: 'Lisbon', to: 'Oslo', relationType: 'flight' }] });
      const graph = (await tools.memory__read_graph({})).structuredContent;
      const sum = await tools['everything__get-sum']({ a: graph.entities.length, b: graph.relations.length });
      const names = graph.entities.map((e) => e.name).sort().join(', ');
      await tools.everything__echo({ message: 'cities: ' + names + '; relations: ' + graph.relations.length });
      return { cities: names, total: sum.content[0].text };
    `;
    const run = (await orchestrated.client.callTool({ name: 'orchestrator', arguments: { workflow, context: { cities: ['Lisbon', 'Oslo', 'Kyoto'] } } })) as CallToolResult;
    if (run.isError) throw new Error(`orchestrator failed: ${resultText(run)}`);
    const orchestratedTokens = tokens(resultText(search)) + tokens(resultText(run));
    const innerCalls = Number(run._meta?.['sluice/tool-calls'] ?? 0);
    await orchestrated.client.close();

    console.log('| catalogue | tools listed (plain) | tokens | tools listed (deferred) | tokens | saved |');
    console.log('|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);
    console.log('');
    console.log('| multi-step task (5 tool calls) | model round trips | result tokens read by the model |');
    console.log('|---|---|---|');
    console.log(`| tool by tool | ${steps.length} | ${stepTokens} |`);
    console.log(`| search_tools + one orchestrator call (${innerCalls} calls inside) | 2 | ${orchestratedTokens} |`);
  } finally {
    await g.close();
    await generated.close();
    await small.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

/**
 * Governance of MCP tool calls against server-everything (stdio), through
 * the MCP SDK client: the CEL authorization rule (checked when saved, applied
 * to lists, calls and orchestrator calls), rate limits per key and per
 * gateway on a real counter store, and one call record per call.
 */
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { McpRateLimitScope, RateLimitWindow, StoreFailureMode, UpdateGatewayRequestSchema } from '../../src/gen/sluice/v1/gateway_pb.js';
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import type { McpCallRecord } from '../../src/observability/records.js';
import { createMemoryCounterStore } from '../../src/policy/counters/index.js';
import { createGatewayService } from '../../src/services/gateway-service.js';
import { connectClient, EVERYTHING_JS, startTestGateway, type TestGateway } from './harness.js';

let g: TestGateway;
let gatewayId: string;
let ops: string;
let guest: string;
let guestId: string;
const records: McpCallRecord[] = [];
const counters = createMemoryCounterStore();

beforeAll(async () => {
  g = await startTestGateway({}, { counters, onCall: (r) => records.push(r) });
  const ws = await g.workspace('acme');
  gatewayId = await g.gateway(ws, 'main');
  await g.server(gatewayId, { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true });
  ops = (await g.apiKey(ws, 'ops', ['main'], 'main', { team: 'ops' })).secret;
  const k = await g.apiKey(ws, 'guest', ['main'], 'main', { team: 'web' });
  guest = k.secret;
  guestId = k.id;
  await g.sync();
});

afterAll(async () => {
  await g?.close();
  await counters.close();
});

async function rpcError(p: Promise<unknown>): Promise<McpError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  return err as McpError;
}

describe('MCP governance', () => {
  it('rejects an authorization rule that does not type-check, with position and reason', async () => {
    const update = createGatewayService(g.t.deps).updateGateway(
      create(UpdateGatewayRequestSchema, { gateway: { id: gatewayId, mcp: { authorization: 'tool.name == 1 || request.model == "x"' } }, updateMask: { paths: ['mcp'] } }),
      g.t.root,
    );
    await expect(update).rejects.toThrow(/gateway\.mcp\.authorization.*1:\d+/);
  });

  it('rejects rate limits without a window, scope or positive limit', async () => {
    const update = createGatewayService(g.t.deps).updateGateway(
      create(UpdateGatewayRequestSchema, { gateway: { id: gatewayId, mcp: { rateLimits: [{ limit: 0n }] } }, updateMask: { paths: ['mcp'] } }),
      g.t.root,
    );
    const err = await update.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/rate_limits\[0\]\.scope/);
    expect(err?.message).toMatch(/rate_limits\[0\]\.limit/);
    expect(err?.message).toMatch(/rate_limits\[0\]\.window/);
  });

  it('applies the rule to lists, calls and calls made by workflows', async () => {
    await g.setMcp(gatewayId, { authorization: 'tool.server == "sluice" || tool.name != "get-sum" || key.metadata["team"] == "ops"' });
    await g.sync();
    const o = await connectClient(`${g.baseUrl}/mcp`, ops);
    const w = await connectClient(`${g.baseUrl}/mcp`, guest, { 'x-sluice-mcp-deferred': 'false' });
    expect((await o.client.listTools()).tools.map((t) => t.name)).toContain('everything__get-sum');
    const guestTools = (await w.client.listTools()).tools.map((t) => t.name);
    expect(guestTools).not.toContain('everything__get-sum');
    expect(guestTools).toContain('everything__echo');

    const refused = await rpcError(w.client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } }));
    expect(refused.code).toBe(-32003);
    expect(refused.data).toMatchObject({ code: 'tool_unauthorized' });
    expect(await o.client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } })).toMatchObject({ content: [{ type: 'text' }] });

    // Inside a workflow the refused tool is not even offered; search does not find it either.
    const d = await connectClient(`${g.baseUrl}/mcp`, guest, { 'x-sluice-mcp-deferred': 'true' });
    const run = (await d.client.callTool({ name: 'orchestrator', arguments: { workflow: 'return [typeof tools["everything__get-sum"], typeof tools.everything__echo]' } })) as CallToolResult;
    expect(run.structuredContent ?? JSON.parse((run.content[0] as { text: string }).text)).toEqual(['undefined', 'function']);
    const found = (await d.client.callTool({ name: 'search_tools', arguments: { query: 'sum', mode: 'regex', limit: 50 } })) as CallToolResult;
    expect((found.structuredContent as { tools: { name: string }[] }).tools.map((t) => t.name)).not.toContain('everything__get-sum');

    // A rule can refuse the gateway's own tools too.
    await g.setMcp(gatewayId, { authorization: 'tool.server != "sluice" || tool.name != "orchestrator"' });
    await g.sync();
    const names = (await d.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('search_tools');
    expect(names).not.toContain('orchestrator');
    const noOrch = await rpcError(d.client.callTool({ name: 'orchestrator', arguments: { workflow: 'return 1' } }));
    expect(noOrch.data).toMatchObject({ code: 'tool_unauthorized' });
    await g.setMcp(gatewayId, {});
    await g.sync();
    for (const c of [o, w, d]) await c.client.close();
  });

  it('limits calls per key, counting orchestrator calls, without touching other keys', async () => {
    await g.setMcp(gatewayId, { rateLimits: [{ scope: McpRateLimitScope.KEY, limit: 3n, window: RateLimitWindow.MINUTE }] });
    await g.sync();
    const w = await connectClient(`${g.baseUrl}/mcp`, guest);
    const o = await connectClient(`${g.baseUrl}/mcp`, ops);
    for (let i = 0; i < 3; i++) await w.client.callTool({ name: 'everything__echo', arguments: { message: String(i) } });
    const limited = await rpcError(w.client.callTool({ name: 'everything__echo', arguments: { message: 'over' } }));
    expect(limited.data).toMatchObject({ kind: 'resource_exhausted', code: 'mcp_rate_limited' });
    expect((limited.data as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    await expect(o.client.callTool({ name: 'everything__echo', arguments: { message: 'ops' } })).resolves.toBeTruthy();

    // One gateway-wide counter: 2 orchestrator-made calls plus the orchestrator call itself exceed 2.
    await g.setMcp(gatewayId, { rateLimits: [{ scope: McpRateLimitScope.GATEWAY, limit: 2n, window: RateLimitWindow.HOUR, onStoreFailure: StoreFailureMode.FAIL_CLOSED }] });
    await g.sync();
    const d = await connectClient(`${g.baseUrl}/mcp`, ops, { 'x-sluice-mcp-deferred': 'true' });
    const run = (await d.client.callTool({
      name: 'orchestrator',
      arguments: { workflow: 'const out = []; for (const m of ["a", "b"]) { try { await tools.everything__echo({ message: m }); out.push("ok"); } catch (e) { out.push(e.code); } } return out;' },
    })) as CallToolResult;
    expect(run.structuredContent ?? JSON.parse((run.content[0] as { text: string }).text)).toEqual(['ok', 'mcp_rate_limited']);
    await g.setMcp(gatewayId, {});
    await g.sync();
    for (const c of [w, o, d]) await c.client.close();
  });

  it('records every call with server, tool, latency and status; bodies only when the gateway records them', async () => {
    const w = await connectClient(`${g.baseUrl}/mcp`, guest);
    records.length = 0;
    await w.client.callTool({ name: 'everything__echo', arguments: { message: 'logged' } });
    await rpcError(w.client.callTool({ name: 'everything__nope', arguments: {} }));
    await g.setBlockedTools(gatewayId, ['everything:get-sum']);
    await g.sync();
    await rpcError(w.client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 1 } }));
    expect(records.map((r) => [r.server, r.tool, r.status])).toEqual([
      ['everything', 'echo', 'ok'],
      ['everything', 'everything__nope', 'error'],
      ['everything', 'get-sum', 'refused'],
    ]);
    expect(records[0]).toMatchObject({ gateway: 'main', apiKeyId: guestId });
    expect(records[0]!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(records[0]!.input).toBeUndefined();
    expect(records[2]!.errorMessage).toMatch(/blocked/);

    await createGatewayService(g.t.deps).updateGateway(create(UpdateGatewayRequestSchema, { gateway: { id: gatewayId, recordBodies: true }, updateMask: { paths: ['record_bodies'] } }), g.t.root);
    await g.sync();
    records.length = 0;
    await w.client.callTool({ name: 'everything__echo', arguments: { message: 'with body' } });
    expect(records[0]).toMatchObject({ input: { message: 'with body' }, output: { content: [{ type: 'text', text: 'Echo: with body' }] } });
    await w.client.close();
  });
});

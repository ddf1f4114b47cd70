/**
 * The MCP call log end to end on SQLite and PostgreSQL: tool calls through a
 * running gateway's `/mcp` endpoint (the npm `server-everything` over stdio
 * as the upstream, the MCP SDK as the client) become records that
 * ListMcpCallLogs finds by gateway, server, tool, status, key and time, with
 * inputs and outputs once the gateway records bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '@bufbuild/protobuf';
import { timestampFromMs, ValueSchema } from '@bufbuild/protobuf/wkt';
import { createSluiceClient, type SluiceClient } from '@sluice/client';
import { McpTransport } from '@sluice/client/gen/mcp_server';
import { ProviderType } from '@sluice/client/gen/provider';
import type { McpCallLog } from '@sluice/client/gen/log';
import { DIALECTS } from '../helpers/database.js';
import { buildWorkspace, type BuiltWorkspace } from '../helpers/gateway-setup.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { connectClient, EVERYTHING_JS } from '../mcp/harness.js';

async function waitForCalls(s: RunningSluice, client: SluiceClient, workspaceId: string, count: number): Promise<McpCallLog[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await s.sluice.logs.pipeline.flush();
    const page = await client.logs.listMcpCallLogs({ workspaceId });
    if (page.mcpCallLogs.length >= count) return page.mcpCallLogs;
    if (Date.now() > deadline) throw new Error(`expected ${count} MCP call logs, found ${page.mcpCallLogs.length}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.each(DIALECTS)('MCP call log on %s', (dialect) => {
  let s: RunningSluice;
  let w: BuiltWorkspace;
  let root: SluiceClient;
  let calls: McpCallLog[];
  const started = Date.now();

  beforeAll(async () => {
    s = await startTestServer(dialect);
    root = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    w = await buildWorkspace(s, { workspace: 'mcp-logs', providers: [{ name: 'mock', type: ProviderType.MOCK, models: ['echo'] }] });
    await root.mcpServers.createMcpServer({
      gatewayId: w.gatewayId,
      mcpServer: { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true, enabled: true },
    });
    await s.sluice.snapshots.refresh();
    const { client, transport } = await connectClient(`${s.baseUrl}/gateways/main/mcp`, w.apiKey);
    try {
      await client.callTool({ name: 'everything__echo', arguments: { message: 'not recorded' } });
      await root.gateways.updateGateway({ gateway: { id: w.gatewayId, recordBodies: true }, updateMask: { paths: ['record_bodies'] } });
      await s.sluice.snapshots.refresh();
      await client.callTool({ name: 'everything__echo', arguments: { message: 'recorded' } });
      await client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 40 } });
    } finally {
      await transport.close();
      await client.close();
    }
    calls = await waitForCalls(s, root, w.workspaceId, 3);
  }, 90_000);
  afterAll(async () => {
    await s?.close();
  });

  it('one record per tool call, newest first, with server, tool, key, gateway, latency, status', () => {
    expect(calls.map((c) => c.tool)).toEqual(['get-sum', 'echo', 'echo']);
    for (const c of calls) {
      expect(c).toMatchObject({ workspaceId: w.workspaceId, gateway: 'main', apiKeyId: w.apiKeyId, server: 'everything', status: 'ok', errorMessage: '' });
      expect(c.latencyMs).toBeGreaterThanOrEqual(0n);
    }
  });

  it('inputs and outputs only once the gateway records bodies', () => {
    const [sum, recorded, plain] = calls;
    expect(plain!.input).toBeUndefined();
    expect(plain!.output).toBeUndefined();
    expect(toJson(ValueSchema, recorded!.input!)).toEqual({ message: 'recorded' });
    expect(JSON.stringify(toJson(ValueSchema, recorded!.output!))).toContain('Echo: recorded');
    expect(toJson(ValueSchema, sum!.input!)).toEqual({ a: 2, b: 40 });
  });

  it('filters and pages', async () => {
    const ids = async (f: Record<string, unknown>) => (await root.logs.listMcpCallLogs({ workspaceId: w.workspaceId, ...f })).mcpCallLogs.length;
    expect(await ids({ tool: 'echo' })).toBe(2);
    expect(await ids({ server: 'everything' })).toBe(3);
    expect(await ids({ server: 'memory' })).toBe(0);
    expect(await ids({ gateway: 'main', status: 'ok', apiKeyId: w.apiKeyId })).toBe(3);
    expect(await ids({ status: 'error' })).toBe(0);
    expect(await ids({ startTime: timestampFromMs(started - 1000), endTime: timestampFromMs(Date.now() + 1000) })).toBe(3);
    expect(await ids({ startTime: timestampFromMs(Date.now() + 60_000) })).toBe(0);
    const first = await root.logs.listMcpCallLogs({ workspaceId: w.workspaceId, pageSize: 2 });
    const second = await root.logs.listMcpCallLogs({ workspaceId: w.workspaceId, pageSize: 2, pageToken: first.nextPageToken });
    expect([...first.mcpCallLogs, ...second.mcpCallLogs].map((c) => c.id)).toEqual(calls.map((c) => c.id));
    expect(second.nextPageToken).toBe('');
  });
});

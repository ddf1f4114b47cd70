/**
 * `McpServerService.ListMcpServerTools` on a real Sluice, over Connect and
 * tRPC: an upstream's tools as the gateway exposes them (checked against the
 * gateway's own `tools/list`), blocked and deferred flags, unapproved servers
 * listed without becoming visible to MCP clients, dead and slow upstreams
 * answered within their timeout, and who may list what.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { createSluiceClient } from '@sluice/client';
import { DeferLoading, ListMcpServerToolsResponseSchema, McpTransport, type ListMcpServerToolsResponse } from '@sluice/client/gen/mcp_server';
import { createSluiceTrpcClient, sluiceErrorData } from '@sluice/trpc-client';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { connectClient, EVERYTHING_JS } from './harness.js';
import { freePort, startTestUpstream, type TestUpstream } from './test-upstream.js';

type Connect = ReturnType<typeof createSluiceClient>;
type Trpc = ReturnType<typeof createSluiceTrpcClient>;

let s: RunningSluice;
let root: { connect: Connect; trpc: Trpc };
let member: { connect: Connect; trpc: Trpc };
let pending: TestUpstream;
let slow: TestUpstream;
let apiKey: string;
const ids: Record<'everything' | 'pending' | 'slow' | 'closed' | 'exits' | 'foreign', string> = { everything: '', pending: '', slow: '', closed: '', exits: '', foreign: '' };

function clients(token: string) {
  return { connect: createSluiceClient({ baseUrl: s.baseUrl, token }), trpc: createSluiceTrpcClient({ baseUrl: s.baseUrl, token }) };
}

/** The answer over Connect and over tRPC (the JSON form), after checking both carry the same data. */
async function listBoth(c: { connect: Connect; trpc: Trpc }, id: string): Promise<ListMcpServerToolsResponse> {
  const viaConnect = await c.connect.mcpServers.listMcpServerTools({ id });
  const viaTrpc = await c.trpc.mcpServer.listMcpServerTools.query({ id });
  const withoutLatency = (json: unknown) => {
    const { status, ...rest } = json as { status?: { latencyMs?: number } };
    const { latencyMs: _ms, ...statusRest } = status ?? {};
    return { ...rest, status: statusRest };
  };
  expect(withoutLatency(viaTrpc)).toEqual(withoutLatency(toJson(ListMcpServerToolsResponseSchema, viaConnect)));
  return viaConnect;
}

/** The Connect code and the tRPC error kind of a refused call. */
async function refusedBoth(c: { connect: Connect; trpc: Trpc }, id: string): Promise<{ code: Code; kind: string | undefined; message: string }> {
  const connectErr = ConnectError.from(await c.connect.mcpServers.listMcpServerTools({ id }).then(() => 'resolved', (e: unknown) => e));
  const trpcErr = await c.trpc.mcpServer.listMcpServerTools.query({ id }).then(() => 'resolved', (e: unknown) => e);
  expect((trpcErr as Error).message).toBe(connectErr.rawMessage);
  return { code: connectErr.code, kind: sluiceErrorData(trpcErr)?.kind, message: connectErr.rawMessage };
}

/** Tool names the gateway's MCP endpoint lists to an API key. */
async function dataPlaneTools(): Promise<string[]> {
  const { client } = await connectClient(`${s.baseUrl}/gateways/main/mcp`, apiKey);
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t) => t.name);
}

beforeAll(async () => {
  pending = await startTestUpstream({ tools: ['dup', 'dup', 'bad$name', 'a.b'] });
  slow = await startTestUpstream({ listDelayMs: 10_000 });
  s = await startTestServer('sqlite');
  root = clients(s.rootToken);
  const { workspace } = await root.connect.workspaces.createWorkspace({ workspace: { name: 'acme' } });
  const { workspace: other } = await root.connect.workspaces.createWorkspace({ workspace: { name: 'other' } });
  const { gateway } = await root.connect.gateways.createGateway({ workspaceId: workspace!.id, gateway: { name: 'main', mcp: { deferLoading: true, blockedTools: ['everything:get-sum'] } } });
  const { gateway: otherGateway } = await root.connect.gateways.createGateway({ workspaceId: other!.id, gateway: { name: 'theirs' } });
  const register = async (gatewayId: string, mcpServer: Parameters<Connect['mcpServers']['createMcpServer']>[0]['mcpServer']) =>
    (await root.connect.mcpServers.createMcpServer({ gatewayId, mcpServer })).mcpServer!.id;
  ids.everything = await register(gateway!.id, {
    name: 'everything',
    transport: McpTransport.STDIO,
    command: process.execPath,
    args: [EVERYTHING_JS, 'stdio'],
    approved: true,
    deferLoading: DeferLoading.DISABLED,
    blockedTools: ['echo'],
  });
  ids.pending = await register(gateway!.id, { name: 'pending', transport: McpTransport.STREAMABLE_HTTP, url: pending.url });
  ids.slow = await register(gateway!.id, { name: 'slow', transport: McpTransport.STREAMABLE_HTTP, url: slow.url, approved: true, timeoutMs: 1000 });
  ids.closed = await register(gateway!.id, { name: 'closed', transport: McpTransport.STREAMABLE_HTTP, url: `http://127.0.0.1:${await freePort()}/mcp`, approved: true, timeoutMs: 2000 });
  ids.exits = await register(gateway!.id, { name: 'exits', transport: McpTransport.STDIO, command: process.execPath, args: ['-e', 'process.exit(3)'], timeoutMs: 2000 });
  ids.foreign = await register(otherGateway!.id, { name: 'foreign', transport: McpTransport.STREAMABLE_HTTP, url: pending.url });
  const { secret } = await root.connect.workspaces.createWorkspaceToken({ workspaceId: workspace!.id, name: 'ops' });
  member = clients(secret);
  apiKey = (await root.connect.apiKeys.createApiKey({ workspaceId: workspace!.id, apiKey: { name: 'agent', gateways: ['main'], defaultGateway: 'main' } })).secret;
});

afterAll(async () => {
  await s?.close();
  await Promise.all([pending, slow].map((u) => u?.close()));
});

describe('ListMcpServerTools', () => {
  it("lists an approved stdio server's tools under the names the gateway's tools/list uses, with blocked and deferred flags", async () => {
    const res = await listBoth(member, ids.everything);
    expect(res.status).toMatchObject({ reachable: true, errorCode: '', errorMessage: '' });
    expect(res.exposed).toBe(true);
    const byName = new Map(res.tools.map((t) => [t.upstreamName, t]));
    // Blocked by the server's own pattern and by the gateway's `server:tool` pattern; the names stay known.
    expect(byName.get('echo')).toMatchObject({ namespacedName: 'everything__echo', blocked: true });
    expect(byName.get('get-sum')).toMatchObject({ namespacedName: 'everything__get-sum', blocked: true });
    expect(res.tools.filter((t) => t.blocked).map((t) => t.upstreamName).sort()).toEqual(['echo', 'get-sum']);
    // `defer_loading: disabled` wins over the gateway's default.
    expect(res.tools.every((t) => !t.deferred)).toBe(true);
    expect(byName.get('echo')?.description).not.toBe('');
    expect(byName.get('echo')?.inputSchema).toMatchObject({ type: 'object', properties: { message: expect.any(Object) } });

    // Exactly what an MCP client of the gateway is shown for this server, in the same order.
    let listed: string[] = [];
    for (let i = 0; i < 50 && !listed.length; i++) {
      listed = (await dataPlaneTools()).filter((n) => n.startsWith('everything__'));
      if (!listed.length) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toEqual(res.tools.filter((t) => !t.blocked && !t.skipReason).map((t) => t.namespacedName));
  });

  it('lists an unapproved server for inspection, says why tools cannot be exposed, and MCP clients still do not see it', async () => {
    const res = await listBoth(member, ids.pending);
    expect(res.status?.reachable).toBe(true);
    expect(res.exposed).toBe(false);
    const tools = res.tools.map((t) => ({ upstreamName: t.upstreamName, namespacedName: t.namespacedName, skipReason: t.skipReason, blocked: t.blocked, deferred: t.deferred }));
    expect(tools).toEqual([
      { upstreamName: 'whoami', namespacedName: 'pending__whoami', skipReason: '', blocked: false, deferred: true },
      { upstreamName: 'sleep', namespacedName: 'pending__sleep', skipReason: '', blocked: false, deferred: true },
      { upstreamName: 'dup', namespacedName: 'pending__dup', skipReason: '', blocked: false, deferred: true },
      { upstreamName: 'dup', namespacedName: '', skipReason: 'duplicate_name', blocked: false, deferred: true },
      { upstreamName: 'bad$name', namespacedName: '', skipReason: 'invalid_name', blocked: false, deferred: true },
      { upstreamName: 'a.b', namespacedName: expect.stringMatching(/^pending__a_b_[0-9a-f]{8}$/), skipReason: '', blocked: false, deferred: true },
    ]);
    expect(res.tools[0]?.description).toBe('Returns the Authorization header the server saw');
    // One session per call (two calls above), none from the data plane, and no credential sent.
    expect(pending.sessions()).toBe(2);
    expect(pending.authorizations.every((a) => a === undefined)).toBe(true);
    const { client } = await connectClient(`${s.baseUrl}/gateways/main/mcp`, apiKey, { 'x-sluice-mcp-deferred': 'false' });
    const { tools: listedTools } = await client.listTools();
    const refused = await client.callTool({ name: 'pending__whoami', arguments: {} }).then(() => 'called', (e: unknown) => (e as Error).message);
    await client.close();
    expect(listedTools.map((t) => t.name).filter((n) => n.startsWith('pending__'))).toEqual([]);
    expect(refused).toContain('Unknown tool');
    expect(pending.sessions()).toBe(2);
  });

  it("answers a slow upstream's timeout within the server's timeout_ms, as a status rather than an error", async () => {
    const started = Date.now();
    const res = await root.connect.mcpServers.listMcpServerTools({ id: ids.slow });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2500);
    expect(res.status).toMatchObject({ reachable: false, errorCode: 'upstream_timeout', errorMessage: 'MCP server "slow" did not answer within 1000 ms' });
    expect(res.tools).toEqual([]);
    const trpcStarted = Date.now();
    const viaTrpc = await root.trpc.mcpServer.listMcpServerTools.query({ id: ids.slow });
    expect(Date.now() - trpcStarted).toBeLessThan(2500);
    expect(viaTrpc.status).toMatchObject({ errorCode: 'upstream_timeout' });
    expect(viaTrpc.status?.reachable ?? false).toBe(false);
  });

  it('answers a dead upstream with upstream_unavailable on both transports', async () => {
    const started = Date.now();
    const res = await listBoth(member, ids.closed);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(res.status).toMatchObject({ reachable: false, errorCode: 'upstream_unavailable' });
    expect(res.status?.errorMessage).toMatch(/^MCP server "closed" is unavailable \(ECONNREFUSED\)/);
    expect(res.tools).toEqual([]);
  });

  it('needs the root token for an unapproved stdio server (listing starts its command)', async () => {
    const refused = await refusedBoth(member, ids.exits);
    expect(refused.code).toBe(Code.PermissionDenied);
    expect(refused.kind).toBe('permission_denied');
    const res = await listBoth(root, ids.exits);
    expect(res.status).toMatchObject({ reachable: false, errorCode: 'upstream_unavailable' });
    expect(res.status?.errorMessage).toContain('MCP server "exits" is unavailable');
  });

  it("answers not_found for another workspace's server and for unknown ids, and invalid_argument without an id", async () => {
    for (const id of [ids.foreign, 'mcp_doesnotexist']) {
      const refused = await refusedBoth(member, id);
      expect(refused.code).toBe(Code.NotFound);
      expect(refused.kind).toBe('not_found');
    }
    const missing = await refusedBoth(root, '');
    expect(missing.code).toBe(Code.InvalidArgument);
    expect(missing.kind).toBe('invalid_argument');
    expect(missing.message).toBe('id: required');
  });
});

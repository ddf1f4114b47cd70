/**
 * Who may reach what: API-key authentication and gateway authorisation on
 * the MCP endpoint, session binding and limits, unapproved and disabled
 * servers, blocked-tool patterns, and the credentials sent to upstreams.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpAuthMode, McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { connectClient, eventually, initializeBody, rawPost, startTestGateway, type TestGateway } from './harness.js';
import { startTestUpstream, type TestUpstream } from './test-upstream.js';

let g: TestGateway;
let upstreams: Record<'alpha' | 'beta' | 'hidden' | 'off' | 'static' | 'fwd', TestUpstream>;
let mainId: string;
let hiddenId: string;
let agent: { id: string; secret: string };
let agent2: { id: string; secret: string };
let otherOnly: string;
let betaKey: string;

async function rejection(promise: Promise<unknown>): Promise<McpError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  return err as McpError;
}

async function toolNames(key: string, path = '/mcp'): Promise<string[]> {
  const { client } = await connectClient(`${g.baseUrl}${path}`, key);
  const { tools } = await client.listTools();
  await client.close();
  return tools.map((t) => t.name);
}

const sessionHeaders = (key: string, sessionId: string) => ({ authorization: `Bearer ${key}`, 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' });
const ping = (id = 2) => ({ jsonrpc: '2.0', id, method: 'ping' });

beforeAll(async () => {
  upstreams = {
    alpha: await startTestUpstream({ tools: ['echo', 'get-env', 'get-sum', 'get-secret'] }),
    beta: await startTestUpstream({ tools: ['echo', 'drop-table'] }),
    hidden: await startTestUpstream({ tools: ['secret-tool'] }),
    off: await startTestUpstream({ tools: ['off-tool'] }),
    static: await startTestUpstream(),
    fwd: await startTestUpstream(),
  };
  g = await startTestGateway();
  const acme = await g.workspace('acme');
  mainId = await g.gateway(acme, 'main', ['alpha:get-env', '*:drop-table']);
  await g.gateway(acme, 'other');
  const http = (url: string) => ({ transport: McpTransport.STREAMABLE_HTTP, url });
  await g.server(mainId, { name: 'alpha', ...http(upstreams.alpha.url), approved: true, blockedTools: ['get-s*'] });
  await g.server(mainId, { name: 'beta', ...http(upstreams.beta.url), approved: true });
  hiddenId = await g.server(mainId, { name: 'hidden', ...http(upstreams.hidden.url), approved: false });
  await g.server(mainId, { name: 'off', ...http(upstreams.off.url), approved: true, enabled: false });
  await g.server(mainId, { name: 'static', ...http(upstreams.static.url), approved: true, authMode: McpAuthMode.STATIC, authSecret: 'upstream-s3cret' });
  await g.server(mainId, { name: 'fwd', ...http(upstreams.fwd.url), approved: true, authMode: McpAuthMode.FORWARD });
  agent = await g.apiKey(acme, 'agent', ['main']);
  agent2 = await g.apiKey(acme, 'agent2', ['main']);
  otherOnly = (await g.apiKey(acme, 'other-only', ['other'])).secret;
  const beta = await g.workspace('beta');
  await g.gateway(beta, 'main');
  betaKey = (await g.apiKey(beta, 'beta', ['main'])).secret;
  await g.sync();
});

afterAll(async () => {
  await g?.close();
  await Promise.all(Object.values(upstreams ?? {}).map((u) => u.close()));
});

describe('authentication and authorisation', () => {
  it('answers a missing or unknown key with 401 and a JSON-RPC error body', async () => {
    const missing = await rawPost(`${g.baseUrl}/mcp`, initializeBody());
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect(missing.body).toMatchObject({ jsonrpc: '2.0', id: 1, error: { code: -32000, data: { kind: 'unauthenticated', code: 'invalid_api_key' } } });
    const unknown = await rawPost(`${g.baseUrl}/gateways/main/mcp`, initializeBody(), { authorization: 'Bearer sk-sluice-notarealkeynotarealkey00' });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toMatchObject({ error: { message: 'invalid API key' } });
  });

  it('accepts x-api-key as well as a bearer token', async () => {
    const res = await rawPost(`${g.baseUrl}/mcp`, initializeBody(), { 'x-api-key': agent.secret });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeTruthy();
  });

  it('answers a gateway the key may not use with 403 and an unknown gateway with 404', async () => {
    const forbidden = await rawPost(`${g.baseUrl}/gateways/main/mcp`, initializeBody(), { authorization: `Bearer ${otherOnly}` });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { data: { kind: 'permission_denied', code: 'gateway_not_allowed' } } });
    const unknown = await rawPost(`${g.baseUrl}/gateways/nope/mcp`, initializeBody(), { authorization: `Bearer ${agent.secret}` });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { data: { kind: 'not_found', code: 'gateway_not_found' } } });
  });

  it('keeps workspaces apart: a same-named gateway elsewhere sees none of these servers', async () => {
    expect(await toolNames(betaKey, '/gateways/main/mcp')).toEqual([]);
    expect(await toolNames(otherOnly)).toEqual([]);
  });

  it('refuses a session presented with another key', async () => {
    const opened = await rawPost(`${g.baseUrl}/mcp`, initializeBody(), { authorization: `Bearer ${agent2.secret}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    expect((await rawPost(`${g.baseUrl}/mcp`, ping(), sessionHeaders(agent2.secret, sessionId))).status).toBe(200);
    const stolen = await rawPost(`${g.baseUrl}/mcp`, ping(), sessionHeaders(agent.secret, sessionId));
    expect(stolen.status).toBe(404);
    expect(stolen.body).toMatchObject({ id: 2, error: { code: -32001, message: 'Session not found' } });
  });

  it('stops a revoked key at its next request, even inside a session', async () => {
    const ws = await g.workspace('revoking');
    await g.gateway(ws, 'main');
    const key = await g.apiKey(ws, 'short-lived', ['main']);
    await g.sync();
    const opened = await rawPost(`${g.baseUrl}/mcp`, initializeBody(), { authorization: `Bearer ${key.secret}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    await g.revokeKey(key.id);
    await g.sync();
    const after = await rawPost(`${g.baseUrl}/mcp`, ping(), sessionHeaders(key.secret, sessionId));
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ error: { message: 'this API key has been revoked' } });
  });

  it('rejects requests that are not MCP before any session exists', async () => {
    const auth = { authorization: `Bearer ${agent.secret}` };
    const noSession = await rawPost(`${g.baseUrl}/mcp`, ping(), auth);
    expect(noSession.status).toBe(400);
    expect(noSession.body).toMatchObject({ id: 2, error: { code: -32000, data: { code: 'session_required' } } });
    const badJson = await rawPost(`${g.baseUrl}/mcp`, '{"jsonrpc": "2.0", "id": 1,', auth);
    expect(badJson.status).toBe(400);
    expect(badJson.body).toMatchObject({ id: null, error: { code: -32700 } });
    const get = await fetch(`${g.baseUrl}/mcp`, { headers: { ...auth, accept: 'text/event-stream' } });
    expect(get.status).toBe(400);
    expect(await get.json()).toMatchObject({ error: { data: { code: 'session_required' } } });
  });

  it('ends a session on DELETE', async () => {
    const opened = await rawPost(`${g.baseUrl}/mcp`, initializeBody(), { authorization: `Bearer ${agent.secret}` });
    const sessionId = opened.headers.get('mcp-session-id')!;
    const deleted = await fetch(`${g.baseUrl}/mcp`, { method: 'DELETE', headers: sessionHeaders(agent.secret, sessionId) });
    expect(deleted.status).toBe(200);
    expect((await rawPost(`${g.baseUrl}/mcp`, ping(), sessionHeaders(agent.secret, sessionId))).status).toBe(404);
  });
});

describe('visibility and blocked tools', () => {
  it('shows only approved, enabled servers and hides blocked tools', async () => {
    expect(await toolNames(agent.secret)).toEqual([
      'alpha__whoami',
      'alpha__sleep',
      'alpha__echo',
      // alpha:get-env is blocked by the gateway, get-s* by the server itself.
      'beta__whoami',
      'beta__sleep',
      'beta__echo',
      // *:drop-table is blocked on every server.
      'fwd__whoami',
      'fwd__sleep',
      'static__whoami',
      'static__sleep',
    ]);
  });

  it('refuses tools of unapproved and disabled servers as unknown, and blocked tools as forbidden', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, agent.secret);
    for (const name of ['hidden__secret-tool', 'off__off-tool']) {
      const err = await rejection(client.callTool({ name, arguments: {} }));
      expect(err.code).toBe(-32602);
      expect(err.message).toContain('Unknown tool');
    }
    for (const name of ['alpha__get-env', 'alpha__get-sum', 'beta__drop-table']) {
      const err = await rejection(client.callTool({ name, arguments: {} }));
      expect(err.code).toBe(-32003);
      expect(err.data).toMatchObject({ kind: 'permission_denied', code: 'tool_blocked' });
    }
    expect(upstreams.hidden.sessions()).toBe(0);
    expect(upstreams.off.sessions()).toBe(0);
    await client.close();
  });

  it('applies config changes to open sessions and tells them the list changed', async () => {
    const { client } = await connectClient(`${g.baseUrl}/mcp`, agent.secret);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await client.listTools();
    await g.updateServer(hiddenId, { approved: true }, ['approved']);
    await g.setBlockedTools(mainId, ['alpha:get-env', '*:drop-table', 'beta:*']);
    await g.sync();
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('hidden__secret-tool');
    expect(names.some((n) => n.startsWith('beta__'))).toBe(false);
    expect(await client.callTool({ name: 'hidden__secret-tool', arguments: {} })).toEqual({ content: [{ type: 'text', text: 'secret-tool' }] });
    expect((await rejection(client.callTool({ name: 'beta__echo', arguments: {} }))).code).toBe(-32003);
    await eventually(() => changed > 0);
    await client.close();
  });
});

describe('names that need the namespacing fallbacks', () => {
  it('exposes sanitised and over-long names with a hash, skips unmappable ones, and routes calls back', async () => {
    const long = `very_long_tool_name_${'x'.repeat(60)}`;
    const odd = await startTestUpstream({ tools: ['read.file', long, 'naïve'] });
    try {
      const ws = await g.workspace('naming');
      const gw = await g.gateway(ws, 'main');
      await g.server(gw, { name: 'odd', transport: McpTransport.STREAMABLE_HTTP, url: odd.url, approved: true });
      const key = (await g.apiKey(ws, 'agent', ['main'])).secret;
      await g.sync();
      const { client } = await connectClient(`${g.baseUrl}/mcp`, key);
      const listed = await client.listTools();
      const byUpstream = new Map(listed.tools.map((t) => [t._meta?.['sluice/upstream-name'], t.name]));
      expect(byUpstream.get('read.file')).toMatch(/^odd__read_file_[0-9a-f]{8}$/);
      expect(byUpstream.get(long)).toHaveLength(64);
      expect(byUpstream.has('naïve')).toBe(false);
      expect(listed._meta?.['sluice/skipped']).toEqual([{ server: 'odd', name: 'naïve', reason: 'invalid_name' }]);
      for (const upstreamName of ['read.file', long]) {
        expect(await client.callTool({ name: byUpstream.get(upstreamName)!, arguments: {} })).toEqual({ content: [{ type: 'text', text: upstreamName }] });
      }
      await client.close();
    } finally {
      await odd.close();
    }
  });
});

describe('credentials sent upstream', () => {
  it('sends nothing, a static secret, or the caller\'s own token, as configured', async () => {
    const a = await connectClient(`${g.baseUrl}/mcp`, agent.secret);
    const b = await connectClient(`${g.baseUrl}/mcp`, agent2.secret);
    const text = async (client: typeof a.client, name: string) => ((await client.callTool({ name, arguments: {} })).content as { text: string }[])[0]?.text;
    expect(await text(a.client, 'alpha__whoami')).toBe('');
    expect(await text(a.client, 'static__whoami')).toBe('Bearer upstream-s3cret');
    expect(await text(b.client, 'static__whoami')).toBe('Bearer upstream-s3cret');
    expect(await text(a.client, 'fwd__whoami')).toBe(`Bearer ${agent.secret}`);
    expect(await text(b.client, 'fwd__whoami')).toBe(`Bearer ${agent2.secret}`);
    expect(new Set(upstreams.static.authorizations)).toEqual(new Set(['Bearer upstream-s3cret']));
    // One shared session for static auth; one per caller for forwarded tokens.
    expect(upstreams.static.sessions()).toBe(1);
    expect(upstreams.fwd.sessions()).toBe(2);
    await a.client.close();
    await b.client.close();
  });
});

describe('session limits', () => {
  let limited: TestGateway;
  let keys: string[];

  beforeAll(async () => {
    limited = await startTestGateway({ maxSessionsPerKey: 2, maxSessions: 3, sessionIdleMs: 500 });
    const ws = await limited.workspace('acme');
    await limited.gateway(ws, 'main');
    keys = [(await limited.apiKey(ws, 'a', ['main'])).secret, (await limited.apiKey(ws, 'b', ['main'])).secret];
    await limited.sync();
  });
  afterAll(async () => limited?.close());

  const open = async (key: string) => {
    const res = await rawPost(`${limited.baseUrl}/mcp`, initializeBody(), { authorization: `Bearer ${key}` });
    return { status: res.status, body: res.body, id: res.headers.get('mcp-session-id') ?? '' };
  };
  const pingStatus = async (key: string, id: string) => (await rawPost(`${limited.baseUrl}/mcp`, ping(), sessionHeaders(key, id))).status;

  it('closes a key\'s oldest session beyond its cap, refuses sessions beyond the process cap, and expires idle ones', async () => {
    const [a, b] = keys as [string, string];
    const s1 = await open(a);
    const s2 = await open(a);
    const s3 = await open(a);
    expect(await pingStatus(a, s1.id)).toBe(404);
    expect(await pingStatus(a, s2.id)).toBe(200);
    expect(await pingStatus(a, s3.id)).toBe(200);
    expect((await open(b)).status).toBe(200);
    const refused = await open(b);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: { data: { kind: 'resource_exhausted', code: 'too_many_sessions' } } });
    await new Promise((r) => setTimeout(r, 1200));
    expect(await pingStatus(a, s3.id)).toBe(404);
    expect(limited.runtime.sessions.size).toBe(0);
  });
});

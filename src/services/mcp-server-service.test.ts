import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { FieldMaskSchema, type FieldMask } from '@bufbuild/protobuf/wkt';
import { McpServerEntity } from '../db/entities.js';
import { SluiceError } from '../errors.js';
import { CreateGatewayRequestSchema, GatewaySchema } from '../gen/sluice/v1/gateway_pb.js';
import {
  CreateMcpServerRequestSchema,
  DeferLoading,
  DeleteMcpServerRequestSchema,
  GetMcpServerRequestSchema,
  ListMcpServerToolsRequestSchema,
  ListMcpServersRequestSchema,
  McpAuthMode,
  McpServerSchema,
  McpTransport,
  UpdateMcpServerRequestSchema,
  type McpServer,
} from '../gen/sluice/v1/mcp_server_pb.js';
import { CreateWorkspaceRequestSchema, WorkspaceSchema } from '../gen/sluice/v1/workspace_pb.js';
import { createTestDeps, DIALECTS, workspaceCall, type TestDeps } from '../../test/helpers/database.js';
import { startTestUpstream } from '../../test/mcp/test-upstream.js';
import type { CallContext } from './context.js';
import { createGatewayService } from './gateway-service.js';
import { createMcpServerService } from './mcp-server-service.js';
import { createWorkspaceService } from './workspace-service.js';

type ServerInit = MessageInitShape<typeof McpServerSchema>;

async function rejection(promise: Promise<unknown>): Promise<SluiceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

async function invalidFields(promise: Promise<unknown>): Promise<string[]> {
  const err = await rejection(promise);
  expect(err.kind).toBe('invalid_argument');
  return err.violations.map((v) => v.field);
}

function mask(...paths: string[]): FieldMask {
  return create(FieldMaskSchema, { paths });
}

/** JSON of a response as a transport would see it (Timestamps carry bigint seconds). */
function json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const HTTP: ServerInit = { transport: McpTransport.STREAMABLE_HTTP, url: 'https://mcp.example.com/mcp', enabled: true };

describe.each(DIALECTS)('McpServerService on %s', (dialect) => {
  let t: TestDeps;
  beforeAll(async () => {
    t = await createTestDeps(dialect);
  });
  afterAll(async () => t?.close());

  const svc = () => createMcpServerService(t.deps);

  async function workspace(name: string): Promise<string> {
    const res = await createWorkspaceService(t.deps).createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name } }), t.root);
    return create(WorkspaceSchema, res.workspace).id;
  }

  async function gateway(workspaceId: string, name: string): Promise<string> {
    const res = await createGatewayService(t.deps).createGateway(create(CreateGatewayRequestSchema, { workspaceId, gateway: { name } }), t.root);
    return create(GatewaySchema, res.gateway).id;
  }

  async function server(gatewayId: string, init: ServerInit, call: CallContext = t.root): Promise<McpServer> {
    const res = await svc().createMcpServer(create(CreateMcpServerRequestSchema, { gatewayId, mcpServer: init }), call);
    return create(McpServerSchema, res.mcpServer);
  }

  async function stored(id: string) {
    return t.orm.em.fork().findOneOrFail(McpServerEntity, { id });
  }

  async function count(workspaceId: string): Promise<number> {
    return t.orm.em.fork().count(McpServerEntity, { workspaceId });
  }

  async function names(filter: MessageInitShape<typeof ListMcpServersRequestSchema>, call: CallContext = t.root): Promise<string[]> {
    const res = await svc().listMcpServers(create(ListMcpServersRequestSchema, filter), call);
    return (res.mcpServers ?? []).map((s) => s.name ?? '').sort();
  }

  it('registers remote servers with defaults, then gets, lists, updates and deletes them', async () => {
    const ws = await workspace('mcp-crud');
    const asWs = workspaceCall(ws);
    const gw = await gateway(ws, 'main');
    const other = await gateway(ws, 'other');
    const github = await server(gw, { ...HTTP, name: 'github', displayName: 'GitHub', timeoutMs: 1000, blockedTools: ['delete_*', 'admin.reset'] }, asWs);
    expect(github).toMatchObject({
      workspaceId: ws,
      gatewayId: gw,
      name: 'github',
      transport: McpTransport.STREAMABLE_HTTP,
      authMode: McpAuthMode.NONE,
      deferLoading: DeferLoading.INHERIT,
      approved: false,
      hasAuthSecret: false,
      envNames: [],
      blockedTools: ['delete_*', 'admin.reset'],
    });
    expect(github.id).toMatch(/^mcp_/);
    expect(await stored(github.id)).toMatchObject({ transport: 'streamable_http', authMode: 'none', deferLoading: 'inherit', envCiphertext: '' });
    const sse: ServerInit = { transport: McpTransport.SSE, url: 'http://127.0.0.1:9000/sse', approved: true, deferLoading: DeferLoading.ENABLED };
    await server(gw, { ...sse, name: 'search', enabled: false }, asWs);
    await server(other, { ...HTTP, name: 'docs' }, asWs);
    // Names are unique per gateway, not per workspace.
    await server(other, { ...HTTP, name: 'github' }, asWs);
    expect((await rejection(server(gw, { ...HTTP, name: 'github' }, asWs))).kind).toBe('already_exists');

    const got = await svc().getMcpServer(create(GetMcpServerRequestSchema, { id: github.id }), asWs);
    expect(got.mcpServer).toEqual(github);

    const paged: string[] = [];
    let pageToken = '';
    for (let i = 0; i < 10; i++) {
      const page = await svc().listMcpServers(create(ListMcpServersRequestSchema, { gatewayId: gw, pageSize: 1, pageToken }), asWs);
      expect(page.mcpServers).toHaveLength(1);
      paged.push(...(page.mcpServers ?? []).map((s) => s.name ?? ''));
      pageToken = page.nextPageToken ?? '';
      if (!pageToken) break;
    }
    expect(paged.sort()).toEqual(['github', 'search']);
    expect(await names({ workspaceId: ws })).toEqual(['docs', 'github', 'github', 'search']);
    expect(await names({}, asWs)).toEqual(['docs', 'github', 'github', 'search']);
    expect(await names({ workspaceId: ws, gatewayId: other })).toEqual(['docs', 'github']);
    expect(await names({ workspaceId: ws, transport: McpTransport.SSE })).toEqual(['search']);
    expect(await names({ workspaceId: ws, approved: true })).toEqual(['search']);
    expect(await names({ gatewayId: gw, approved: false })).toEqual(['github']);
    expect(await names({ workspaceId: ws, name: 'docs' })).toEqual(['docs']);
    expect(await names({ workspaceId: ws, enabled: false })).toEqual(['search']);
    expect(await invalidFields(svc().listMcpServers(create(ListMcpServersRequestSchema, {}), t.root))).toEqual(['workspace_id']);
    const unknownTransport = create(ListMcpServersRequestSchema, { workspaceId: ws, transport: 99 as McpTransport });
    expect(await invalidFields(svc().listMcpServers(unknownTransport, t.root))).toEqual(['transport']);

    const updated = await svc().updateMcpServer(
      create(UpdateMcpServerRequestSchema, {
        mcpServer: { id: github.id, displayName: 'GitHub Enterprise', url: 'https://ghe.example.com/mcp', approved: true, timeoutMs: 5 },
        updateMask: mask('display_name', 'url', 'approved'),
      }),
      asWs,
    );
    expect(updated.mcpServer).toMatchObject({ displayName: 'GitHub Enterprise', url: 'https://ghe.example.com/mcp', approved: true, timeoutMs: 1000 });
    for (const path of ['name', 'transport']) {
      const attempt = svc().updateMcpServer(create(UpdateMcpServerRequestSchema, { mcpServer: { id: github.id }, updateMask: mask(path) }), asWs);
      expect(await invalidFields(attempt)).toEqual(['update_mask']);
    }

    await svc().deleteMcpServer(create(DeleteMcpServerRequestSchema, { id: github.id }), asWs);
    expect((await rejection(svc().getMcpServer(create(GetMcpServerRequestSchema, { id: github.id }), asWs))).kind).toBe('not_found');
  });

  it('rejects invalid servers with exact field paths and writes nothing', async () => {
    const ws = await workspace('mcp-invalid');
    const gw = await gateway(ws, 'main');
    const attempt = (init: ServerInit) => server(gw, { name: 'ok', ...init });
    expect(
      await invalidFields(
        attempt({
          name: 'Bad Name',
          displayName: 'x'.repeat(201),
          transport: McpTransport.STREAMABLE_HTTP,
          url: '',
          command: 'rm',
          args: ['-rf'],
          env: { A: '1' },
          timeoutMs: 600_001,
          authMode: 99 as McpAuthMode,
          deferLoading: 99 as DeferLoading,
          blockedTools: ['ok_*', 'bad tool'],
        }),
      ),
    ).toEqual([
      'mcp_server.name',
      'mcp_server.display_name',
      'mcp_server.url',
      'mcp_server.command',
      'mcp_server.args',
      'mcp_server.env',
      'mcp_server.timeout_ms',
      'mcp_server.auth_mode',
      'mcp_server.defer_loading',
      'mcp_server.blocked_tools[1]',
    ]);
    expect(await invalidFields(attempt({ url: 'https://x.example.com' }))).toEqual(['mcp_server.transport']);
    const badUrl = await rejection(attempt({ ...HTTP, url: 'ftp://files.example.com' }));
    expect(badUrl.violations).toEqual([expect.objectContaining({ field: 'mcp_server.url', reason: 'INVALID_FORMAT' })]);
    const metadata = await rejection(attempt({ ...HTTP, url: 'http://169.254.169.254/latest' }));
    expect(metadata.violations).toEqual([expect.objectContaining({ field: 'mcp_server.url', reason: 'FORBIDDEN_ADDRESS' })]);
    expect(await invalidFields(attempt({ ...HTTP, authMode: McpAuthMode.STATIC }))).toEqual(['mcp_server.auth_secret']);
    expect(await invalidFields(attempt({ ...HTTP, authMode: McpAuthMode.FORWARD, authSecret: 'sk-x' }))).toEqual(['mcp_server.auth_secret']);

    const stdio: ServerInit = { transport: McpTransport.STDIO, command: 'npx' };
    expect(await invalidFields(attempt({ ...stdio, command: ' ', url: 'https://x.example.com' }))).toEqual(['mcp_server.url', 'mcp_server.command']);
    expect(await invalidFields(attempt({ ...stdio, command: 'x'.repeat(1025) }))).toEqual(['mcp_server.command']);
    expect(await invalidFields(attempt({ ...stdio, args: Array.from({ length: 65 }, () => 'a') }))).toEqual(['mcp_server.args']);
    expect(await invalidFields(attempt({ ...stdio, args: ['ok', 'x'.repeat(4097)] }))).toEqual(['mcp_server.args[1]']);
    const badEnv = await rejection(attempt({ ...stdio, env: { GOOD_1: 'v', '1BAD': 'v', 'with-dash': 'v' } }));
    expect(badEnv.violations.map((v) => [v.field, v.reason])).toEqual([
      ['mcp_server.env', 'INVALID_FORMAT'],
      ['mcp_server.env', 'INVALID_FORMAT'],
    ]);
    expect(badEnv.message).toContain('"1BAD"');
    const manyEnv = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x']));
    expect(await invalidFields(attempt({ ...stdio, env: manyEnv }))).toEqual(['mcp_server.env']);
    expect(await count(ws)).toBe(0);

    const ok = await server(gw, { ...HTTP, name: 'ok' });
    const update = (init: ServerInit, ...paths: string[]) =>
      svc().updateMcpServer(create(UpdateMcpServerRequestSchema, { mcpServer: { id: ok.id, ...init }, updateMask: mask(...paths) }), t.root);
    expect(await invalidFields(update({ url: '' }, 'url'))).toEqual(['mcp_server.url']);
    expect(await invalidFields(update({ command: 'sh' }, 'command'))).toEqual(['mcp_server.command']);
    expect(await invalidFields(update({ blockedTools: ['server:tool'] }, 'blocked_tools'))).toEqual(['mcp_server.blocked_tools[0]']);
    expect((await stored(ok.id)).url).toBe(HTTP.url);
  });

  it('allows stdio servers only for the root token and never returns their environment', async () => {
    const ws = await workspace('mcp-stdio');
    const asWs = workspaceCall(ws);
    const gw = await gateway(ws, 'main');
    const init: ServerInit = {
      name: 'files',
      transport: McpTransport.STDIO,
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-filesystem', '/data'],
      env: { ZED_TOKEN: 'zz-env-secret-1', API_KEY: 'env-secret-2' },
    };
    const refused = await rejection(server(gw, init, asWs));
    expect(refused.kind).toBe('permission_denied');
    expect(refused.message).toBe('stdio MCP servers need the root admin token');
    expect(await count(ws)).toBe(0);

    const res = await svc().createMcpServer(create(CreateMcpServerRequestSchema, { gatewayId: gw, mcpServer: init }), t.root);
    const files = create(McpServerSchema, res.mcpServer);
    expect(files).toMatchObject({ transport: McpTransport.STDIO, command: 'npx', envNames: ['API_KEY', 'ZED_TOKEN'] });
    expect(files.env).toEqual({});
    const row = await stored(files.id);
    expect(row.envNames).toEqual(['API_KEY', 'ZED_TOKEN']);
    expect(row.envCiphertext).not.toContain('secret');
    expect(JSON.parse(t.deps.secrets.open(row.envCiphertext))).toEqual({ API_KEY: 'env-secret-2', ZED_TOKEN: 'zz-env-secret-1' });
    const responses = [
      res,
      await svc().getMcpServer(create(GetMcpServerRequestSchema, { id: files.id }), asWs),
      await svc().listMcpServers(create(ListMcpServersRequestSchema, { gatewayId: gw }), asWs),
    ];
    for (const r of responses) {
      expect(json(r)).not.toContain('env-secret');
      expect(json(r)).toContain('ZED_TOKEN');
    }

    for (const path of ['command', 'args', 'env']) {
      const change = create(UpdateMcpServerRequestSchema, { mcpServer: { id: files.id, command: 'sh' }, updateMask: mask(path) });
      expect((await rejection(svc().updateMcpServer(change, asWs))).kind).toBe('permission_denied');
    }
    // Approving or disabling it needs no root token.
    const approved = await svc().updateMcpServer(
      create(UpdateMcpServerRequestSchema, { mcpServer: { id: files.id, approved: true }, updateMask: mask('approved') }),
      asWs,
    );
    expect(approved.mcpServer?.approved).toBe(true);
    expect((await stored(files.id)).envCiphertext).toBe(row.envCiphertext);

    const cleared = await svc().updateMcpServer(
      create(UpdateMcpServerRequestSchema, { mcpServer: { id: files.id, env: {}, args: ['--help'] }, updateMask: mask('env', 'args') }),
      t.root,
    );
    expect(cleared.mcpServer).toMatchObject({ envNames: [], args: ['--help'], command: 'npx' });
    expect(await stored(files.id)).toMatchObject({ envCiphertext: '', envNames: [] });
  });

  it('keeps a static auth secret write-only and clears it when the mode changes', async () => {
    const ws = await workspace('mcp-auth');
    const asWs = workspaceCall(ws);
    const gw = await gateway(ws, 'main');
    const init: ServerInit = { ...HTTP, name: 'linear', authMode: McpAuthMode.STATIC, authSecret: 'upstream-secret-1' };
    const res = await svc().createMcpServer(create(CreateMcpServerRequestSchema, { gatewayId: gw, mcpServer: init }), asWs);
    const linear = create(McpServerSchema, res.mcpServer);
    expect(linear).toMatchObject({ authMode: McpAuthMode.STATIC, hasAuthSecret: true, authSecret: '' });
    expect(json(res)).not.toContain('upstream-secret');
    const row = await stored(linear.id);
    expect(row.authMode).toBe('static');
    expect(t.deps.secrets.open(row.authSecretCiphertext)).toBe('upstream-secret-1');

    const update = (init: ServerInit, ...paths: string[]) =>
      svc().updateMcpServer(create(UpdateMcpServerRequestSchema, { mcpServer: { id: linear.id, ...init }, updateMask: mask(...paths) }), asWs);
    const rotated = await update({ authSecret: 'upstream-secret-2' }, 'auth_secret');
    expect(json(rotated)).not.toContain('upstream-secret');
    expect(t.deps.secrets.open((await stored(linear.id)).authSecretCiphertext)).toBe('upstream-secret-2');
    expect(await invalidFields(update({ authSecret: '' }, 'auth_secret'))).toEqual(['mcp_server.auth_secret']);

    const forwarded = await update({ authMode: McpAuthMode.FORWARD }, 'auth_mode');
    expect(forwarded.mcpServer).toMatchObject({ authMode: McpAuthMode.FORWARD, hasAuthSecret: false });
    expect(await stored(linear.id)).toMatchObject({ authMode: 'forward', authSecretCiphertext: '' });
    expect(await invalidFields(update({ authMode: McpAuthMode.STATIC }, 'auth_mode'))).toEqual(['mcp_server.auth_secret']);
    const restored = await update({ authMode: McpAuthMode.STATIC, authSecret: 'upstream-secret-3' }, 'auth_mode', 'auth_secret');
    expect(restored.mcpServer).toMatchObject({ authMode: McpAuthMode.STATIC, hasAuthSecret: true });
    expect(t.deps.secrets.open((await stored(linear.id)).authSecretCiphertext)).toBe('upstream-secret-3');
  });

  it('lists tools for stdio servers a workspace token may start, never forwards a credential, and reports stored-secret problems', async () => {
    const ws = await workspace('mcp-tools');
    const asWs = workspaceCall(ws);
    const gw = await gateway(ws, 'main');
    const tools = (id: string, call: CallContext) => svc().listMcpServerTools(create(ListMcpServerToolsRequestSchema, { id }), call);
    const exits = { transport: McpTransport.STDIO, command: process.execPath, args: ['-e', 'process.exit(3)'], timeoutMs: 2000 };
    // Approved and enabled: the data plane runs it anyway, so a workspace token may list it.
    const live = await server(gw, { ...exits, name: 'live', approved: true });
    const res = await tools(live.id, asWs);
    expect(res).toMatchObject({ exposed: true, tools: [], status: { reachable: false, errorCode: 'upstream_unavailable' } });
    // Approved but disabled: only the root token may start it.
    const off = await server(gw, { ...exits, name: 'off', approved: true, enabled: false });
    expect((await rejection(tools(off.id, asWs))).kind).toBe('permission_denied');
    expect((await tools(off.id, t.root)).exposed).toBe(false);

    const upstream = await startTestUpstream();
    try {
      const fwd = await server(gw, { transport: McpTransport.STREAMABLE_HTTP, url: upstream.url, name: 'fwd', authMode: McpAuthMode.FORWARD }, asWs);
      const listed = await tools(fwd.id, asWs);
      expect(listed.status).toMatchObject({ reachable: true });
      expect(listed.tools?.map((tool) => tool.namespacedName)).toEqual(['fwd__whoami', 'fwd__sleep']);
      expect(upstream.authorizations.length).toBeGreaterThan(0);
      expect(upstream.authorizations.every((a) => a === undefined)).toBe(true);
    } finally {
      await upstream.close();
    }

    // A static secret this master key cannot open is the server's problem, reported without connecting.
    const sealed = await server(gw, { ...HTTP, name: 'sealed', authMode: McpAuthMode.STATIC, authSecret: 'upstream-secret' }, asWs);
    const em = t.orm.em.fork();
    await em.nativeUpdate(McpServerEntity, { id: sealed.id }, { authSecretCiphertext: 'not-a-sealed-value' });
    expect((await tools(sealed.id, asWs)).status).toMatchObject({ reachable: false, errorCode: 'upstream_misconfigured', errorMessage: 'MCP server "sealed": its auth secret cannot be decrypted with this master key' });
  });

  it('keeps each workspace token inside its workspace', async () => {
    const a = await workspace('mcp-tenant-a');
    const b = await workspace('mcp-tenant-b');
    const gwA = await gateway(a, 'main');
    await gateway(b, 'main');
    const inA = await server(gwA, { ...HTTP, name: 'github' });
    const asB = workspaceCall(b);
    const kind = async (p: Promise<unknown>) => (await rejection(p)).kind;
    expect(await kind(svc().getMcpServer(create(GetMcpServerRequestSchema, { id: inA.id }), asB))).toBe('not_found');
    const approve = create(UpdateMcpServerRequestSchema, { mcpServer: { id: inA.id, approved: true }, updateMask: mask('approved') });
    expect(await kind(svc().updateMcpServer(approve, asB))).toBe('not_found');
    expect(await kind(svc().deleteMcpServer(create(DeleteMcpServerRequestSchema, { id: inA.id }), asB))).toBe('not_found');
    expect(await kind(server(gwA, { ...HTTP, name: 'sneaky' }, asB))).toBe('not_found');
    expect(await kind(svc().listMcpServers(create(ListMcpServersRequestSchema, { gatewayId: gwA }), asB))).toBe('not_found');
    expect(await kind(svc().listMcpServers(create(ListMcpServersRequestSchema, { workspaceId: a }), asB))).toBe('permission_denied');
    expect(await names({}, asB)).toEqual([]);
    expect((await stored(inA.id)).approved).toBe(false);
    expect(await count(a)).toBe(1);
  });
});

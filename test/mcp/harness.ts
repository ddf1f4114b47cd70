/**
 * An MCP gateway for tests: a fastify app with only the MCP routes, over a
 * migrated SQLite database whose rows are created through the real services,
 * listening on 127.0.0.1 with an ephemeral port; plus an SDK client factory
 * and the paths of the npm MCP servers used as upstreams.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SnapshotStore } from '../../src/config/snapshot-store.js';
import { CreateApiKeyRequestSchema, RevokeApiKeyRequestSchema } from '../../src/gen/sluice/v1/api_key_pb.js';
import { CreateGatewayRequestSchema, UpdateGatewayRequestSchema } from '../../src/gen/sluice/v1/gateway_pb.js';
import { CreateMcpServerRequestSchema, McpServerSchema, UpdateMcpServerRequestSchema } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { CreateWorkspaceRequestSchema } from '../../src/gen/sluice/v1/workspace_pb.js';
import { registerMcpRoutes, type McpRoutesOptions } from '../../src/mcp/routes.js';
import type { McpLimits, McpRuntime } from '../../src/mcp/runtime.js';
import { createApiKeyService } from '../../src/services/api-key-service.js';
import { createGatewayService } from '../../src/services/gateway-service.js';
import { createMcpServerService } from '../../src/services/mcp-server-service.js';
import { createWorkspaceService } from '../../src/services/workspace-service.js';
import { createTestDeps, type TestDeps } from '../helpers/database.js';

const require = createRequire(import.meta.url);

/** Entry scripts of the npm MCP servers (run with this Node). */
export const EVERYTHING_JS = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');
export const MEMORY_JS = join(dirname(require.resolve('@modelcontextprotocol/server-memory/package.json')), 'dist', 'index.js');
export const FILESYSTEM_JS = join(dirname(require.resolve('@modelcontextprotocol/server-filesystem/package.json')), 'dist', 'index.js');
export const THINKING_JS = join(dirname(require.resolve('@modelcontextprotocol/server-sequential-thinking/package.json')), 'dist', 'index.js');

/** Gateway MCP settings as the API takes them. */
export type McpSettingsInit = NonNullable<MessageInitShape<typeof UpdateGatewayRequestSchema>['gateway']>['mcp'];

export type ServerInit = MessageInitShape<typeof McpServerSchema>;

/** A running gateway with its database. */
export interface TestGateway {
  t: TestDeps;
  app: FastifyInstance;
  runtime: McpRuntime;
  snapshots: SnapshotStore;
  baseUrl: string;
  workspace(name: string): Promise<string>;
  gateway(workspaceId: string, name: string, blockedTools?: string[]): Promise<string>;
  setBlockedTools(gatewayId: string, blockedTools: string[]): Promise<void>;
  /** Replaces the gateway's MCP settings (through the gateway service: validated as the API does). */
  setMcp(gatewayId: string, mcp: McpSettingsInit): Promise<void>;
  apiKey(workspaceId: string, name: string, gateways: string[], defaultGateway?: string, metadata?: Record<string, string>): Promise<{ id: string; secret: string }>;
  revokeKey(id: string): Promise<void>;
  server(gatewayId: string, init: ServerInit): Promise<string>;
  updateServer(id: string, init: ServerInit, paths: string[]): Promise<void>;
  /** Makes the snapshot (and so the MCP catalog) current after config changes. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a gateway with only the MCP routes. */
export async function startTestGateway(limits: Partial<McpLimits> = {}, extra: Pick<McpRoutesOptions, 'counters' | 'onCall' | 'sandbox'> = {}): Promise<TestGateway> {
  const t = await createTestDeps('sqlite');
  const snapshots = new SnapshotStore({ orm: t.orm, secrets: t.deps.secrets, pollMs: 0 });
  await snapshots.load();
  const app = Fastify({ logger: { level: process.env.SLUICE_TEST_LOG ?? 'silent' } });
  const runtime = await registerMcpRoutes(app, { snapshots, orm: t.orm, secrets: t.deps.secrets, limits, ...extra });
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  const root = t.root;
  return {
    t,
    app,
    runtime,
    snapshots,
    baseUrl,
    async workspace(name) {
      const res = await createWorkspaceService(t.deps).createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name } }), root);
      return res.workspace!.id!;
    },
    async gateway(workspaceId, name, blockedTools = []) {
      const res = await createGatewayService(t.deps).createGateway(create(CreateGatewayRequestSchema, { workspaceId, gateway: { name, mcp: { blockedTools } } }), root);
      return res.gateway!.id!;
    },
    async setBlockedTools(gatewayId, blockedTools) {
      await createGatewayService(t.deps).updateGateway(
        create(UpdateGatewayRequestSchema, { gateway: { id: gatewayId, mcp: { blockedTools } }, updateMask: { paths: ['mcp'] } }),
        root,
      );
    },
    async setMcp(gatewayId, mcp) {
      await createGatewayService(t.deps).updateGateway(create(UpdateGatewayRequestSchema, { gateway: { id: gatewayId, mcp }, updateMask: { paths: ['mcp'] } }), root);
    },
    async apiKey(workspaceId, name, gateways, defaultGateway, metadata = {}) {
      const res = await createApiKeyService(t.deps).createApiKey(
        create(CreateApiKeyRequestSchema, { workspaceId, apiKey: { name, gateways, defaultGateway: defaultGateway ?? gateways[0] ?? '', metadata } }),
        root,
      );
      return { id: res.apiKey!.id!, secret: res.secret! };
    },
    async revokeKey(id) {
      await createApiKeyService(t.deps).revokeApiKey(create(RevokeApiKeyRequestSchema, { id }), root);
    },
    async server(gatewayId, init) {
      const res = await createMcpServerService(t.deps).createMcpServer(create(CreateMcpServerRequestSchema, { gatewayId, mcpServer: init }), root);
      return res.mcpServer!.id!;
    },
    async updateServer(id, init, paths) {
      await createMcpServerService(t.deps).updateMcpServer(create(UpdateMcpServerRequestSchema, { mcpServer: { ...init, id }, updateMask: { paths } }), root);
    },
    async sync() {
      await snapshots.refresh();
    },
    async close() {
      await app.close();
      snapshots.stop();
      await t.close();
    },
  };
}

/** An SDK client connected to `url` with `key` as a bearer token. */
export async function connectClient(url: string, key: string, headers: Record<string, string> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${key}`, ...headers } } });
  const client = new Client({ name: 'sluice-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** Whether a process is alive (a zombie, killed but not yet reaped by its new parent, is not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; the command may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves once `check` holds, polling; fails after `ms`. */
export async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A JSON-RPC POST without the SDK; the answer may come as JSON or as one SSE event. */
export async function rawPost(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const data = text.split('\n').find((line) => line.startsWith('data: '));
    return { status: res.status, headers: res.headers, body: data ? JSON.parse(data.slice(6)) : undefined };
  }
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** An `initialize` request body. */
export function initializeBody(protocolVersion = '2025-11-25', id: number | string = 1): Record<string, unknown> {
  return { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
}

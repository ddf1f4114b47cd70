/**
 * A tiny MCP server built with the SDK, served over Streamable HTTP on
 * 127.0.0.1, that tests steer: how long `tools/list` and `tools/call` take,
 * and it records the `Authorization` header of every HTTP request and how
 * many sessions were initialised.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';

export interface TestUpstreamOptions {
  /** Delay before answering `tools/list`. */
  listDelayMs?: number;
  /** Extra tools (they answer with their own name). */
  tools?: string[];
  /** Port to listen on (default: any free one). */
  port?: number;
}

export interface TestUpstream {
  url: string;
  /** `Authorization` header values seen, one per HTTP request. */
  authorizations: (string | undefined)[];
  /** Sessions initialised so far. */
  sessions(): number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mcpServer(options: TestUpstreamOptions, lastAuthorization: () => string | undefined): Server {
  const server = new Server({ name: 'test-upstream', version: '1.0.0' }, { capabilities: { tools: {} } });
  const tools: Tool[] = [
    { name: 'whoami', description: 'Returns the Authorization header the server saw', inputSchema: { type: 'object' } },
    { name: 'sleep', description: 'Sleeps for ms milliseconds', inputSchema: { type: 'object', properties: { ms: { type: 'number' } } } },
    ...(options.tools ?? []).map((name): Tool => ({ name, description: `tool ${name}`, inputSchema: { type: 'object' } })),
  ];
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    if (options.listDelayMs) await sleep(options.listDelayMs);
    return { tools };
  });
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    if (req.params.name === 'whoami') return { content: [{ type: 'text', text: lastAuthorization() ?? '' }] };
    if (req.params.name === 'sleep') await sleep(Number(req.params.arguments?.ms ?? 0));
    return { content: [{ type: 'text', text: req.params.name }] };
  });
  return server;
}

/** Starts the server; `close()` stops it. */
export async function startTestUpstream(options: TestUpstreamOptions = {}): Promise<TestUpstream> {
  const authorizations: (string | undefined)[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  let initialised = 0;
  let last: string | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    authorizations.push(req.headers.authorization);
    last = req.headers.authorization;
    const id = req.headers['mcp-session-id'];
    const existing = typeof id === 'string' ? transports.get(id) : undefined;
    if (existing) return existing.handleRequest(req, res);
    if (typeof id === 'string') {
      res.writeHead(404).end();
      return;
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        initialised++;
        transports.set(sid, transport);
      },
      onsessionclosed: (sid) => void transports.delete(sid),
    });
    await mcpServer(options, () => last).connect(transport);
    await transport.handleRequest(req, res);
  };

  const http: HttpServer = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => http.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    authorizations,
    sessions: () => initialised,
    async close() {
      await Promise.all([...transports.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** A free loopback port (for servers that take their port from the environment, or to find nothing listening). */
export async function freePort(): Promise<number> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  await new Promise<void>((resolve) => http.close(() => resolve()));
  return port;
}

/**
 * A gateway for `@modelcontextprotocol/conformance` server runs (see
 * src/mcp/README.md "Conformance"): server-everything (stdio) as the only
 * upstream, and an API key added to requests that carry none, since the
 * suite sends no credentials. Prints the MCP URL and runs until stopped.
 *
 *   node --import tsx test/mcp/conformance-gateway.ts
 *   npx @modelcontextprotocol/conformance@0.1.13 server --url <printed url>
 */
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { EVERYTHING_JS, startTestGateway } from './harness.js';

const g = await startTestGateway();
const ws = await g.workspace('conformance');
const gw = await g.gateway(ws, 'main');
await g.server(gw, { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true });
const key = (await g.apiKey(ws, 'suite', ['main'])).secret;
await g.sync();
// The app is already listening (no more fastify hooks): a listener on the HTTP server that runs before
// fastify's own adds the key to the raw headers the routes read.
g.app.server.prependListener('request', (req) => {
  if (!req.headers.authorization && !req.headers['x-api-key']) req.headers.authorization = `Bearer ${key}`;
});
console.log(`${g.baseUrl}/mcp`);
const stop = async () => {
  await g.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

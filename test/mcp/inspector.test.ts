/**
 * The MCP inspector's CLI mode against a running gateway, the way
 * `npx @modelcontextprotocol/inspector --cli <url> --transport http …` runs
 * it. The `@modelcontextprotocol/inspector` package itself declares Node
 * ≥ 22.7.5, so the test runs the CLI package it delegates to,
 * `@modelcontextprotocol/inspector-cli` 1.0.3 (no engines constraint, runs on
 * Node 20), with the same arguments.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpTransport } from '../../src/gen/sluice/v1/mcp_server_pb.js';
import { EVERYTHING_JS, startTestGateway, type TestGateway } from './harness.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const INSPECTOR_CLI = join(dirname(require.resolve('@modelcontextprotocol/inspector-cli/package.json')), 'build', 'cli.js');

let g: TestGateway;
let key: string;

beforeAll(async () => {
  g = await startTestGateway();
  const ws = await g.workspace('acme');
  const gw = await g.gateway(ws, 'main');
  await g.server(gw, { name: 'everything', transport: McpTransport.STDIO, command: process.execPath, args: [EVERYTHING_JS, 'stdio'], approved: true });
  key = (await g.apiKey(ws, 'inspector', ['main'])).secret;
  await g.sync();
});

afterAll(async () => {
  await g?.close();
});

async function inspector(...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [INSPECTOR_CLI, '--cli', `${g.baseUrl}/gateways/main/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${key}`, ...args], {
    timeout: 30_000,
    // inspector-cli 1.0.3 checks for its package.json relative to the working directory but imports it relative
    // to its module: run it from its build directory so both agree.
    cwd: dirname(INSPECTOR_CLI),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
  });
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

describe('MCP inspector CLI', () => {
  it('lists the gateway tools', async () => {
    const listed = (await inspector('--method', 'tools/list')) as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name)).toContain('everything__echo');
  });

  it('calls a tool with arguments, and deferred loading through its header', async () => {
    const echoed = await inspector('--method', 'tools/call', '--tool-name', 'everything__echo', '--tool-arg', 'message=inspected');
    expect(echoed).toMatchObject({ content: [{ type: 'text', text: 'Echo: inspected' }] });
    const deferred = (await inspector('--header', 'x-sluice-mcp-deferred: true', '--method', 'tools/list')) as { tools: { name: string }[] };
    expect(deferred.tools.map((t) => t.name)).toEqual(['search_tools', 'orchestrator']);
  });

  it('fails without a valid key', async () => {
    await expect(
      run(process.execPath, [INSPECTOR_CLI, '--cli', `${g.baseUrl}/mcp`, '--transport', 'http', '--header', 'Authorization: Bearer sk-wrong', '--method', 'tools/list'], { timeout: 30_000, cwd: dirname(INSPECTOR_CLI) }),
    ).rejects.toThrow();
  });
});

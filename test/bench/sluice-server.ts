/**
 * Sluice as the benchmark's system under test (its own process; the runner
 * pins it with `taskset`). Starts Sluice through `startSluice` (what
 * `sluice serve` runs) on a temporary SQLite data dir with logging off and no
 * demo, then builds through the control API (Connect client, root token):
 *
 *   workspace `bench` → provider `up` (openai_compatible, base URL = the bench upstream)
 *   → model `gpt-4o-mini` → gateway `bench` with one route
 *     `condition: request.headers["x-tier"] != "blocked"`, priority pool [up/gpt-4o-mini]
 *   → an API key whose default gateway is `bench`,
 *
 * refreshes the snapshot, prints `{"port","apiKey","gateway","model"}` as one
 * JSON line on stdout and stays up until SIGTERM/SIGINT (then removes the data dir).
 *
 * When profiled (`node --enable-source-maps --cpu-prof …`) with
 * `BENCH_SOURCEMAPS_OUT=FILE`, it writes the source maps of the TypeScript
 * modules it loaded to FILE at exit: tsx compiles each file to one line, so
 * the profile's positions need them (test/bench/profile.ts).
 *
 * With `--policies` (issue 4's full pipeline) it also turns on every policy
 * stage, with limits far above what the benchmark sends so that every request
 * is charged and none is refused: the counter store is Redis (`--redis=URL`,
 * default redis://127.0.0.1:6379), the gateway has a CEL model selector with
 * a header condition, one request rate limit per API key, one token rate
 * limit per gateway and one monthly spend limit on the workspace.
 *
 *   node --import tsx test/bench/sluice-server.ts --upstream=http://127.0.0.1:PORT [--port=0] [--policies [--redis=URL]]
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { findSourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSluiceClient } from '@sluice/client';
import { PoolStrategy, RateLimitUnit, RateLimitWindow, SpendEnforcement, SpendPeriod, StoreFailureMode } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import { startSluice } from '../../src/bootstrap.js';
import type { EnvConfig } from '../../src/config/env.js';

function arg(name: string, fallback?: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (hit) return hit.slice(name.length + 3);
  if (fallback === undefined) throw new Error(`missing --${name}=`);
  return fallback;
}

const upstream = arg('upstream').replace(/\/+$/, '');
const port = Number(arg('port', '0'));
const policies = process.argv.includes('--policies');
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const rootToken = `sluice-root-bench-${randomBytes(12).toString('hex')}`;
const env: EnvConfig = {
  host: '127.0.0.1',
  port,
  dataDir,
  database: { dialect: 'sqlite', path: join(dataDir, 'sluice.db') },
  adminToken: rootToken,
  masterKey: randomBytes(32).toString('hex'),
  logLevel: 'silent',
  demo: 'off',
  redisUrl: policies ? arg('redis', 'redis://127.0.0.1:6379') : undefined,
};

/** Dumps `{ fileUrl: sourceMapPayload }` for every loaded .ts file under src/, clients/ and test/bench/. */
function dumpSourceMaps(out: string): void {
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  const maps: Record<string, unknown> = {};
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.ts')) {
        const url = pathToFileURL(p).href;
        const sm = findSourceMap(url);
        if (sm) maps[url] = sm.payload;
      }
    }
  };
  for (const d of ['src', 'clients', 'test/bench']) walk(join(repo, d));
  writeFileSync(out, JSON.stringify(maps));
}

let closing: Promise<void> | undefined;
let sluice: Awaited<ReturnType<typeof startSluice>> | undefined;
function shutdown(code: number): void {
  closing ??= (async () => {
    try {
      await sluice?.close();
    } catch {
      // best effort
    }
    rmSync(dataDir, { recursive: true, force: true });
    if (process.env.BENCH_SOURCEMAPS_OUT) {
      try {
        dumpSourceMaps(process.env.BENCH_SOURCEMAPS_OUT);
      } catch (err) {
        process.stderr.write(`sluice-server: cannot dump source maps: ${String(err)}\n`);
      }
    }
    process.exit(code);
  })();
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => shutdown(0));

try {
  const announced: string[] = [];
  sluice = await startSluice(env, (line) => announced.push(line));
  const address = await sluice.app.listen({ host: '127.0.0.1', port });
  const client = createSluiceClient({ baseUrl: address, token: rootToken });

  const ws = (await client.workspaces.createWorkspace({ workspace: { name: 'bench' } })).workspace!;
  const provider = (
    await client.providers.createProvider({
      workspaceId: ws.id,
      provider: { name: 'up', type: ProviderType.OPENAI_COMPATIBLE, baseUrl: `${upstream}/v1`, azureApiVersion: '', timeoutMs: 0 },
      credentials: [{ source: { case: 'value' as const, value: 'sk-bench-upstream-0000' } }],
    })
  ).provider!;
  await client.providers.createModel({ providerId: provider.id, model: { name: 'gpt-4o-mini' } });
  // The selector reads a header (the safe optional form: a missing header is not an error).
  const modelSelector = policies ? 'request.headers[?"x-tier"].orValue("") == "pro" ? "gpt-4o-mini" : request.model' : '';
  const gateway = (await client.gateways.createGateway({ workspaceId: ws.id, gateway: { name: 'bench', models: [], modelSelector } })).gateway!;
  if (policies) {
    // Fail closed: a store problem during the run shows up as errors instead of hiding the store's cost.
    const failClosed = StoreFailureMode.FAIL_CLOSED;
    await client.gateways.createRateLimit({
      gatewayId: gateway.id,
      rateLimit: { name: 'requests-per-key', unit: RateLimitUnit.REQUESTS, limit: 1_000_000_000n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'key', value: true } }, onStoreFailure: failClosed },
    });
    await client.gateways.createRateLimit({
      gatewayId: gateway.id,
      rateLimit: { name: 'tokens-per-gateway', unit: RateLimitUnit.TOKENS, limit: 1_000_000_000_000n, window: RateLimitWindow.MINUTE, scope: { kind: { case: 'gateway', value: true } }, onStoreFailure: failClosed },
    });
    await client.gateways.createSpendLimit({
      workspaceId: ws.id,
      spendLimit: {
        name: 'workspace-monthly',
        amountMicros: 1_000_000_000_000n,
        period: SpendPeriod.MONTHLY,
        enforcement: SpendEnforcement.BLOCK,
        warnAt: 0.8,
        scope: { kind: { case: 'workspace', value: true } },
        onStoreFailure: failClosed,
      },
    });
  }
  await client.gateways.createRoute({
    gatewayId: gateway.id,
    route: {
      name: 'default',
      priority: 0,
      condition: 'request.headers["x-tier"] != "blocked"',
      pool: { strategy: PoolStrategy.PRIORITY, members: [{ provider: 'up', model: 'gpt-4o-mini', weight: 1 }], fallbackOn: [], attemptTimeoutMs: 0 },
      fallbacks: [],
    },
  });
  const key = await client.apiKeys.createApiKey({ workspaceId: ws.id, apiKey: { name: 'bench', gateways: ['bench'], defaultGateway: 'bench' } });
  await sluice.snapshots.refresh();
  process.stdout.write(JSON.stringify({ port: Number(new URL(address).port), apiKey: key.secret, gateway: 'bench', model: 'gpt-4o-mini', pid: process.pid }) + '\n');
} catch (err) {
  process.stderr.write(`sluice-server: ${(err as Error).stack ?? String(err)}\n`);
  shutdown(1);
}

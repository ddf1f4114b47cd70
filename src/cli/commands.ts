/**
 * The CLI commands. `serve` and `migrate` work on the local database;
 * `apply` and `keys` go through the control API like any other client.
 */
import { createRouterTransport, ConnectError } from '@connectrpc/connect';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { clientsFor, createSluiceClient, type SluiceClient } from '@sluice/client';
import { startSluice } from '../bootstrap.js';
import { applyPlan, formatPlan, formatResult, loadConfigFile, planConfig } from '../config-file/index.js';
import { readEnvConfig } from '../config/env.js';
import { registerConnectServices } from '../control/connect/connect-routes.js';
import { migrate, openOrm } from '../db/orm.js';
import { createServiceBindings } from '../services/index.js';
import type { ServiceDeps } from '../services/store.js';
import type { CliOptions } from './main.js';

/** A client that calls the services in-process as root (used by `serve --config`). */
export function inProcessClient(deps: ServiceDeps): SluiceClient {
  const bindings = createServiceBindings(deps);
  return clientsFor(createRouterTransport((router) => registerConnectServices(router, bindings, async () => ({ kind: 'root', tokenId: 'config-file' }))));
}

/** Loads, plans and (unless dry) applies a config file; prints everything; returns the exit status. */
async function applyFile(file: string, client: SluiceClient, dryRun: boolean, out: (line: string) => void): Promise<number> {
  const { config, problems } = await loadConfigFile(file, process.env);
  if (!config || problems.length) {
    out(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    for (const p of problems) out(`  ${p}`);
    return 1;
  }
  const plan = await planConfig(config, client);
  out(formatPlan(plan));
  if (dryRun) {
    out('dry run: nothing written');
    return 0;
  }
  const result = await applyPlan(plan, client);
  out(formatResult(result));
  return result.ok ? 0 : 1;
}

export async function runServe(opts: CliOptions): Promise<number> {
  const env = readEnvConfig();
  const announce = (line: string) => console.log(`sluice: ${line}`);
  let configStatus = 0;
  const sluice = await startSluice(env, announce, async (deps) => {
    if (opts.config) configStatus = await applyFile(opts.config, inProcessClient(deps), false, announce);
  });
  if (configStatus !== 0) {
    await sluice.close();
    return configStatus;
  }
  const address = await sluice.app.listen({ host: env.host, port: env.port });
  announce(`listening on ${address} (control: Connect/gRPC at /sluice.v1.*, tRPC at /trpc; health: /healthz, /readyz)`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      announce(`${signal}: shutting down`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await sluice.close();
  return 0;
}

export async function runMigrate(): Promise<number> {
  const env = readEnvConfig();
  const orm = await openOrm(env.database);
  try {
    const applied = await migrate(orm);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return 0;
  } finally {
    await orm.close(true);
  }
}

function remoteClient(opts: CliOptions): SluiceClient {
  const token = opts.token ?? process.env.SLUICE_TOKEN ?? process.env.SLUICE_ADMIN_TOKEN;
  if (!token) throw new Error('no admin token: pass --token or set SLUICE_TOKEN');
  return createSluiceClient({ baseUrl: opts.url ?? process.env.SLUICE_URL ?? 'http://127.0.0.1:8080', token });
}

/** Turns ConnectErrors into one readable line. */
function describe(err: unknown): Error {
  return err instanceof ConnectError ? new Error(err.message) : (err as Error);
}

export async function runApply(opts: CliOptions): Promise<number> {
  if (!opts.file) throw new Error('-f FILE is required');
  try {
    return await applyFile(opts.file, remoteClient(opts), opts['dry-run'] ?? false, (line) => console.log(line));
  } catch (err) {
    throw describe(err);
  }
}

async function workspaceIdByName(client: SluiceClient, name: string | undefined): Promise<string> {
  if (!name) throw new Error('--workspace is required');
  const { workspaces } = await client.workspaces.listWorkspaces({ name });
  const ws = workspaces[0];
  if (!ws) throw new Error(`unknown workspace "${name}"`);
  return ws.id;
}

export async function runKeys(args: string[], opts: CliOptions): Promise<number> {
  const [action, id] = args;
  const client = remoteClient(opts);
  try {
    switch (action) {
      case 'create': {
        const workspaceId = await workspaceIdByName(client, opts.workspace);
        if (!opts.name) throw new Error('--name is required');
        const metadata = Object.fromEntries(
          (opts.metadata ?? []).map((kv) => {
            const at = kv.indexOf('=');
            if (at <= 0) throw new Error(`--metadata "${kv}": expected key=value`);
            return [kv.slice(0, at), kv.slice(at + 1)];
          }),
        );
        const expires = opts.expires ? new Date(opts.expires) : undefined;
        if (expires && Number.isNaN(expires.getTime())) throw new Error(`--expires "${opts.expires}": not a date`);
        const res = await client.apiKeys.createApiKey({
          workspaceId,
          apiKey: {
            name: opts.name,
            gateways: opts.gateway ?? [],
            defaultGateway: opts['default-gateway'] ?? '',
            metadata,
            expireTime: expires ? timestampFromDate(expires) : undefined,
          },
        });
        console.log(`created key ${res.apiKey?.id} (${res.apiKey?.prefix}…)`);
        console.log(`secret (shown once): ${res.secret}`);
        return 0;
      }
      case 'list': {
        const workspaceId = await workspaceIdByName(client, opts.workspace);
        let pageToken = '';
        console.log(['ID', 'NAME', 'PREFIX', 'GATEWAYS', 'EXPIRES', 'REVOKED'].join('\t'));
        do {
          const page = await client.apiKeys.listApiKeys({ workspaceId, pageToken, showRevoked: opts.all ?? false });
          for (const k of page.apiKeys) {
            const when = (t: typeof k.expireTime) => (t ? timestampDate(t).toISOString() : '-');
            console.log([k.id, k.name, k.prefix, k.gateways.join(',') || '*', when(k.expireTime), when(k.revokeTime)].join('\t'));
          }
          pageToken = page.nextPageToken;
        } while (pageToken);
        return 0;
      }
      case 'revoke': {
        if (!id) throw new Error('KEY_ID is required');
        const res = await client.apiKeys.revokeApiKey({ id });
        console.log(`revoked ${res.apiKey?.id} (${res.apiKey?.name})`);
        return 0;
      }
      default:
        throw new Error('expected "keys create", "keys list" or "keys revoke"; see sluice keys --help');
    }
  } catch (err) {
    throw describe(err);
  }
}

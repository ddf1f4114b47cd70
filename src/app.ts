/**
 * The Sluice HTTP application as a fastify instance. `main` reads the
 * environment, calls `buildApp`, listens and closes; tests build the same app.
 *
 * Connect and tRPC each install their own body parsers, so each lives in its
 * own encapsulated `register` scope.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import { registerConnectServices } from './control/connect/connect-routes.js';
import { createAppRouter, type AppRouter } from './control/trpc/router.js';
import type { TrpcContext } from './control/trpc/trpc.js';
import type { EnvConfig } from './config/env.js';
import type { SluiceError } from './errors.js';
import { dualProtocolServerFactory } from './server.js';
import { authenticateAdmin, bearerFrom } from './services/admin-auth.js';
import { createServiceBindings } from './services/index.js';
import type { ServiceDeps } from './services/store.js';
import type { SnapshotStore } from './config/snapshot-store.js';
import { CredentialRotation } from './llm/pool/credentials.js';
import { MemberHealth } from './llm/pool/health.js';
import { PoolSelector } from './llm/pool/select.js';
import type { PipelineHooks } from './policy/pipeline.js';
import { proxyRoutes } from './proxy/routes.js';
import { registerMcpRoutes } from './mcp/index.js';
import type { McpCallSink } from './observability/records.js';
import { settleLog } from './proxy/settle-log.js';
import { registerMetricsRoute, type MetricsRouteOptions } from './observability/prometheus/route.js';
import { uiRoutes } from './control/ui.js';

export interface AppOptions {
  deps: ServiceDeps;
  snapshots: SnapshotStore;
  logLevel?: EnvConfig['logLevel'];
  /**
   * Policy and observability hooks, or a function building them from the app's logger; defaults
   * log each settled request.
   */
  hooks?: PipelineHooks | ((log: FastifyBaseLogger) => PipelineHooks);
  /** Serve `GET /metrics` from these Prometheus metrics (optionally behind a bearer token). */
  prometheus?: MetricsRouteOptions;
  /** Receives one record per MCP tool call (the MCP call log). */
  mcpCalls?: McpCallSink;
}

/** Builds the app (not listening). The caller owns `deps` and closes them after the app. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { deps } = options;
  const app = Fastify({
    logger: { level: options.logLevel ?? 'info', redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] },
    serverFactory: dualProtocolServerFactory({ keepAliveMs: 72_000, headersMs: 30_000 }),
    bodyLimit: 8 * 1024 * 1024,
    // tRPC batches put every procedure name of a batch in one path parameter (`/trpc/a,b,c`);
    // fastify's default limit of 100 characters turns a batch of four calls into a 404.
    routerOptions: { maxParamLength: 5000 },
    return503OnClosing: true,
  });
  const bindings = createServiceBindings(deps);
  const reportInternal = (err: SluiceError) => app.log.error({ err: err.cause ?? err }, 'control-plane internal error');

  app.get('/healthz', async () => ({ status: 'ok' }));
  if (options.prometheus) registerMetricsRoute(app, options.prometheus);
  app.get('/readyz', async (_req, reply) => {
    try {
      await deps.orm.em.fork().getConnection().execute('select 1');
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
    }
  });

  // The dashboard (static files, no body parsing).
  await app.register(uiRoutes);

  await app.register(async (scope) => {
    await scope.register(fastifyConnectPlugin, {
      routes: (router) =>
        registerConnectServices(router, bindings, (headers) => authenticateAdmin(deps, bearerFrom(headers.get('authorization'))), reportInternal),
    });
  });

  const appRouter = createAppRouter(bindings, reportInternal);
  await app.register(async (scope) => {
    await scope.register(fastifyTRPCPlugin, {
      prefix: '/trpc',
      trpcOptions: {
        router: appRouter,
        createContext: ({ req }): TrpcContext => ({ authenticate: () => authenticateAdmin(deps, bearerFrom(req.headers.authorization)) }),
      },
    } satisfies FastifyTRPCPluginOptions<AppRouter>);
  });

  const health = new MemberHealth();
  await app.register(proxyRoutes, {
    snapshots: options.snapshots,
    runtime: { health, selector: new PoolSelector(health), credentials: new CredentialRotation() },
    hooks: typeof options.hooks === 'function' ? options.hooks(app.log) : (options.hooks ?? { settle: settleLog(app.log) }),
  });
  // MCP sits in its own scope, outside the Connect and tRPC body parsers.
  await registerMcpRoutes(app, {
    snapshots: options.snapshots,
    orm: deps.orm,
    secrets: deps.secrets,
    ...(deps.counters ? { counters: deps.counters } : {}),
    ...(options.mcpCalls ? { onCall: options.mcpCalls } : {}),
  });

  return app;
}

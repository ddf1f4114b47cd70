/**
 * The tRPC surface of the control plane: one router per domain, one
 * procedure per Protobuf RPC (same name, camelCase). Inputs and outputs are
 * the Protobuf JSON forms of the request and response messages, so a tRPC
 * call and a Connect JSON call carry identical data. Inputs are validated by
 * decoding them with the message schema (unknown fields and wrong types are
 * rejected) and then by the domain service, the same as on Connect.
 */
import { create, fromJson, toJson, type DescMethod, type DescMethodUnary, type DescService, type JsonValue, type MessageJsonType } from '@bufbuild/protobuf';
import type { TRPCBuiltRouter, TRPCMutationProcedure, TRPCQueryProcedure } from '@trpc/server';
import { SluiceError } from '../../errors.js';
import type { ApiKeyService } from '../../gen/sluice/v1/api_key_pb.js';
import type { GatewayService } from '../../gen/sluice/v1/gateway_pb.js';
import type { LogService } from '../../gen/sluice/v1/log_pb.js';
import type { McpServerService } from '../../gen/sluice/v1/mcp_server_pb.js';
import type { MetricsService } from '../../gen/sluice/v1/metrics_pb.js';
import type { ProviderService } from '../../gen/sluice/v1/provider_pb.js';
import type { WorkspaceService } from '../../gen/sluice/v1/workspace_pb.js';
import type { CallContext } from '../../services/context.js';
import type { ServiceBinding } from '../../services/service-kit.js';
import { toTrpcError, type InternalErrorReporter } from '../errors.js';
import { adminProcedure, router, type TrpcRoot } from './trpc.js';

/** Read-only RPCs are tRPC queries (cacheable GETs); everything else is a mutation. */
type QueryName = `get${string}` | `list${string}` | `query${string}`;

type ProcedureOf<K, M> =
  M extends DescMethodUnary<infer I, infer O>
    ? K extends QueryName
      ? TRPCQueryProcedure<{ input: MessageJsonType<I>; output: MessageJsonType<O>; meta: object }>
      : TRPCMutationProcedure<{ input: MessageJsonType<I>; output: MessageJsonType<O>; meta: object }>
    : never;

/** The typed procedures of one Protobuf service (a nested router record). */
export type DomainRouter<S extends DescService> = { [K in keyof S['method']]: ProcedureOf<K, S['method'][K]> };

/** The tRPC router type clients import (type only). */
export type AppRouter = TRPCBuiltRouter<
  TrpcRoot,
  {
    workspace: DomainRouter<typeof WorkspaceService>;
    provider: DomainRouter<typeof ProviderService>;
    gateway: DomainRouter<typeof GatewayService>;
    apiKey: DomainRouter<typeof ApiKeyService>;
    mcpServer: DomainRouter<typeof McpServerService>;
    log: DomainRouter<typeof LogService>;
    metrics: DomainRouter<typeof MetricsService>;
  }
>;

/** Domain router names by Protobuf service. */
export const DOMAIN_NAMES: Record<string, keyof AppRouter['_def']['record']> = {
  'sluice.v1.WorkspaceService': 'workspace',
  'sluice.v1.ProviderService': 'provider',
  'sluice.v1.GatewayService': 'gateway',
  'sluice.v1.ApiKeyService': 'apiKey',
  'sluice.v1.McpServerService': 'mcpServer',
  'sluice.v1.LogService': 'log',
  'sluice.v1.MetricsService': 'metrics',
};

/** Decodes a tRPC input as the method's request message, naming the bad field on failure. */
function inputParser(method: DescMethod) {
  return (raw: unknown) => {
    try {
      return fromJson(method.input, (raw ?? {}) as JsonValue);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      // protobuf-es names the field as `<message type>.<field>`; report the proto field name.
      const field = /field ([\w.]+)/.exec(text)?.[1]?.split('.').pop() ?? 'request';
      // tRPC turns a parser's error into BAD_REQUEST with it as the cause.
      throw SluiceError.invalid([{ field, description: text.replace(/^cannot decode [^:]+: /, ''), reason: 'INVALID_FORMAT' }]);
    }
  };
}

function domainRouter(binding: ServiceBinding, report?: InternalErrorReporter) {
  const domain = binding.implementation as unknown as Record<string, (req: unknown, call: CallContext) => Promise<unknown>>;
  const procedures: Record<string, unknown> = {};
  for (const method of binding.descriptor.methods) {
    const run = domain[method.localName];
    if (!run) throw new Error(`${binding.descriptor.typeName}.${method.name} has no implementation`);
    const base = adminProcedure.input(inputParser(method));
    const resolve = async ({ input, ctx }: { input: unknown; ctx: CallContext }) => {
      try {
        const response = await run(input, { principal: ctx.principal });
        return toJson(method.output, create(method.output, response as never));
      } catch (err) {
        throw toTrpcError(err, report);
      }
    };
    procedures[method.localName] = /^(get|list|query)[A-Z]/.test(method.localName) ? base.query(resolve) : base.mutation(resolve);
  }
  return router(procedures as never);
}

/** Builds the app router over the same bindings the Connect transport mounts. */
export function createAppRouter(bindings: readonly ServiceBinding[], report?: InternalErrorReporter): AppRouter {
  const record: Record<string, unknown> = {};
  for (const binding of bindings) {
    const name = DOMAIN_NAMES[binding.descriptor.typeName];
    if (!name) throw new Error(`no tRPC router name for ${binding.descriptor.typeName}`);
    record[name] = domainRouter(binding, report);
  }
  return router(record as never) as unknown as AppRouter;
}

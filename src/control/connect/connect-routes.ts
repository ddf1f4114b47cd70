/**
 * Mounts the domain services on a Connect router (Connect protocol, gRPC-Web
 * and gRPC). Each call authenticates the bearer token, then runs the domain
 * method; errors are rendered by `toConnectError`.
 */
import type { DescService } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext, ServiceImpl } from '@connectrpc/connect';
import type { Principal } from '../../services/context.js';
import type { ServiceBinding } from '../../services/service-kit.js';
import { toConnectError, type InternalErrorReporter } from '../errors.js';

/** Resolves the caller from request headers (throws `unauthenticated`). */
export type Authenticator = (headers: Headers) => Promise<Principal>;

/** Registers every binding on `router`. */
export function registerConnectServices(
  router: ConnectRouter,
  bindings: readonly ServiceBinding[],
  authenticate: Authenticator,
  report?: InternalErrorReporter,
): void {
  for (const binding of bindings) {
    router.service(binding.descriptor, connectImpl(binding, authenticate, report));
  }
}

function connectImpl(binding: ServiceBinding, authenticate: Authenticator, report?: InternalErrorReporter): ServiceImpl<DescService> {
  const impl: Record<string, (req: never, ctx: HandlerContext) => Promise<unknown>> = {};
  const domain = binding.implementation as unknown as Record<string, (req: unknown, call: { principal: Principal }) => Promise<unknown>>;
  for (const method of binding.descriptor.methods) {
    const run = domain[method.localName];
    if (!run) throw new Error(`${binding.descriptor.typeName}.${method.name} has no implementation`);
    impl[method.localName] = async (req, ctx) => {
      try {
        const principal = await authenticate(ctx.requestHeader);
        return await run(req, { principal });
      } catch (err) {
        throw toConnectError(err, report);
      }
    };
  }
  return impl as unknown as ServiceImpl<DescService>;
}

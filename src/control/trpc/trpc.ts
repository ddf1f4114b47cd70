/**
 * The one place that calls `initTRPC`. It exports the only base procedure
 * the control plane allows: `adminProcedure`, which authenticates the bearer
 * token first. Errors carry the same kind, message and field violations as
 * their Connect counterparts (in `error.data`).
 */
import { initTRPC } from '@trpc/server';
import { SluiceError, type FieldViolation } from '../../errors.js';
import type { Principal } from '../../services/context.js';
import { toTrpcError } from '../errors.js';

/** Per-request tRPC context: how to authenticate, resolved lazily by `adminProcedure`. */
export interface TrpcContext {
  authenticate: () => Promise<Principal>;
}

/** Extra fields on every tRPC error: the Sluice error kind and the field violations. */
export interface SluiceErrorData {
  kind: string;
  fieldViolations: FieldViolation[];
}

const t = initTRPC.context<TrpcContext>().create({
  errorFormatter({ shape, error }) {
    const cause = error.cause instanceof SluiceError ? error.cause : undefined;
    const data: SluiceErrorData = { kind: cause?.kind ?? 'internal', fieldViolations: [...(cause?.violations ?? [])] };
    // Never leak stack traces to clients.
    const { stack: _stack, ...rest } = shape.data;
    return { ...shape, data: { ...rest, ...data } };
  },
});

export const router = t.router;

/** A procedure whose caller holds a valid root or workspace admin token. */
export const adminProcedure = t.procedure.use(async ({ ctx, next }) => {
  try {
    const principal = await ctx.authenticate();
    return next({ ctx: { principal } });
  } catch (err) {
    throw toTrpcError(err);
  }
});

/** The root types of this tRPC instance, for the typed router. */
export type TrpcRoot = typeof t._config.$types;

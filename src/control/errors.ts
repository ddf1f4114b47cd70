/**
 * Renders the error taxonomy on the control-plane transports. Both use the
 * same kinds, messages and field violations, so a client sees the same error
 * whichever transport it speaks.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { toSluiceError, type ErrorKind, type SluiceError } from '../errors.js';
import { BadRequestSchema } from '../gen/sluice/v1/errors_pb.js';

const CONNECT_CODE: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

const TRPC_CODE: Record<ErrorKind, TRPC_ERROR_CODE_KEY> = {
  invalid_argument: 'BAD_REQUEST',
  unauthenticated: 'UNAUTHORIZED',
  permission_denied: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  already_exists: 'CONFLICT',
  failed_precondition: 'PRECONDITION_FAILED',
  resource_exhausted: 'TOO_MANY_REQUESTS',
  unavailable: 'SERVICE_UNAVAILABLE',
  deadline_exceeded: 'TIMEOUT',
  unimplemented: 'NOT_IMPLEMENTED',
  internal: 'INTERNAL_SERVER_ERROR',
};

/** Reports errors that are bugs (kind `internal`); the client only sees "internal error". */
export type InternalErrorReporter = (err: SluiceError) => void;

/** A thrown value as a ConnectError with a `sluice.v1.BadRequest` detail for field violations. */
export function toConnectError(err: unknown, report?: InternalErrorReporter): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = toSluiceError(err);
  if (e.kind === 'internal') report?.(e);
  const details = e.violations.length
    ? [{ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [...e.violations] }) }]
    : [];
  return new ConnectError(e.message, CONNECT_CODE[e.kind], undefined, details, e);
}

/** A thrown value as a TRPCError; the SluiceError stays the cause, for the error formatter. */
export function toTrpcError(err: unknown, report?: InternalErrorReporter): TRPCError {
  if (err instanceof TRPCError) return err;
  const e = toSluiceError(err);
  if (e.kind === 'internal') report?.(e);
  return new TRPCError({ code: TRPC_CODE[e.kind], message: e.message, cause: e });
}

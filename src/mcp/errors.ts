/**
 * Errors on the MCP surface are JSON-RPC errors. Inside a session they are
 * the error of the JSON-RPC response; before a session exists (auth, gateway,
 * session lookup, body parsing) the HTTP status carries the class and the body
 * is a JSON-RPC error response too.
 *
 * Codes (README "Errors"): the JSON-RPC standard ones, the MCP ones (-32002
 * resource not found, -32602 unknown tool or prompt), the SDK's transport
 * ones (-32000 connection/server error, -32001 timeout, session not found),
 * and -32003 for a refusal by gateway policy (a blocked tool). `data` carries
 * Sluice's `kind` and machine `code`. Errors an upstream returned pass
 * through with their own code, message and data.
 */
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { SluiceError, type ErrorKind } from '../errors.js';

/** JSON-RPC error codes used by the gateway. */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  serverError: -32000,
  timeout: -32001,
  /** The SDK transport's code for an unknown session (the same number as its timeout). */
  sessionNotFound: -32001,
  resourceNotFound: -32002,
  forbidden: -32003,
} as const;

const CODE_BY_KIND: Record<ErrorKind, number> = {
  invalid_argument: RpcCode.invalidParams,
  unauthenticated: RpcCode.serverError,
  permission_denied: RpcCode.forbidden,
  not_found: RpcCode.invalidParams,
  already_exists: RpcCode.invalidRequest,
  failed_precondition: RpcCode.invalidRequest,
  resource_exhausted: RpcCode.serverError,
  unavailable: RpcCode.serverError,
  deadline_exceeded: RpcCode.timeout,
  unimplemented: RpcCode.methodNotFound,
  internal: RpcCode.internal,
};

/**
 * An error the SDK's protocol layer sends as-is: it reads `code`, `message`
 * and `data` off whatever a handler throws. Unlike `McpError` the message is
 * not prefixed, so errors relayed through the gateway do not stack prefixes.
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The `data` of an error raised by Sluice. */
function dataOf(err: SluiceError): Record<string, unknown> {
  return { kind: err.kind, ...(err.details.code ? { code: err.details.code } : {}) };
}

/** Builds a Sluice-level error with an explicit JSON-RPC code. */
export function rpcError(code: number, kind: ErrorKind, message: string, details: { code: string; [key: string]: unknown }): RpcError {
  return new RpcError(code, message, { kind, ...details });
}

/** The message an `McpError` was built with (the SDK prefixes `MCP error <code>: `). */
function originalMessage(err: McpError): string {
  const prefix = `MCP error ${err.code}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}

/**
 * Anything thrown by a handler as the error to send. Unknown errors become
 * `internal` without their text; the caller logs the original.
 */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof McpError) return new RpcError(err.code, originalMessage(err), err.data);
  if (err instanceof SluiceError) return new RpcError(CODE_BY_KIND[err.kind], err.message, dataOf(err));
  return new RpcError(RpcCode.internal, 'internal error', { kind: 'internal' });
}

/** A JSON-RPC error response body for a request that never reached a session. */
export function errorResponse(id: string | number | null, code: number, message: string, data?: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: '2.0', id, error: { code, message, ...(data ? { data } : {}) } };
}

/** The JSON-RPC error response for a Sluice error raised before a session (auth, gateway, limits). */
export function sluiceErrorResponse(id: string | number | null, err: SluiceError): Record<string, unknown> {
  return errorResponse(id, err.kind === 'internal' ? RpcCode.internal : RpcCode.serverError, err.message, dataOf(err));
}

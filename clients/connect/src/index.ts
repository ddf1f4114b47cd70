/**
 * Connect client for the Sluice control plane, for Node (≥ 20) and browsers.
 *
 *   const sluice = createSluiceClient({ baseUrl: 'http://localhost:8080', token });
 *   const { workspaces } = await sluice.workspaces.listWorkspaces({});
 *
 * Errors are `ConnectError`s; `invalid_argument` errors carry a
 * `sluice.v1.BadRequest` detail listing the offending fields
 * (see `fieldViolations`).
 */
import { ConnectError } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { BadRequestSchema, type FieldViolation } from './gen/sluice/v1/errors_pb.js';
import { bearerAuth, clientsFor, type SluiceClient } from './services.js';

export type { SluiceClient } from './services.js';
export { clientsFor, bearerAuth } from './services.js';

export interface SluiceClientOptions {
  /** Where Sluice listens, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** Root or workspace admin token. */
  token: string;
  /** `connect` (default, JSON over HTTP/1.1) or `grpc-web`. For native gRPC use `@sluice/client/node`. */
  protocol?: 'connect' | 'grpc-web';
  /** Use the binary Protobuf encoding instead of JSON (Connect protocol only). */
  binary?: boolean;
  fetch?: typeof globalThis.fetch;
}

/** A client for every control-plane service, authenticated with `token`. */
export function createSluiceClient(options: SluiceClientOptions): SluiceClient {
  const common = { baseUrl: options.baseUrl, interceptors: [bearerAuth(options.token)], fetch: options.fetch };
  const transport =
    options.protocol === 'grpc-web'
      ? createGrpcWebTransport(common)
      : createConnectTransport({ ...common, useBinaryFormat: options.binary ?? false });
  return clientsFor(transport);
}

/** The field violations of an `invalid_argument` error (empty for other errors). */
export function fieldViolations(err: unknown): FieldViolation[] {
  const ce = ConnectError.from(err);
  return ce.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
}

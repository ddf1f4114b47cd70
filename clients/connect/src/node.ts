/**
 * Node-only entry: the Sluice client over native gRPC (HTTP/2 cleartext),
 * served on the same port as everything else.
 */
import { createGrpcTransport } from '@connectrpc/connect-node';
import { bearerAuth, clientsFor, type SluiceClient } from './services.js';

export * from './index.js';

/** A client over native gRPC. */
export function createSluiceGrpcClient(options: { baseUrl: string; token: string }): SluiceClient {
  return clientsFor(createGrpcTransport({ baseUrl: options.baseUrl, interceptors: [bearerAuth(options.token)] }));
}

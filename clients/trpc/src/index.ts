/**
 * Typed tRPC client for the Sluice control plane. `AppRouter` is imported as a
 * type only: no server code reaches the client bundle.
 *
 *   const sluice = createSluiceTrpcClient({ baseUrl: 'http://localhost:8080', token });
 *   const { workspaces } = await sluice.workspace.listWorkspaces.query({});
 *
 * Inputs and outputs are the Protobuf JSON forms of the API messages (camelCase
 * fields, enums as their names, int64 and timestamps as strings). Errors are
 * `TRPCClientError`s whose `data.fieldViolations` names each invalid field.
 */
import { createTRPCClient, httpBatchLink, TRPCClientError, type TRPCClient } from '@trpc/client';
import type { AppRouter } from '../../../src/control/trpc/router.js';
import type { SluiceErrorData } from '../../../src/control/trpc/trpc.js';

export type { AppRouter } from '../../../src/control/trpc/router.js';
export type { SluiceErrorData } from '../../../src/control/trpc/trpc.js';

export interface SluiceTrpcClientOptions {
  /** Where Sluice listens, e.g. `http://localhost:8080` (the client adds `/trpc`). */
  baseUrl: string;
  /** Root or workspace admin token. */
  token: string;
  fetch?: typeof globalThis.fetch;
}

/** A typed client over `/trpc`, batching calls made in the same tick. */
export function createSluiceTrpcClient(options: SluiceTrpcClientOptions): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${options.baseUrl.replace(/\/$/, '')}/trpc`,
        headers: () => ({ authorization: `Bearer ${options.token}` }),
        fetch: options.fetch,
      }),
    ],
  });
}

/** The Sluice error data (kind and field violations) of a tRPC error, if any. */
export function sluiceErrorData(err: unknown): SluiceErrorData | undefined {
  if (!(err instanceof TRPCClientError)) return undefined;
  const data = err.data as Partial<SluiceErrorData> | undefined;
  return data?.kind ? { kind: data.kind, fieldViolations: data.fieldViolations ?? [] } : undefined;
}

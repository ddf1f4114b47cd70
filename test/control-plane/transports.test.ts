/**
 * The same calls over every transport the control plane serves: Connect
 * (JSON and binary), gRPC-Web, native gRPC (h2c on the same port) and tRPC,
 * through the generated client packages against a real listening server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { createSluiceClient, fieldViolations } from '@sluice/client';
import { createSluiceGrpcClient } from '@sluice/client/node';
import { WorkspaceSchema } from '@sluice/client/gen/workspace';
import { createSluiceTrpcClient, sluiceErrorData } from '@sluice/trpc-client';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

describe.each(DIALECTS)('control-plane transports on %s', (dialect) => {
  let s: RunningSluice;
  beforeAll(async () => {
    s = await startTestServer(dialect);
  });
  afterAll(async () => s?.close());

  it('returns the same workspace over Connect JSON, Connect binary, gRPC-Web, gRPC and tRPC', async () => {
    const token = s.rootToken;
    const connect = createSluiceClient({ baseUrl: s.baseUrl, token });
    const created = await connect.workspaces.createWorkspace({ workspace: { name: 'same-data', displayName: 'Same data', logRetentionDays: 7 } });
    const id = created.workspace!.id;
    const clients = {
      connectJson: connect,
      connectBinary: createSluiceClient({ baseUrl: s.baseUrl, token, binary: true }),
      grpcWeb: createSluiceClient({ baseUrl: s.baseUrl, token, protocol: 'grpc-web' }),
      grpc: createSluiceGrpcClient({ baseUrl: s.baseUrl, token }),
    };
    const expected = toJson(WorkspaceSchema, created.workspace!);
    expect(expected).toMatchObject({ id, name: 'same-data', displayName: 'Same data', logRetentionDays: 7 });
    for (const [name, client] of Object.entries(clients)) {
      const got = await client.workspaces.getWorkspace({ id });
      expect(toJson(WorkspaceSchema, got.workspace!), name).toEqual(expected);
    }
    const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token });
    const viaTrpc = await trpc.workspace.getWorkspace.query({ id });
    expect(viaTrpc.workspace).toEqual(expected);
  });

  it('rejects invalid input with the same field-level error on Connect and tRPC, writing nothing', async () => {
    const connect = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const before = (await connect.workspaces.listWorkspaces({})).workspaces.length;
    const bad = { workspace: { name: 'Not A Slug', logRetentionDays: -1 } };

    const connectErr = ConnectError.from(await connect.workspaces.createWorkspace(bad).catch((e: unknown) => e));
    expect(connectErr.code).toBe(Code.InvalidArgument);
    const violations = fieldViolations(connectErr).map((v) => ({ field: v.field, reason: v.reason, description: v.description }));
    expect(violations.map((v) => v.field)).toEqual(['workspace.name', 'workspace.log_retention_days']);

    const trpcErr = await trpc.workspace.createWorkspace.mutate(bad).catch((e: unknown) => e);
    const data = sluiceErrorData(trpcErr);
    expect((trpcErr as { data?: { code?: string } }).data?.code).toBe('BAD_REQUEST');
    expect(data?.kind).toBe('invalid_argument');
    expect(data?.fieldViolations).toEqual(violations);
    expect((trpcErr as Error).message).toBe(connectErr.rawMessage);
    expect(connectErr.rawMessage).toContain('workspace.name');

    expect((await connect.workspaces.listWorkspaces({})).workspaces.length).toBe(before);
  });

  it('rejects inputs that do not decode as the request message on tRPC, naming the field', async () => {
    const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken });
    const err = await trpc.workspace.createWorkspace.mutate({ workspace: { name: 42 } } as never).catch((e: unknown) => e);
    expect(sluiceErrorData(err)?.kind).toBe('invalid_argument');
    expect(sluiceErrorData(err)?.fieldViolations[0]?.field).toBe('name');
  });

  it('answers unauthenticated without a token or with a wrong one, on both transports', async () => {
    for (const token of ['', 'sluice-root-wrong-token-000000']) {
      const connect = createSluiceClient({ baseUrl: s.baseUrl, token });
      const err = ConnectError.from(await connect.workspaces.listWorkspaces({}).catch((e: unknown) => e));
      expect(err.code).toBe(Code.Unauthenticated);
      const trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token });
      const terr = await trpc.workspace.listWorkspaces.query({}).catch((e: unknown) => e);
      expect((terr as { data?: { code?: string } }).data?.code).toBe('UNAUTHORIZED');
    }
    const raw = await fetch(`${s.baseUrl}/sluice.v1.WorkspaceService/ListWorkspaces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(raw.status).toBe(401);
  });

  it('serves health and readiness', async () => {
    expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${s.baseUrl}/readyz`)).json()).toEqual({ status: 'ready' });
  });
});

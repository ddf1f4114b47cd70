/**
 * GatewayService.CheckExpression and EvaluateExpression (the dashboard's CEL
 * editor) over Connect and tRPC against a real server: the same problems with
 * positions, the same results, the same field errors, and a workspace token
 * may call them too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, ConnectError } from '@connectrpc/connect';
import { createSluiceClient, fieldViolations, type SluiceClient } from '@sluice/client';
import { ExpressionKind } from '@sluice/client/gen/gateway';
import { createSluiceTrpcClient, sluiceErrorData } from '@sluice/trpc-client';
import { startTestServer, type RunningSluice } from '../helpers/server.js';

const SAMPLE = {
  request: { method: 'POST', path: '/v1/chat/completions', headers: { 'X-Tier': 'free' }, query: {}, body: { messages: [{ role: 'user', content: 'hi' }] }, model: 'gpt-4o' },
  key: { id: 'key_1', name: 'ci', metadata: { team: 'search' } },
  gateway: { name: 'prod' },
  workspace: { name: 'acme' },
};

describe('CEL expression check and evaluation (sqlite)', () => {
  let s: RunningSluice;
  let connect: SluiceClient;
  let trpc: ReturnType<typeof createSluiceTrpcClient>;
  beforeAll(async () => {
    s = await startTestServer('sqlite');
    connect = createSluiceClient({ baseUrl: s.baseUrl, token: s.rootToken });
    trpc = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: s.rootToken });
  });
  afterAll(async () => s?.close());

  it('reports the same problem with its position on both transports', async () => {
    const expression = 'request.model == "a" &&\n  request.nope == 1';
    const viaConnect = await connect.gateways.checkExpression({ expression, kind: ExpressionKind.ROUTE_CONDITION });
    const viaTrpc = await trpc.gateway.checkExpression.mutate({ expression, kind: 'EXPRESSION_KIND_ROUTE_CONDITION' });
    expect(viaConnect.problem).toMatchObject({ kind: 'type', line: 2, column: 11 });
    expect(viaConnect.problem!.message).toMatch(/nope/);
    expect(viaTrpc.problem).toEqual({ kind: 'type', line: 2, column: 11, message: viaConnect.problem!.message });
  });

  it('accepts a valid expression with no problem', async () => {
    expect((await connect.gateways.checkExpression({ expression: 'request.headers["x-tier"] == "free"', kind: ExpressionKind.ROUTE_CONDITION })).problem).toBeUndefined();
    expect(await trpc.gateway.checkExpression.mutate({ expression: '"m-" + key.name', kind: 'EXPRESSION_KIND_MODEL_SELECTOR' })).toEqual({});
  });

  it('checks the result type of each kind', async () => {
    const asCondition = await connect.gateways.checkExpression({ expression: 'request.model', kind: ExpressionKind.ROUTE_CONDITION });
    expect(asCondition.problem?.kind).toBe('type');
    const asSelector = await connect.gateways.checkExpression({ expression: 'request.model', kind: ExpressionKind.MODEL_SELECTOR });
    expect(asSelector.problem).toBeUndefined();
    const requestInMcp = await connect.gateways.checkExpression({ expression: 'request.model == "x"', kind: ExpressionKind.MCP_AUTHORIZATION });
    expect(requestInMcp.problem?.kind).toBe('unknown_variable');
    const toolInMcp = await connect.gateways.checkExpression({ expression: 'tool.name == "read"', kind: ExpressionKind.MCP_AUTHORIZATION });
    expect(toolInMcp.problem).toBeUndefined();
  });

  it('evaluates against the sample on both transports, lowercasing header names', async () => {
    const expression = 'request.headers["x-tier"] == "free" && key.metadata.team == "search" && size(request.body.messages) == 1';
    const viaConnect = await connect.gateways.evaluateExpression({ expression, kind: ExpressionKind.ROUTE_CONDITION, context: SAMPLE });
    expect(viaConnect.result?.kind).toEqual({ case: 'boolValue', value: true });
    const viaTrpc = await trpc.gateway.evaluateExpression.mutate({ expression, kind: 'EXPRESSION_KIND_ROUTE_CONDITION', context: SAMPLE });
    expect(viaTrpc).toEqual({ result: true });
    const selector = await trpc.gateway.evaluateExpression.mutate({
      expression: 'request.headers["x-tier"] == "free" ? "mock/small" : request.model',
      kind: 'EXPRESSION_KIND_MODEL_SELECTOR',
      context: { ...SAMPLE, request: { ...SAMPLE.request, headers: {} } },
    });
    expect(selector).toEqual({ error: expect.stringMatching(/x-tier/) });
    const key = await trpc.gateway.evaluateExpression.mutate({ expression: 'key.metadata.team', kind: 'EXPRESSION_KIND_LIMIT_KEY', context: SAMPLE });
    expect(key).toEqual({ result: 'search' });
  });

  it('returns a rejected expression as a problem and does not evaluate it', async () => {
    const out = await trpc.gateway.evaluateExpression.mutate({ expression: 'request.model ==', kind: 'EXPRESSION_KIND_ROUTE_CONDITION', context: SAMPLE });
    expect(out.problem?.kind).toBe('syntax');
    expect(out.result).toBeUndefined();
  });

  it('names bad fields as invalid_argument on Connect and tRPC', async () => {
    const request = { expression: '', kind: ExpressionKind.UNSPECIFIED, context: { request: { headers: { a: 1 } }, nope: {} } };
    const err = await connect.gateways.evaluateExpression(request).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    const fields = fieldViolations(err!).map((v) => v.field).sort();
    expect(fields).toEqual(['context.nope', 'context.request.headers.a', 'expression', 'kind']);

    const trpcErr = await trpc.gateway.evaluateExpression.mutate({ expression: '', context: { request: { headers: { a: 1 } }, nope: {} } }).catch((e: unknown) => e);
    const data = sluiceErrorData(trpcErr);
    expect(data?.kind).toBe('invalid_argument');
    expect(data!.fieldViolations.map((v) => v.field).sort()).toEqual(fields);
  });

  it('needs a token and accepts a workspace token', async () => {
    const anonymous = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: 'not-a-token' });
    const refused = await anonymous.gateway.checkExpression.mutate({ expression: 'true', kind: 'EXPRESSION_KIND_ROUTE_CONDITION' }).catch((e: unknown) => e);
    expect(sluiceErrorData(refused)?.kind).toBe('unauthenticated');

    const ws = (await connect.workspaces.createWorkspace({ workspace: { name: 'cel-editor' } })).workspace!;
    const { secret } = await connect.workspaces.createWorkspaceToken({ workspaceId: ws.id, name: 'ui' });
    const scoped = createSluiceTrpcClient({ baseUrl: s.baseUrl, token: secret });
    expect(await scoped.gateway.checkExpression.mutate({ expression: 'true', kind: 'EXPRESSION_KIND_ROUTE_CONDITION' })).toEqual({});
  });
});

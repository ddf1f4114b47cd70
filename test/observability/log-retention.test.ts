/**
 * Retention on SQLite and PostgreSQL: request and MCP call logs older than
 * their workspace's `log_retention_days` (0: the server default) are deleted
 * in batches; rows of workspaces that no longer exist and of unauthenticated
 * requests (workspace '') follow the server default; nothing younger goes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { McpCallLogEntity, RequestLogEntity, WorkspaceEntity } from '../../src/db/entities.js';
import { createDbLogWriter, retentionCutoffs, RetentionPruner, type LogEntry } from '../../src/observability/logs/index.js';
import { createTestDeps, DIALECTS, type TestDeps } from '../helpers/database.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 15, 12);

function request(id: string, workspaceId: string, ageDays: number): LogEntry {
  return {
    t: 'request',
    r: {
      id, time: NOW - ageDays * DAY, workspaceId, gateway: 'g', apiKeyId: '', apiKeyPrefix: '', endpoint: 'chat_completions', requestedModel: 'm', provider: '', model: '', route: '',
      celResults: {}, attempts: [], status: 200, errorCode: '', errorMessage: '', rejectedStage: '', latencyMs: 0, ttftMs: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0,
      reasoningTokens: 0, cacheWriteTokens: 0, costNanos: '0', rateLimits: [], spendLimits: [], conversationId: '', streamed: false, clientAborted: false, bodiesTruncated: false,
      requestHeaders: null, responseHeaders: null, requestBody: null, responseBody: null, searchText: null,
    },
  };
}

function call(id: string, workspaceId: string, ageDays: number): LogEntry {
  return { t: 'mcp', r: { id, time: NOW - ageDays * DAY, workspaceId, gateway: 'g', apiKeyId: '', server: 's', tool: 't', latencyMs: 1, status: 'ok', errorMessage: '', input: null, output: null, parentId: '' } };
}

describe.each(DIALECTS)('log retention on %s', (dialect) => {
  let t: TestDeps;
  beforeEach(async () => {
    t = await createTestDeps(dialect);
    const em = t.orm.em.fork();
    em.create(WorkspaceEntity, { id: 'ws_short', name: 'short', logRetentionDays: 3 });
    em.create(WorkspaceEntity, { id: 'ws_default', name: 'default', logRetentionDays: 0 });
    await em.flush();
  });
  afterEach(async () => t.close());

  it('prunes by workspace setting and server default, in batches, leaving younger rows', async () => {
    const entries: LogEntry[] = [];
    // 30 rows per workspace, one per day of age 0..29, in both tables.
    for (const ws of ['ws_short', 'ws_default', 'ws_gone', '']) {
      for (let age = 0; age < 30; age++) {
        entries.push(request(`req_${ws || 'none'}_${age}`, ws, age + 0.5));
        entries.push(call(`mcp_${ws || 'none'}_${age}`, ws, age + 0.5));
      }
    }
    await createDbLogWriter(t.orm).write(entries);

    const cutoffs = await retentionCutoffs(t.orm, 10, NOW);
    expect(cutoffs.byWorkspace.get('ws_short')!.getTime()).toBe(NOW - 3 * DAY);
    expect(cutoffs.byWorkspace.get('ws_default')!.getTime()).toBe(NOW - 10 * DAY);
    expect(cutoffs.others.getTime()).toBe(NOW - 10 * DAY);

    const pruner = new RetentionPruner({ orm: t.orm, defaultDays: 10, now: () => NOW, batchSize: 7, pauseMs: 0 });
    const result = await pruner.runOnce();
    // Ages 0.5 … 29.5 days: 3 days keeps 3 rows, 10 days keeps 10.
    expect(result).toEqual({ requestLogs: 27 + 20 + 20 + 20, mcpCallLogs: 27 + 20 + 20 + 20 });
    const left = async (entity: typeof RequestLogEntity | typeof McpCallLogEntity, workspaceId: string) =>
      t.orm.em.fork().count(entity as typeof RequestLogEntity, { workspaceId });
    for (const entity of [RequestLogEntity, McpCallLogEntity]) {
      expect(await left(entity, 'ws_short')).toBe(3);
      expect(await left(entity, 'ws_default')).toBe(10);
      expect(await left(entity, 'ws_gone')).toBe(10);
      expect(await left(entity, '')).toBe(10);
    }
    // The youngest rows are the ones kept.
    const kept = await t.orm.em.fork().find(RequestLogEntity, { workspaceId: 'ws_short' }, { orderBy: { time: 'desc' } });
    expect(kept.map((r) => r.id)).toEqual(['req_ws_short_0', 'req_ws_short_1', 'req_ws_short_2']);
    // A second run finds nothing more.
    expect(await pruner.runOnce()).toEqual({ requestLogs: 0, mcpCallLogs: 0 });
  });

  it('runs in the background once started, and stops', async () => {
    await createDbLogWriter(t.orm).write([request('req_old', 'ws_short', 5), request('req_new', 'ws_short', 1)]);
    const pruner = new RetentionPruner({ orm: t.orm, defaultDays: 10, now: () => NOW, firstRunMs: 10, intervalMs: 50, pauseMs: 0 });
    pruner.start();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await t.orm.em.fork().count(RequestLogEntity, {})) > 1) await new Promise((r) => setTimeout(r, 20));
    await pruner.stop();
    expect((await t.orm.em.fork().find(RequestLogEntity, {})).map((r) => r.id)).toEqual(['req_new']);
  });
});

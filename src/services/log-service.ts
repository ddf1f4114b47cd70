/**
 * LogService: the request log and the MCP call log, written by the log
 * pipeline (src/observability/logs), searched here.
 *
 * - Lists are newest first (time, then id, descending) with keyset page
 *   tokens, so a page stays stable while new records arrive. List pages leave
 *   out the recorded headers and bodies; `GetRequestLog` returns everything.
 * - Every filter is exact except `text` (case-insensitive substring of the
 *   prompt and completion text of recorded requests) and `model` (the served
 *   model as `provider/model` or its upstream id, or the requested model).
 * - `header` is `name=value`, matched exactly against the recorded request
 *   headers (name case-insensitive; redacted headers never match a value).
 * - Workspace tokens see their own workspace. Root must name one, or `-` for
 *   every workspace, which includes requests rejected before a key was known
 *   (they belong to no workspace).
 */
import { fromJson, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, ValueSchema, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { EntityManager as SqlEntityManager } from '@mikro-orm/postgresql';
import { McpCallLogEntity, RequestLogEntity, type McpCallLogRow, type RequestLogRow } from '../db/entities.js';
import { dialectOf } from '../db/orm.js';
import { SluiceError } from '../errors.js';
import {
  StatusClass,
  type LogService,
  type McpCallLogSchema,
  type RequestLogSchema,
} from '../gen/sluice/v1/log_pb.js';
import { resolveWorkspaceId, visibleOr404, type CallContext } from './context.js';
import { decodeCursor, encodeCursor, pageSize } from './pagination.js';
import type { DomainService } from './service-kit.js';
import { read, ts, type ServiceDeps } from './store.js';
import { Violations } from './validation.js';

/** Root's `workspace_id` for every workspace. */
export const ALL_WORKSPACES = '-';

const MAX_FILTER_LENGTH = 1000;

/** Columns of a list page: everything but the recorded headers, bodies and search text. */
const LIST_FIELDS = [
  'id', 'time', 'workspaceId', 'gateway', 'apiKeyId', 'apiKeyPrefix', 'endpoint', 'requestedModel', 'provider', 'model', 'route', 'celResults', 'attempts',
  'status', 'errorCode', 'errorMessage', 'rejectedStage', 'latencyMs', 'ttftMs', 'promptTokens', 'completionTokens', 'cachedTokens', 'reasoningTokens',
  'cacheWriteTokens', 'costNanos', 'rateLimits', 'spendLimits', 'conversationId', 'streamed', 'clientAborted', 'bodiesTruncated',
] as const;

function parseJsonText(text: string | null | undefined): MessageInitShape<typeof ValueSchema> | undefined {
  if (text === null || text === undefined) return undefined;
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    // A body cut at the recording limit is returned as the text it starts with.
    value = text;
  }
  return fromJson(ValueSchema, value);
}

function headerMap(text: string | null | undefined): Record<string, string> {
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, string>;
  } catch {
    return {};
  }
}

function toRequestLog(row: RequestLogRow, full: boolean): MessageInitShape<typeof RequestLogSchema> {
  const limit = (o: RequestLogRow['rateLimits'][number]) => ({ name: o.name, outcome: o.outcome, key: o.key, remaining: BigInt(o.remaining) });
  return {
    id: row.id,
    time: ts(row.time),
    workspaceId: row.workspaceId,
    gateway: row.gateway,
    apiKeyId: row.apiKeyId,
    apiKeyPrefix: row.apiKeyPrefix,
    endpoint: row.endpoint,
    requestedModel: row.requestedModel,
    model: row.model,
    provider: row.provider,
    route: row.route,
    celResults: { ...row.celResults },
    attempts: row.attempts.map((a) => ({
      provider: a.provider,
      model: a.model,
      status: a.status,
      errorCode: a.errorCode ?? '',
      fallbackReason: a.fallbackReason ?? '',
      latencyMs: BigInt(a.latencyMs),
    })),
    status: row.status,
    errorCode: row.errorCode,
    errorMessage: row.errorMessage,
    rejectedStage: row.rejectedStage,
    latencyMs: BigInt(row.latencyMs),
    timeToFirstTokenMs: BigInt(row.ttftMs),
    usage: {
      promptTokens: BigInt(row.promptTokens),
      completionTokens: BigInt(row.completionTokens),
      cachedTokens: BigInt(row.cachedTokens),
      reasoningTokens: BigInt(row.reasoningTokens),
      cacheWriteTokens: BigInt(row.cacheWriteTokens),
    },
    costNanos: BigInt(row.costNanos),
    rateLimits: row.rateLimits.map(limit),
    spendLimits: row.spendLimits.map(limit),
    conversationId: row.conversationId,
    streamed: row.streamed,
    clientAborted: row.clientAborted,
    bodiesTruncated: row.bodiesTruncated,
    ...(full
      ? {
          requestHeaders: headerMap(row.requestHeaders),
          responseHeaders: headerMap(row.responseHeaders),
          requestBody: parseJsonText(row.requestBody),
          responseBody: parseJsonText(row.responseBody),
        }
      : {}),
  };
}

function toMcpCallLog(row: McpCallLogRow): MessageInitShape<typeof McpCallLogSchema> {
  return {
    id: row.id,
    time: ts(row.time),
    workspaceId: row.workspaceId,
    gateway: row.gateway,
    apiKeyId: row.apiKeyId,
    server: row.server,
    tool: row.tool,
    latencyMs: BigInt(row.latencyMs),
    status: row.status,
    errorMessage: row.errorMessage,
    input: parseJsonText(row.input),
    output: parseJsonText(row.output),
    parentId: row.parentId,
  };
}

/** The workspace condition of a list: one workspace, or none for root's `-`. */
function workspaceFilter(call: CallContext, requested: string): Record<string, unknown> {
  if (requested === ALL_WORKSPACES && call.principal.kind === 'root') return {};
  return { workspaceId: resolveWorkspaceId(call, requested, 'workspace_id') };
}

/** `time` conditions for the range [start, end). */
function timeRange(v: Violations, start: Timestamp | undefined, end: Timestamp | undefined): Record<string, unknown> {
  const s = start ? timestampDate(start) : undefined;
  const e = end ? timestampDate(end) : undefined;
  if (s && e && s.getTime() >= e.getTime()) v.add('end_time', 'must be after start_time', 'OUT_OF_RANGE');
  const range: Record<string, Date> = {};
  if (s) range.$gte = s;
  if (e) range.$lt = e;
  return s || e ? { time: range } : {};
}

function checkLength(v: Violations, field: string, value: string): void {
  if (value.length > MAX_FILTER_LENGTH) v.add(field, `at most ${MAX_FILTER_LENGTH} characters`, 'TOO_LONG');
}

/** Keyset page tokens: `after` is `<epoch ms>:<id>` of the last row of the previous page. */
function keyset(token: string, method: string): Record<string, unknown> {
  const cursor = decodeCursor(token, method);
  if (!cursor) return {};
  const m = /^(\d+):(.+)$/.exec(cursor.after ?? '');
  if (!m) throw SluiceError.invalid([{ field: 'page_token', description: 'is not a page token of this list', reason: 'INVALID_FORMAT' }]);
  const t = new Date(Number(m[1]));
  return { $or: [{ time: { $lt: t } }, { time: t, id: { $lt: m[2] } }] };
}

function nextToken<T extends { time: Date; id: string }>(rows: T[], size: number, method: string): { page: T[]; nextPageToken: string } {
  const page = rows.slice(0, size);
  const last = page.at(-1);
  return { page, nextPageToken: rows.length > size && last ? encodeCursor({ m: method, after: `${last.time.getTime()}:${last.id}` }) : '' };
}

export function createLogService(deps: ServiceDeps): DomainService<typeof LogService> {
  const postgres = dialectOf(deps.orm) === 'postgresql';
  // Exact substring tests without LIKE wildcards, on either dialect.
  const contains = (column: string, caseInsensitive: boolean) =>
    postgres
      ? caseInsensitive ? `strpos(lower(${column}), lower(?)) > 0` : `strpos(${column}, ?) > 0`
      : caseInsensitive ? `instr(lower(${column}), lower(?)) > 0` : `instr(${column}, ?) > 0`;

  return {
    async listRequestLogs(req, call) {
      const where: Record<string, unknown>[] = [workspaceFilter(call, req.workspaceId)];
      const size = pageSize(req.pageSize);
      const v = new Violations();
      where.push(timeRange(v, req.startTime, req.endTime));
      for (const [field, value] of [
        ['gateway', req.gateway],
        ['model', req.model],
        ['provider', req.provider],
        ['api_key_id', req.apiKeyId],
        ['error_code', req.errorCode],
        ['route', req.route],
        ['header', req.header],
        ['text', req.text],
        ['conversation_id', req.conversationId],
      ] as const) checkLength(v, field, value);
      if (req.statusClass !== StatusClass.STATUS_CLASS_UNSPECIFIED && !(req.statusClass in StatusClass)) v.add('status_class', 'unknown status class', 'INVALID_ENUM');
      let header: { name: string; value: string } | undefined;
      if (req.header) {
        const at = req.header.indexOf('=');
        if (at <= 0) v.add('header', 'must be name=value', 'INVALID_FORMAT');
        else header = { name: req.header.slice(0, at).trim().toLowerCase(), value: req.header.slice(at + 1) };
      }
      v.throwIfAny();
      where.push(keyset(req.pageToken, 'ListRequestLogs'));
      if (req.gateway) where.push({ gateway: req.gateway });
      if (req.provider) where.push({ provider: req.provider });
      if (req.apiKeyId) where.push({ apiKeyId: req.apiKeyId });
      if (req.errorCode) where.push({ errorCode: req.errorCode });
      if (req.route) where.push({ route: req.route });
      if (req.conversationId) where.push({ conversationId: req.conversationId });
      if (req.model) {
        const slash = req.model.indexOf('/');
        const either: Record<string, unknown>[] = [{ model: req.model }, { requestedModel: req.model }];
        if (slash > 0) either.push({ provider: req.model.slice(0, slash), model: req.model.slice(slash + 1) });
        where.push({ $or: either });
      }
      if (req.statusClass !== StatusClass.STATUS_CLASS_UNSPECIFIED) {
        const base = req.statusClass * 100;
        where.push({ status: { $gte: base, $lt: base + 100 } });
      }
      return read(deps, async (em) => {
        const qb = (em as unknown as SqlEntityManager)
          .createQueryBuilder(RequestLogEntity, 'r')
          .select([...LIST_FIELDS])
          .where({ $and: where } as never);
        if (header) qb.andWhere(contains('r.request_headers', false), [`${JSON.stringify(header.name)}:${JSON.stringify(header.value)}`]);
        if (req.text) qb.andWhere(contains('r.search_text', true), [req.text]);
        const rows = (await qb.orderBy({ time: 'desc', id: 'desc' }).limit(size + 1).getResultList()) as RequestLogRow[];
        const { page, nextPageToken } = nextToken(rows, size, 'ListRequestLogs');
        return { requestLogs: page.map((r) => toRequestLog(r, false)), nextPageToken };
      });
    },

    async getRequestLog(req, call) {
      if (!req.id) throw SluiceError.invalid([{ field: 'id', description: 'required', reason: 'REQUIRED' }]);
      if (req.id.length > 40) throw SluiceError.notFound('request log', req.id);
      return read(deps, async (em) => {
        const row = visibleOr404(call, await em.findOne(RequestLogEntity, { id: req.id }), 'request log', req.id);
        return { requestLog: toRequestLog(row, true) };
      });
    },

    async listMcpCallLogs(req, call) {
      const where: Record<string, unknown>[] = [workspaceFilter(call, req.workspaceId)];
      const size = pageSize(req.pageSize);
      const v = new Violations();
      where.push(timeRange(v, req.startTime, req.endTime));
      for (const [field, value] of [
        ['gateway', req.gateway],
        ['server', req.server],
        ['tool', req.tool],
        ['status', req.status],
        ['api_key_id', req.apiKeyId],
      ] as const) checkLength(v, field, value);
      if (req.status && !['ok', 'error', 'refused', 'timeout'].includes(req.status)) v.add('status', 'one of ok, error, refused, timeout', 'INVALID_ENUM');
      v.throwIfAny();
      where.push(keyset(req.pageToken, 'ListMcpCallLogs'));
      if (req.gateway) where.push({ gateway: req.gateway });
      if (req.server) where.push({ server: req.server });
      if (req.tool) where.push({ tool: req.tool });
      if (req.status) where.push({ status: req.status });
      if (req.apiKeyId) where.push({ apiKeyId: req.apiKeyId });
      return read(deps, async (em) => {
        const rows = await em.find(McpCallLogEntity, { $and: where } as never, { orderBy: { time: 'desc', id: 'desc' }, limit: size + 1 });
        const { page, nextPageToken } = nextToken(rows, size, 'ListMcpCallLogs');
        return { mcpCallLogs: page.map(toMcpCallLog), nextPageToken };
      });
    },
  };
}

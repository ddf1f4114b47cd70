/**
 * The aggregated MCP server of one gateway, as one caller sees it: lists fan
 * out to every visible upstream in parallel, each bounded by its own timeout,
 * and are merged in a stable order (servers by name, then the upstream's own
 * order). Calls are routed to the owning server.
 *
 * - Tools and prompts are renamed `<server>__<name>` (see naming.ts); blocked
 *   tools are left out and refused.
 * - Resources and resource templates keep their URIs, so links inside tool
 *   results and prompts stay valid. A read goes to the server that produced
 *   the URI in this session's results, else the first server (in order)
 *   listing it, else the first whose template matches it.
 * - An upstream that fails or times out drops out of a list; the list's
 *   `_meta["sluice/upstream-errors"]` says which and why, and
 *   `_meta["sluice/skipped"]` names items that could not be exposed.
 */
import {
  CallToolResultSchema,
  CompleteResultSchema,
  GetPromptResultSchema,
  ReadResourceResultSchema,
  type CallToolRequest,
  type CallToolResult,
  type CompleteRequest,
  type CompleteResult,
  type ContentBlock,
  type GetPromptRequest,
  type GetPromptResult,
  type ListPromptsResult,
  type ListResourcesResult,
  type ListResourceTemplatesResult,
  type ListToolsResult,
  type Progress,
  type Prompt,
  type ReadResourceRequest,
  type ReadResourceResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { SluiceError } from '../errors.js';
import { isDeferred, type GatewayMcp, type UpstreamServer } from './config.js';
import { RpcCode, rpcError, RpcError } from './errors.js';
import { jsonResult, ORCHESTRATOR, ORCHESTRATOR_TOOL, orchestratorArgs, SEARCH_TOOLS, SEARCH_TOOLS_TOOL, searchArgs, toolError } from './gateway-tools.js';
import { GATEWAY_SERVER, type Governor, type McpIdentity } from './governance.js';
import { ToolCallError, type Sandbox } from './orchestrator/sandbox.js';
import type { IndexedTool, ToolIndexCache } from './search.js';
import { mayBelongTo, exposedName } from './naming.js';
import type { McpLogger, RetryPolicy, UpstreamPool } from './pool.js';
import type { ListKind, UpstreamLists, UpstreamSession } from './upstream.js';

/** `_meta` key of a list: upstreams whose items are missing, and why. */
export const META_UPSTREAM_ERRORS = 'sluice/upstream-errors';
/** `_meta` key of a list: upstream items that could not be exposed. */
export const META_SKIPPED = 'sluice/skipped';
/** `_meta` key on each aggregated tool and prompt: the owning server. */
export const META_SERVER = 'sluice/server';
/** `_meta` key on each aggregated tool and prompt: its name on the upstream. */
export const META_UPSTREAM_NAME = 'sluice/upstream-name';

/** Lists are refreshed at most this often when a name or URI is not found in them. */
const MISS_REFRESH_MS = 1000;
/** Resource URIs remembered per client session. */
const MAX_SEEN_URIS = 1000;

/** An upstream missing from a list. */
export interface UpstreamProblem {
  server: string;
  code: string;
  message: string;
}

/** An upstream item left out of a list. */
export interface SkippedItem {
  server: string;
  name: string;
  reason: 'invalid_name' | 'duplicate_name' | 'duplicate_uri';
}

/**
 * Resource URIs that appeared in a client session's tool results and prompts,
 * with the id of the server they came from; bounded, oldest forgotten first.
 */
export class SeenUris {
  private readonly owners = new Map<string, string>();

  note(uri: string, serverId: string): void {
    this.owners.delete(uri);
    this.owners.set(uri, serverId);
    if (this.owners.size > MAX_SEEN_URIS) this.owners.delete(this.owners.keys().next().value as string);
  }

  ownerOf(uri: string): string | undefined {
    return this.owners.get(uri);
  }
}

/** Who is calling, on which gateway. */
export interface Caller {
  gateway: GatewayMcp;
  /** The caller's credential, sent upstream to servers with `forward` auth. */
  token: string;
  seenUris: SeenUris;
  /** The key and gateway as the runtime snapshot has them (authorization, rate limits, records). */
  identity: McpIdentity;
  /** The session's `x-sluice-mcp-deferred` choice, when the client sent one: overrides the gateway default. */
  deferred?: boolean;
}

/** Process-wide services the gateway view uses. */
export interface ViewServices {
  governor: Governor;
  sandbox: Sandbox;
  search: ToolIndexCache;
}

/** A request's cancellation and its progress sink. */
export interface CallOptions {
  signal: AbortSignal;
  /** Receives upstream progress when the client asked for it (`_meta.progressToken`). */
  progress?: (progress: Progress) => void;
}

type Listed<K extends ListKind> = { server: UpstreamServer; items: UpstreamLists[K] };
type Collected<K extends ListKind> = { lists: Listed<K>[]; failures: Map<string, SluiceError | RpcError> };

function listMeta(problems: UpstreamProblem[], skipped: SkippedItem[]): { _meta?: Record<string, unknown> } {
  if (!problems.length && !skipped.length) return {};
  return { _meta: { ...(problems.length ? { [META_UPSTREAM_ERRORS]: problems } : {}), ...(skipped.length ? { [META_SKIPPED]: skipped } : {}) } };
}

/** The machine code of an upstream failure, as lists report it in `_meta["sluice/upstream-errors"]`. */
export function codeOf(err: SluiceError | RpcError): string {
  if (err instanceof SluiceError) return err.details.code ?? err.kind;
  const data = err.data as { code?: unknown } | undefined;
  return typeof data?.code === 'string' ? data.code : `rpc_${err.code}`;
}

function withoutProgressToken(meta: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!meta) return undefined;
  const rest = Object.fromEntries(Object.entries(meta).filter(([k]) => k !== 'progressToken'));
  return Object.keys(rest).length ? rest : undefined;
}

function templateMatches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    // An upstream's malformed template matches nothing.
    return false;
  }
}

/** A gateway's aggregated server for one caller. Cheap: build one per request. */
export class GatewayView {
  constructor(
    private readonly pool: UpstreamPool,
    private readonly caller: Caller,
    private readonly logger: McpLogger,
    private readonly services: ViewServices,
  ) {}

  private get servers(): readonly UpstreamServer[] {
    return this.caller.gateway.servers;
  }

  /**
   * Whether `server`'s tools are left out of `tools/list` (found with
   * search_tools instead): its own `enabled`/`disabled` setting, else the
   * client's header, else the gateway default.
   */
  isDeferred(server: UpstreamServer): boolean {
    return isDeferred(server.deferLoading, this.caller.deferred ?? this.caller.gateway.deferLoading);
  }

  /** Whether the session offers search_tools and orchestrator: some server is deferred. */
  get deferring(): boolean {
    return this.servers.some((s) => this.isDeferred(s));
  }

  /** Whether the caller may see and call `tool` of `server`: not blocked, and allowed by the authorization rule. */
  private visible(server: UpstreamServer, tool: string): boolean {
    return !this.caller.gateway.isBlocked(server, tool) && this.services.governor.allows(this.caller.gateway, this.caller.identity, server.name, tool);
  }

  /** Every tool the caller may call (deferred servers included), as exposed, with the upstream lists they came from. */
  private async visibleTools(servers: readonly UpstreamServer[], signal: AbortSignal): Promise<{ entries: IndexedTool[]; lists: object[]; skipped: SkippedItem[]; collected: Collected<'tools'> }> {
    const collected = await this.collect('tools', servers, signal);
    const entries: IndexedTool[] = [];
    const skipped: SkippedItem[] = [];
    const names = new Set<string>();
    for (const { server, items } of collected.lists) {
      for (const tool of items) {
        if (!this.visible(server, tool.name)) continue;
        const name = this.uniqueName(server, tool.name, names, skipped);
        if (name) entries.push({ server: server.name, tool: { ...tool, name, _meta: { ...tool._meta, [META_SERVER]: server.name, [META_UPSTREAM_NAME]: tool.name } } });
      }
    }
    return { entries, lists: collected.lists.map((l) => l.items), skipped, collected };
  }

  /**
   * `tools/list`: every visible tool of the servers that are not deferred;
   * with any server deferred, search_tools and orchestrator first.
   */
  async listTools(signal: AbortSignal): Promise<ListToolsResult> {
    const loaded = this.servers.filter((s) => !this.isDeferred(s));
    const { entries, skipped, collected } = await this.visibleTools(loaded, signal);
    const own = this.deferring ? this.gatewayTools() : [];
    if (own.some((t) => t.name === ORCHESTRATOR)) this.services.sandbox.warm();
    return { tools: [...own, ...entries.map((e) => e.tool)], ...listMeta(this.problems(collected), skipped) };
  }

  /** The gateway tools the authorization rule lets this caller see. */
  private gatewayTools(): Tool[] {
    return [SEARCH_TOOLS_TOOL, ORCHESTRATOR_TOOL].filter((t) => this.services.governor.allows(this.caller.gateway, this.caller.identity, GATEWAY_SERVER, t.name));
  }

  /** `tools/call`: a gateway tool, or an upstream tool routed to its server; governed and recorded either way. */
  async callTool(params: CallToolRequest['params'], options: CallOptions): Promise<CallToolResult> {
    const { governor } = this.services;
    if ((params.name === SEARCH_TOOLS || params.name === ORCHESTRATOR) && this.deferring) {
      const call = { server: GATEWAY_SERVER, tool: params.name, input: params.arguments ?? {} };
      return governor.run(this.caller.gateway, this.caller.identity, call, (id) =>
        params.name === SEARCH_TOOLS ? this.searchTools(params.arguments, options.signal) : this.orchestrate(params.arguments, options.signal, id),
      );
    }
    return this.callUpstream(params.name, params.arguments, withoutProgressToken(params._meta), options);
  }

  /** One upstream tool call under the gateway's rules; `parentId` marks calls an orchestrator makes. */
  private async callUpstream(name: string, args: Record<string, unknown> | undefined, meta: Record<string, unknown> | undefined, options: CallOptions, parentId?: string): Promise<CallToolResult> {
    const { governor } = this.services;
    const attempt = { server: name.includes('__') ? name.slice(0, name.indexOf('__')) : '', tool: name, input: args ?? {}, ...(parentId ? { parentId } : {}) };
    let found;
    try {
      found = await this.resolve('tools', name, options.signal, (server, tool) => !this.caller.gateway.isBlocked(server, tool.name));
      if (!found.allowed) throw rpcError(RpcCode.forbidden, 'permission_denied', `tool "${name}" is blocked on this gateway`, { code: 'tool_blocked', tool: name });
    } catch (err) {
      governor.recordFailure(this.caller.identity, found ? { ...attempt, server: found.server.name, tool: found.item.name } : attempt, err);
      throw err;
    }
    const { server, item: tool } = found;
    const request = { method: 'tools/call' as const, params: { name: tool.name, ...(args ? { arguments: args } : {}), ...(meta ? { _meta: meta } : {}) } };
    return governor.run(this.caller.gateway, this.caller.identity, { ...attempt, server: server.name, tool: tool.name }, async () => {
      const result = await this.onServer(server, options.signal, 'session_lost', (session, signal) =>
        session.request(request, CallToolResultSchema, `tools/call "${tool.name}"`, { signal, ...(options.progress ? { onprogress: options.progress } : {}) }),
      );
      this.noteUris(server, result.content);
      return result;
    });
  }

  /** `search_tools`: ranked definitions from every visible tool; the index is rebuilt only when a list changed. */
  private async searchTools(raw: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallToolResult> {
    const args = searchArgs(raw);
    if (typeof args === 'string') return toolError(`search_tools: ${args}`, 'invalid_arguments');
    const { entries, lists } = await this.visibleTools(this.servers, signal);
    // What a key sees depends on the key only when an authorization rule exists.
    const cacheId = `${this.caller.gateway.gatewayId}|${this.caller.gateway.fingerprint}|${this.caller.gateway.authorization ? this.caller.identity.key.id : ''}`;
    const index = this.services.search.get(cacheId, lists, () => entries);
    let hits;
    try {
      hits = args.mode === 'regex' ? index.regex(args.query, args) : index.query(args.query, args);
    } catch (err) {
      return toolError(`search_tools: ${err instanceof Error ? err.message : String(err)}`, 'invalid_pattern');
    }
    const tools = hits.map(({ tool, server, score }) => ({
      name: tool.name,
      server,
      score,
      ...(tool.title ? { title: tool.title } : {}),
      ...(tool.description ? { description: tool.description } : {}),
      inputSchema: tool.inputSchema,
      ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
      ...(tool.annotations ? { annotations: tool.annotations } : {}),
    }));
    return jsonResult({ tools });
  }

  /** `orchestrator`: runs the workflow in the sandbox; its tool calls go through `callUpstream`. */
  private async orchestrate(raw: Record<string, unknown> | undefined, signal: AbortSignal, recordId: string): Promise<CallToolResult> {
    const args = orchestratorArgs(raw);
    if (typeof args === 'string') return toolError(`orchestrator: ${args}`, 'invalid_arguments');
    const { entries } = await this.visibleTools(this.servers, signal);
    const outcome = await this.services.sandbox.run({
      source: args.workflow,
      context: args.context,
      tools: entries.map((e) => e.tool.name),
      signal,
      call: async (tool, toolArgs, callSignal) => {
        try {
          return await this.callUpstream(tool, toolArgs, undefined, { signal: AbortSignal.any([signal, callSignal]) }, recordId);
        } catch (err) {
          const data = err instanceof RpcError ? (err.data as { code?: unknown } | undefined) : undefined;
          const code = typeof data?.code === 'string' ? data.code : err instanceof SluiceError ? (err.details.code ?? err.kind) : 'tool_failed';
          throw new ToolCallError(err instanceof Error ? err.message : 'tool call failed', code);
        }
      },
    });
    if (outcome.ok) return { ...jsonResult(JSON.parse(outcome.json), outcome.json), _meta: { 'sluice/tool-calls': outcome.toolCalls, 'sluice/ms': outcome.ms } };
    return toolError(`orchestrator: ${outcome.code}: ${outcome.message}`, outcome.code);
  }

  /** `prompts/list`. */
  async listPrompts(signal: AbortSignal): Promise<ListPromptsResult> {
    const collected = await this.collect('prompts', this.servers, signal);
    const prompts: Prompt[] = [];
    const skipped: SkippedItem[] = [];
    const names = new Set<string>();
    for (const { server, items } of collected.lists) {
      for (const prompt of items) {
        const name = this.uniqueName(server, prompt.name, names, skipped);
        if (name) prompts.push({ ...prompt, name, _meta: { ...prompt._meta, [META_SERVER]: server.name, [META_UPSTREAM_NAME]: prompt.name } });
      }
    }
    return { prompts, ...listMeta(this.problems(collected), skipped) };
  }

  /** `prompts/get`, routed to the owning server. */
  async getPrompt(params: GetPromptRequest['params'], options: CallOptions): Promise<GetPromptResult> {
    const { server, item: prompt } = await this.resolve('prompts', params.name, options.signal, () => true);
    const meta = withoutProgressToken(params._meta);
    const request = { method: 'prompts/get' as const, params: { name: prompt.name, ...(params.arguments ? { arguments: params.arguments } : {}), ...(meta ? { _meta: meta } : {}) } };
    const result = await this.onServer(server, options.signal, 'connection', (session, signal) => session.request(request, GetPromptResultSchema, `prompts/get "${prompt.name}"`, { signal }));
    this.noteUris(
      server,
      result.messages.map((m) => m.content),
    );
    return result;
  }

  /** `resources/list`: URIs unchanged; a URI listed by two servers belongs to the first. */
  async listResources(signal: AbortSignal): Promise<ListResourcesResult> {
    const collected = await this.collect('resources', this.servers, signal);
    const seen = new Set<string>();
    const skipped: SkippedItem[] = [];
    const resources = collected.lists.flatMap(({ server, items }) =>
      items.filter((r) => {
        if (!seen.has(r.uri)) return seen.add(r.uri);
        skipped.push({ server: server.name, name: r.uri, reason: 'duplicate_uri' });
        return false;
      }),
    );
    return { resources, ...listMeta(this.problems(collected), skipped) };
  }

  /** `resources/templates/list`: templates unchanged, first server wins on duplicates. */
  async listResourceTemplates(signal: AbortSignal): Promise<ListResourceTemplatesResult> {
    const collected = await this.collect('resourceTemplates', this.servers, signal);
    const seen = new Set<string>();
    const skipped: SkippedItem[] = [];
    const resourceTemplates = collected.lists.flatMap(({ server, items }) =>
      items.filter((t) => {
        if (!seen.has(t.uriTemplate)) return seen.add(t.uriTemplate);
        skipped.push({ server: server.name, name: t.uriTemplate, reason: 'duplicate_uri' });
        return false;
      }),
    );
    return { resourceTemplates, ...listMeta(this.problems(collected), skipped) };
  }

  /** `resources/read`, routed to the URI's owner. */
  async readResource(params: ReadResourceRequest['params'], options: CallOptions): Promise<ReadResourceResult> {
    const server = await this.resourceOwner(params.uri, options.signal);
    const request = { method: 'resources/read' as const, params };
    return this.onServer(server, options.signal, 'connection', (session, signal) => session.request(request, ReadResourceResultSchema, 'resources/read', { signal }));
  }

  /** `completion/complete` for a prompt argument or a resource-template variable. */
  async complete(params: CompleteRequest['params'], options: CallOptions): Promise<CompleteResult> {
    let server: UpstreamServer;
    let ref = params.ref;
    if (ref.type === 'ref/prompt') {
      const found = await this.resolve('prompts', ref.name, options.signal, () => true);
      server = found.server;
      ref = { ...ref, name: found.item.name };
    } else {
      const uri = ref.uri;
      const templates = await this.collect('resourceTemplates', this.servers, options.signal);
      const owner = templates.lists.find((l) => l.items.some((t) => t.uriTemplate === uri))?.server;
      server = owner ?? (await this.resourceOwner(uri, options.signal));
    }
    const request = { method: 'completion/complete' as const, params: { ...params, ref } };
    return this.onServer(server, options.signal, 'connection', (session, signal) =>
      session.supportsCompletions ? session.request(request, CompleteResultSchema, 'completion/complete', { signal }) : Promise.resolve({ completion: { values: [] } }),
    );
  }

  /** Lists `kind` from `servers` in parallel; each server bounded by its timeout. */
  private async collect<K extends ListKind>(kind: K, servers: readonly UpstreamServer[], signal: AbortSignal, maxAgeMs?: number): Promise<Collected<K>> {
    const failures = new Map<string, SluiceError | RpcError>();
    const results = await Promise.all(
      servers.map(async (server): Promise<Listed<K> | undefined> => {
        try {
          const items = await this.onServer(server, signal, 'connection', (session, bounded) => (session.supports(kind) ? session.list(kind, bounded, maxAgeMs) : Promise.resolve(undefined)));
          return items ? { server, items } : undefined;
        } catch (err) {
          if (signal.aborted) throw err;
          failures.set(server.id, err instanceof SluiceError || err instanceof RpcError ? err : new SluiceError('internal', 'internal error', { cause: err }));
          return undefined;
        }
      }),
    );
    return { lists: results.filter((r): r is Listed<K> => r !== undefined), failures };
  }

  private problems(collected: Collected<ListKind>): UpstreamProblem[] {
    return this.servers.flatMap((s) => {
      const err = collected.failures.get(s.id);
      return err ? [{ server: s.name, code: codeOf(err), message: err.message }] : [];
    });
  }

  /**
   * Runs `fn` on a session of `server` within the server's timeout (connect
   * included) and the caller's `signal`; logs failures.
   */
  private async onServer<T>(server: UpstreamServer, signal: AbortSignal, retry: RetryPolicy, fn: (session: UpstreamSession, signal: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(server.timeoutMs);
    const bounded = AbortSignal.any([signal, deadline]);
    try {
      return await this.pool.use(server, this.caller.token, bounded, retry, (session) => fn(session, bounded));
    } catch (err) {
      if (signal.aborted) throw err;
      const failure = deadline.aborted
        ? new SluiceError('deadline_exceeded', `MCP server "${server.name}" did not answer within ${server.timeoutMs} ms`, { cause: err, details: { code: 'upstream_timeout' } })
        : err instanceof SluiceError || err instanceof RpcError
          ? err
          : new SluiceError('internal', 'internal error', { cause: err });
      if (failure instanceof SluiceError) {
        const log = failure.kind === 'internal' ? this.logger.error.bind(this.logger) : this.logger.warn.bind(this.logger);
        log({ mcpServer: server.name, code: codeOf(failure), err: failure.cause ?? failure }, 'mcp upstream request failed');
      }
      throw failure;
    }
  }

  /** The exposed name of an upstream item, or undefined (recorded in `skipped`) when it cannot be exposed. */
  private uniqueName(server: UpstreamServer, upstreamName: string, taken: Set<string>, skipped: SkippedItem[]): string | undefined {
    const exposed = exposedName(server.name, upstreamName);
    if (!exposed.ok) {
      skipped.push({ server: server.name, name: upstreamName, reason: exposed.reason });
      return undefined;
    }
    if (taken.has(exposed.name)) {
      skipped.push({ server: server.name, name: upstreamName, reason: 'duplicate_name' });
      return undefined;
    }
    taken.add(exposed.name);
    return exposed.name;
  }

  /**
   * Finds the tool or prompt exposed as `name`, as the list would show it:
   * the first match in server order among items that pass `visible`. With no
   * visible match but a hidden one, `allowed` is false. Lists are refreshed
   * once when the name is missing; if a candidate server failed, its error is
   * the answer instead of "unknown".
   */
  private async resolve<K extends 'tools' | 'prompts'>(
    kind: K,
    name: string,
    signal: AbortSignal,
    visible: (server: UpstreamServer, item: UpstreamLists[K][number]) => boolean,
  ): Promise<{ server: UpstreamServer; item: UpstreamLists[K][number]; allowed: boolean }> {
    const candidates = this.servers.filter((s) => mayBelongTo(name, s.name));
    let failures = new Map<string, SluiceError | RpcError>();
    for (const maxAgeMs of [undefined, MISS_REFRESH_MS]) {
      const collected = await this.collect(kind, candidates, signal, maxAgeMs);
      let hidden: { server: UpstreamServer; item: UpstreamLists[K][number] } | undefined;
      for (const { server, items } of collected.lists) {
        for (const item of items as UpstreamLists[K][number][]) {
          const exposed = exposedName(server.name, item.name);
          if (!exposed.ok || exposed.name !== name) continue;
          if (visible(server, item)) return { server, item, allowed: true };
          hidden ??= { server, item };
        }
      }
      if (hidden) return { ...hidden, allowed: false };
      failures = collected.failures;
    }
    const failed = candidates.find((s) => failures.has(s.id) && name.startsWith(`${s.name}__`)) ?? candidates.find((s) => failures.has(s.id));
    if (failed) throw failures.get(failed.id)!;
    const what = kind === 'tools' ? 'tool' : 'prompt';
    throw rpcError(RpcCode.invalidParams, 'not_found', `Unknown ${what}: ${name}`, { code: `${what}_not_found`, [what]: name });
  }

  private async resourceOwner(uri: string, signal: AbortSignal): Promise<UpstreamServer> {
    const seen = this.caller.seenUris.ownerOf(uri);
    const fromResults = seen === undefined ? undefined : this.servers.find((s) => s.id === seen);
    if (fromResults) return fromResults;
    const listed = (await this.collect('resources', this.servers, signal)).lists.find((l) => l.items.some((r) => r.uri === uri));
    if (listed) return listed.server;
    const templated = (await this.collect('resourceTemplates', this.servers, signal)).lists.find((l) => l.items.some((t) => templateMatches(t.uriTemplate, uri)));
    if (templated) return templated.server;
    const refreshed = (await this.collect('resources', this.servers, signal, MISS_REFRESH_MS)).lists.find((l) => l.items.some((r) => r.uri === uri));
    if (refreshed) return refreshed.server;
    throw rpcError(RpcCode.resourceNotFound, 'not_found', 'Resource not found', { code: 'resource_not_found', uri });
  }

  /** Remembers the resource URIs in `content` as belonging to `server`. */
  private noteUris(server: UpstreamServer, content: readonly ContentBlock[]): void {
    for (const block of content) {
      if (block.type === 'resource_link') this.caller.seenUris.note(block.uri, server.id);
      else if (block.type === 'resource') this.caller.seenUris.note(block.resource.uri, server.id);
    }
  }
}

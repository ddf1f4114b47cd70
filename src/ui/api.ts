/**
 * The dashboard's connection to Sluice: the typed tRPC client of
 * `@sluice/trpc-client` on the page's own origin, the session token (kept in
 * sessionStorage, so it ends with the tab), and the API's error shapes turned
 * into what forms show.
 */
import { createSluiceTrpcClient, sluiceErrorData, type AppRouter } from '@sluice/trpc-client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';

export type Outputs = inferRouterOutputs<AppRouter>;
export type Inputs = inferRouterInputs<AppRouter>;
export type Client = ReturnType<typeof createSluiceTrpcClient>;

export type Workspace = NonNullable<Outputs['workspace']['getWorkspace']['workspace']>;
export type WorkspaceToken = NonNullable<Outputs['workspace']['revokeWorkspaceToken']['token']>;
export type Provider = NonNullable<Outputs['provider']['getProvider']['provider']>;
export type Model = NonNullable<Outputs['provider']['getModel']['model']>;
export type Gateway = NonNullable<Outputs['gateway']['getGateway']['gateway']>;
export type Route = NonNullable<Outputs['gateway']['getRoute']['route']>;
export type Pool = NonNullable<Route['pool']>;
export type RateLimit = NonNullable<Outputs['gateway']['getRateLimit']['rateLimit']>;
export type SpendLimit = NonNullable<Outputs['gateway']['getSpendLimit']['spendLimit']>;
export type ApiKey = NonNullable<Outputs['apiKey']['getApiKey']['apiKey']>;
export type McpServer = NonNullable<Outputs['mcpServer']['getMcpServer']['mcpServer']>;
export type RequestLog = NonNullable<Outputs['log']['getRequestLog']['requestLog']>;
export type McpCallLog = NonNullable<Outputs['log']['listMcpCallLogs']['mcpCallLogs']>[number];
export type MetricsResponse = Outputs['metrics']['queryMetrics'];
export type MetricsValues = NonNullable<MetricsResponse['total']>;
export type MetricsRequest = Inputs['metrics']['queryMetrics'];
export type BudgetUse = NonNullable<Outputs['metrics']['getSpendSummary']['budgets']>[number];
export type ExpressionKind = NonNullable<Inputs['gateway']['checkExpression']['kind']>;
export type ExpressionProblem = NonNullable<Outputs['gateway']['checkExpression']['problem']>;

const TOKEN_KEY = 'sluice.token';

/** The token of this tab's session, if logged in. */
export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Workspace tokens carry this prefix; anything else is taken as the root admin token. */
export function isWorkspaceToken(token: string): boolean {
  return token.startsWith('sluice-wt-');
}

export function createClient(token: string): Client {
  return createSluiceTrpcClient({ baseUrl: window.location.origin, token });
}

/** One violation per field path (`provider.base_url`, `route.pool.members[0].model`). */
export interface FieldError {
  field: string;
  description: string;
}

/** What a failed call means to a form: a message, and the field errors it carries. */
export interface ApiFailure {
  kind: string;
  message: string;
  fields: FieldError[];
}

export function toFailure(err: unknown): ApiFailure {
  const data = sluiceErrorData(err);
  const message = err instanceof Error ? err.message : String(err);
  if (!data) return { kind: 'unknown', message, fields: [] };
  return { kind: data.kind, message, fields: data.fieldViolations.map((v) => ({ field: v.field, description: v.description })) };
}

/** Whether `field` (a proto path) is `name` or lies under it. */
export function fieldMatches(field: string, name: string): boolean {
  return field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`);
}

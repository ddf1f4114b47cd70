/**
 * `GatewayService.CheckExpression` and `EvaluateExpression`: the CEL editor's
 * back end. An expression is checked with exactly the rules saving it would
 * apply for its kind (variables, result type, size limit; see `checkCel`),
 * and evaluated against a sample of the variables given as JSON. Both are
 * pure: nothing is read from or written to the database.
 */
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import {
  ExpressionKind,
  type CheckExpressionRequest,
  type CheckExpressionResponseSchema,
  type EvaluateExpressionRequest,
  type EvaluateExpressionResponseSchema,
  type ExpressionProblem,
} from '../gen/sluice/v1/gateway_pb.js';
import {
  checkCel,
  compileCel,
  MAX_CEL_LENGTH,
  MAX_KEY_EXPR_LENGTH,
  toJsonValue,
  type CelCheckFailure,
  type CelContext,
  type CelExpected,
  type CelSurface,
  type CompiledCel,
  type McpCelContext,
} from '../policy/cel.js';
import { Violations } from './validation.js';

/** What each kind of expression is checked as: result type, variables and longest source. */
const KINDS: Record<Exclude<ExpressionKind, ExpressionKind.UNSPECIFIED>, { expected: CelExpected; surface: CelSurface; maxLength: number }> = {
  [ExpressionKind.ROUTE_CONDITION]: { expected: 'bool', surface: 'llm', maxLength: MAX_CEL_LENGTH },
  [ExpressionKind.MODEL_SELECTOR]: { expected: 'string', surface: 'llm', maxLength: MAX_CEL_LENGTH },
  [ExpressionKind.LIMIT_KEY]: { expected: 'key', surface: 'llm', maxLength: MAX_KEY_EXPR_LENGTH },
  [ExpressionKind.MCP_AUTHORIZATION]: { expected: 'bool', surface: 'mcp', maxLength: MAX_CEL_LENGTH },
};

type KindRule = (typeof KINDS)[keyof typeof KINDS];

function validateRequest(v: Violations, expression: string, kind: ExpressionKind): KindRule | undefined {
  v.enumValue('kind', kind, ExpressionKind);
  v.required('expression', expression.trim());
  const rule = kind === ExpressionKind.UNSPECIFIED ? undefined : KINDS[kind];
  if (rule) v.maxLength('expression', expression, rule.maxLength);
  return rule;
}

function toProblem(failure: CelCheckFailure): ExpressionProblem {
  return { $typeName: 'sluice.v1.ExpressionProblem', kind: failure.kind, line: failure.position.line, column: failure.position.column, message: failure.message };
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads `parent[name]` as an object (missing is empty), reporting anything else at `field`. */
function objectAt(v: Violations, parent: JsonObject, name: string, field: string): JsonObject {
  const value = parent[name];
  if (value === undefined || value === null) return {};
  if (isObject(value)) return value;
  v.add(field, 'must be an object', 'INVALID_TYPE');
  return {};
}

function stringAt(v: Violations, parent: JsonObject, name: string, field: string): string {
  const value = parent[name];
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  v.add(field, 'must be a string', 'INVALID_TYPE');
  return '';
}

function stringMapAt(v: Violations, parent: JsonObject, name: string, field: string, lowercaseKeys = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(objectAt(v, parent, name, field))) {
    if (typeof value === 'string') out[lowercaseKeys ? key.toLowerCase() : key] = value;
    else v.add(`${field}.${key}`, 'must be a string', 'INVALID_TYPE');
  }
  return out;
}

/**
 * The sample variables of `context` (the JSON of `EvaluateExpressionRequest.context`), with
 * defaults for what is missing; wrong shapes are reported as `context.<path>` violations.
 * Header names are lowercased, as the pipeline does.
 */
export function sampleContext(v: Violations, context: JsonObject | undefined): CelContext & McpCelContext {
  const root = context ?? {};
  const known = new Set(['request', 'key', 'gateway', 'workspace', 'tool']);
  for (const name of Object.keys(root)) {
    if (!known.has(name)) v.add(`context.${name}`, `unknown variable; expected one of ${[...known].join(', ')}`, 'UNKNOWN_FIELD');
  }
  const request = objectAt(v, root, 'request', 'context.request');
  const key = objectAt(v, root, 'key', 'context.key');
  const tool = objectAt(v, root, 'tool', 'context.tool');
  const gateway = objectAt(v, root, 'gateway', 'context.gateway');
  const workspace = objectAt(v, root, 'workspace', 'context.workspace');
  return {
    request: {
      method: stringAt(v, request, 'method', 'context.request.method') || 'POST',
      path: stringAt(v, request, 'path', 'context.request.path'),
      headers: stringMapAt(v, request, 'headers', 'context.request.headers', true),
      query: stringMapAt(v, request, 'query', 'context.request.query'),
      body: request['body'] ?? null,
      model: stringAt(v, request, 'model', 'context.request.model'),
    },
    key: {
      id: stringAt(v, key, 'id', 'context.key.id'),
      name: stringAt(v, key, 'name', 'context.key.name'),
      metadata: stringMapAt(v, key, 'metadata', 'context.key.metadata'),
    },
    tool: { server: stringAt(v, tool, 'server', 'context.tool.server'), name: stringAt(v, tool, 'name', 'context.tool.name') },
    gateway: { name: stringAt(v, gateway, 'name', 'context.gateway.name') },
    workspace: { name: stringAt(v, workspace, 'name', 'context.workspace.name') },
  };
}

/** Checks `req.expression` as saving it as `req.kind` would; a rejected expression is a `problem`, not an error. */
export function checkExpression(req: CheckExpressionRequest): MessageInitShape<typeof CheckExpressionResponseSchema> {
  const v = new Violations();
  const rule = validateRequest(v, req.expression, req.kind);
  v.throwIfAny();
  const checked = checkCel(req.expression, rule!.expected, rule!.surface);
  return checked.ok ? {} : { problem: toProblem(checked) };
}

/** Checks, then evaluates `req.expression` against the sample `req.context`. */
export function evaluateExpression(req: EvaluateExpressionRequest): MessageInitShape<typeof EvaluateExpressionResponseSchema> {
  const v = new Violations();
  const rule = validateRequest(v, req.expression, req.kind);
  const ctx = sampleContext(v, req.context);
  v.throwIfAny();
  const checked = checkCel(req.expression, rule!.expected, rule!.surface);
  if (!checked.ok) return { problem: toProblem(checked) };
  // Typed overloads need a literal `expected`; the untyped form takes the rule's values.
  const compiled = (compileCel as unknown as (s: string, e: CelExpected, surface: CelSurface) => CompiledCel<JsonValue, CelContext & McpCelContext>)(
    req.expression,
    rule!.expected,
    rule!.surface,
  );
  const result = compiled.evaluate(ctx);
  return result.ok ? { result: fromJson(ValueSchema, toJsonValue(result.value)) } : { error: result.error };
}

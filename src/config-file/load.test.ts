import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FallbackTrigger, McpRateLimitScope, PoolStrategy, RateLimitWindow, StoreFailureMode } from '@sluice/client/gen/gateway';
import { DeferLoading, McpAuthMode } from '@sluice/client/gen/mcp_server';
import { ProviderType } from '@sluice/client/gen/provider';
import { describe, expect, it } from 'vitest';
import { interpolate, loadConfigFile, loadConfigText } from './load.js';
import { secretFingerprint, type SluiceConfig } from './schema.js';

/** A valid base file; tests splice problems into it. */
const BASE = `
workspaces:
  - name: acme
    providers:
      - name: openai-main
        type: openai
        api_key: sk-test-000000000000
        models:
          - name: gpt-4o
            price: { input_per_mtok: 2.5, output_per_mtok: 10 }
          - name: gpt-4o-mini
      - name: anthropic-main
        type: anthropic
        api_key_env: ANTHROPIC_API_KEY
        models: [{ name: claude-sonnet-4-5 }]
    gateways:
      - name: staging
        routes:
          - name: default
            pool: { members: [{ provider: openai-main, model: gpt-4o-mini }] }
      - name: prod
        models: [openai-main/gpt-4o]
        routes:
          - name: default
            condition: 'true'
            pool: { strategy: priority, members: [{ provider: openai-main, model: gpt-4o, weight: 1 }] }
            fallbacks: [{ strategy: priority, members: [{ provider: anthropic-main, model: claude-sonnet-4-5 }] }]
        rate_limits: [{ unit: requests, limit: 100, window: 1m, scope: key }]
        spend_limits: [{ amount_usd: 500, period: monthly, enforcement: block, warn_at: 0.8, scope: gateway }]
    api_keys:
      - name: ci
        gateways: [prod]
`;

function ok(text: string, env: NodeJS.ProcessEnv = {}): SluiceConfig {
  const r = loadConfigText(text, env, 'sluice.yaml');
  expect(r.problems).toEqual([]);
  if (!r.config) throw new Error('no config');
  return r.config;
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  const r = loadConfigText(text, env, 'sluice.yaml');
  expect(r.config).toBeUndefined();
  return r.problems;
}

const ws = (c: SluiceConfig) => {
  const w = c.workspaces[0];
  if (!w) throw new Error('no workspace');
  return w;
};

describe('interpolate', () => {
  const env = { A: 'alpha', EMPTY: '' };

  it('expands references, defaults and escapes', () => {
    expect(interpolate('x-${A}-y', env)).toEqual({ value: 'x-alpha-y', problems: [] });
    expect(interpolate('${MISSING:-fallback}', env).value).toBe('fallback');
    expect(interpolate('${EMPTY:-fallback}', env).value).toBe('fallback');
    expect(interpolate('${A:-fallback}', env).value).toBe('alpha');
    expect(interpolate('${MISSING:-}', env).value).toBe('');
    expect(interpolate('${EMPTY}', env)).toEqual({ value: '', problems: [] });
    expect(interpolate('$${A} costs $5', env)).toEqual({ value: '${A} costs $5', problems: [] });
    expect(interpolate('$$${A}', env).value).toBe('$${A}');
  });

  it('reports unset variables, malformed references and unterminated ones', () => {
    expect(interpolate('${NOPE}', env).problems).toEqual(['environment variable NOPE is not set']);
    expect(interpolate('${1BAD}', env).problems).toEqual(['invalid reference "${1BAD}"; use ${NAME} or ${NAME:-default}']);
    expect(interpolate('abc ${A', env).problems).toEqual(['unterminated "${"; write "$${" for a literal "${"']);
  });
});

describe('loadConfigText', () => {
  it('normalises the base file with defaults, generated names and exact prices', () => {
    const w = ws(ok(BASE));
    const openai = w.providers[0];
    expect(openai).toMatchObject({ type: ProviderType.OPENAI, enabled: true, timeoutMs: 0 });
    expect(openai?.credentials).toEqual([{ kind: 'value', name: `file-${secretFingerprint('sk-test-000000000000')}`, value: 'sk-test-000000000000' }]);
    expect(w.providers[1]?.credentials).toEqual([{ kind: 'env', name: 'file-env-anthropic-api-key', envVar: 'ANTHROPIC_API_KEY' }]);
    expect(openai?.models[0]?.price).toEqual({ inputPerMtokMicros: 2_500_000n, outputPerMtokMicros: 10_000_000n });
    expect(openai?.models[1]?.price).toEqual({});
    const prod = w.gateways[1];
    expect(prod?.routes[0]).toMatchObject({ priority: 0, enabled: true, condition: 'true' });
    expect(w.gateways[0]?.routes[0]?.pool).toEqual({
      strategy: PoolStrategy.PRIORITY,
      members: [{ provider: 'openai-main', model: 'gpt-4o-mini', weight: 1 }],
      fallbackOn: [],
      attemptTimeoutMs: 0,
    });
    expect(prod?.rateLimits[0]).toMatchObject({ name: 'requests-per-minute-key', window: RateLimitWindow.MINUTE, limit: 100n, onStoreFailure: StoreFailureMode.FAIL_OPEN });
    expect(prod?.spendLimits[0]).toMatchObject({ name: 'monthly-gateway', amountMicros: 500_000_000n, warnAt: 0.8 });
    // A key allowed on a single gateway defaults to it, as the server does.
    expect(w.apiKeys[0]).toMatchObject({ gateways: ['prod'], defaultGateway: 'prod', metadata: {} });
  });

  it('converts decimal prices to micro-dollars exactly, from the source text', () => {
    const price = (text: string) =>
      ws(ok(BASE.replace('price: { input_per_mtok: 2.5, output_per_mtok: 10 }', `price: { input_per_mtok: ${text} }`))).providers[0]?.models[0]?.price
        .inputPerMtokMicros;
    expect(price('0.075')).toBe(75_000n);
    expect(price('2.5')).toBe(2_500_000n);
    expect(price('2.50')).toBe(2_500_000n);
    // Floating point would give 290000.00000000006 and 1100000.0000000002.
    expect(price('0.29')).toBe(290_000n);
    expect(price('1.1')).toBe(1_100_000n);
    expect(price('0.000001')).toBe(1n);
    expect(price('1e-6')).toBe(1n);
    expect(price('"3.75"')).toBe(3_750_000n);
    expect(price('0')).toBe(0n);
    expect(price('123456789.123456')).toBe(123_456_789_123_456n);
  });

  it('refuses prices finer than a micro-dollar, negative or non-numeric', () => {
    const at = 'workspaces[0].providers[0].models[0].price.input_per_mtok';
    const bad = (text: string) => problems(BASE.replace('input_per_mtok: 2.5', `input_per_mtok: ${text}`));
    expect(bad('0.0000001')).toEqual([`${at}: has more than 6 decimal places (amounts are kept in micro-dollars), got 0.0000001`]);
    expect(bad('-1')).toEqual([`${at}: must be a non-negative decimal amount in USD, got -1`]);
    expect(bad('cheap')).toEqual([`${at}: must be a non-negative decimal amount in USD, got "cheap"`]);
    expect(bad('[1]')).toEqual([`${at}: must be a decimal amount in USD, got a list`]);
  });

  it('reports a bad pool member provider at the pool, in the form of the issue', () => {
    const text = BASE.replace('members: [{ provider: openai-main, model: gpt-4o, weight: 1 }]', 'members: [{ provider: x, model: gpt-4o }]');
    expect(problems(text)).toEqual(['workspaces[0].gateways[1].routes[0].pool: unknown provider "x"']);
  });

  it('reports unknown models and fallback providers, gateway models and API key gateways', () => {
    const text = BASE.replace('model: gpt-4o, weight: 1', 'model: gpt-5')
      .replace('{ provider: anthropic-main, model: claude-sonnet-4-5 }', '{ provider: nobody, model: m }')
      .replace('models: [openai-main/gpt-4o]', 'models: [openai-main/gpt-5, ghost/x, plain]')
      .replace('gateways: [prod]', 'gateways: [prod, dev]\n        default_gateway: staging');
    expect(problems(text)).toEqual([
      'workspaces[0].gateways[1].models[0]: unknown model "openai-main/gpt-5"',
      'workspaces[0].gateways[1].models[1]: unknown provider "ghost"',
      'workspaces[0].gateways[1].models[2]: must be "<provider>/<model>", got "plain"',
      'workspaces[0].gateways[1].routes[0].pool: provider "openai-main" has no model "gpt-5"',
      'workspaces[0].gateways[1].routes[0].fallbacks[0]: unknown provider "nobody"',
      'workspaces[0].api_keys[0].gateways[1]: unknown gateway "dev"',
      'workspaces[0].api_keys[0].default_gateway: must be one of the key\'s gateways (prod, dev)',
    ]);
  });

  it('reports unknown keys (with a suggestion), wrong types, bad enums and bad slugs, all at once', () => {
    const text = BASE.replace('type: openai\n', 'type: OpenAI\n        apikey: nope\n        timeout_ms: soon\n        enabled: "yes"\n')
      .replace('- name: prod', '- name: Prod_1')
      .replace('window: 1m', 'window: 5m')
      .replace('routes:\n          - name: default\n            pool: { members', 'routes:\n          - name: default\n            pool: { strategy: fastest, members');
    expect(problems(text)).toEqual([
      'workspaces[0].providers[0].apikey: unknown key (did you mean "api_key"?)',
      'workspaces[0].providers[0].type: must be one of openai, anthropic, google, azure_openai, openai_compatible, mock, got "OpenAI"',
      'workspaces[0].providers[0].enabled: must be true or false, got "yes"',
      'workspaces[0].providers[0].timeout_ms: must be an integer, got "soon"',
      'workspaces[0].gateways[0].routes[0].pool.strategy: must be one of priority, round_robin, weighted, least_latency, lowest_cost, got "fastest"',
      'workspaces[0].gateways[1].name: must be a slug (lowercase letters, digits and "-", at most 63 characters), got "Prod_1"',
      'workspaces[0].gateways[1].rate_limits[0].window: must be one of second, minute, hour, day, 1s, 1m, 1h, 1d, got "5m"',
      'workspaces[0].api_keys[0].gateways[0]: unknown gateway "prod"',
    ]);
  });

  it('reports duplicate names, including generated limit names', () => {
    const text = BASE.replace('- name: staging', '- name: prod')
      .replace('models: [{ name: claude-sonnet-4-5 }]', 'models: [{ name: claude-sonnet-4-5 }, { name: claude-sonnet-4-5 }]')
      .replace('rate_limits: [{ unit: requests, limit: 100, window: 1m, scope: key }]', 'rate_limits: [{ unit: requests, limit: 100, window: 1m, scope: key }, { unit: requests, limit: 5, window: minute, scope: key }]')
      .replace('      - name: ci\n', '      - name: ci\n      - name: ci\n');
    expect(problems(text)).toEqual([
      'workspaces[0].providers[1].models[1].name: duplicate model "claude-sonnet-4-5" (first at workspaces[0].providers[1].models[0].name)',
      'workspaces[0].gateways[1].rate_limits[1]: duplicate rate limit "requests-per-minute-key" (first at workspaces[0].gateways[1].rate_limits[0]); give the limits distinct names',
      'workspaces[0].gateways[1].name: duplicate gateway "prod" (first at workspaces[0].gateways[0].name)',
      'workspaces[0].api_keys[1].name: duplicate API key "ci" (first at workspaces[0].api_keys[0].name)',
    ]);
  });

  it('reports missing required keys and the shape of the document', () => {
    expect(problems('')).toEqual(['(root): must be a mapping, got null']);
    expect(problems('workspaces: {}')).toEqual(['workspaces: must be a list, got a mapping']);
    expect(problems('{}')).toEqual(['workspaces: required']);
    expect(problems('workspaces:\n  - display_name: x\n    providers: [{ name: p, models: [{}] }]')).toEqual([
      'workspaces[0].name: required',
      'workspaces[0].providers[0].type: required',
      'workspaces[0].providers[0].models[0].name: required',
    ]);
    expect(problems('workspaces: [{ name: a, gateways: [{ name: g, routes: [{ name: r }, { name: s, pool: { members: [] } }] }] }]')).toEqual([
      'workspaces[0].gateways[0].routes[0].pool: required',
      'workspaces[0].gateways[0].routes[1].pool.members: must list at least one member',
    ]);
  });

  it('interpolates values and reports an unset variable once, at its path', () => {
    const text = BASE.replace('api_key: sk-test-000000000000', 'api_key: ${OPENAI_API_KEY}\n        timeout_ms: ${TIMEOUT:-30000}\n        enabled: ${ENABLED}');
    expect(problems(text, { ENABLED: 'false' })).toEqual(['workspaces[0].providers[0].api_key: environment variable OPENAI_API_KEY is not set']);
    const p = ws(ok(text, { OPENAI_API_KEY: 'sk-live', ENABLED: 'false' })).providers[0];
    expect(p).toMatchObject({ timeoutMs: 30000, enabled: false });
    expect(p?.credentials[0]).toMatchObject({ value: 'sk-live' });
    // Without interpolation a quoted number stays a string, and is refused.
    expect(problems(BASE.replace('type: openai\n', 'type: openai\n        timeout_ms: "30000"\n'))).toEqual([
      'workspaces[0].providers[0].timeout_ms: must be an integer, got "30000"',
    ]);
  });

  it('keeps a secret containing YAML syntax as one string', () => {
    const p = ws(ok(BASE.replace('api_key: sk-test-000000000000', 'api_key: ${K}'), { K: 'a: b # c\n- d' })).providers[0];
    expect(p?.credentials[0]).toMatchObject({ value: 'a: b # c\n- d' });
  });

  it('reads credentials: several literals, env lists, and refuses ambiguous or bad ones', () => {
    const w = ws(ok(BASE.replace('api_key: sk-test-000000000000', 'api_keys: [sk-one-0000000000, sk-two-0000000000]\n        api_key_env: [OPENAI_A, OPENAI_B]')));
    expect(w.providers[0]?.credentials.map((c) => c.name)).toEqual([
      `file-${secretFingerprint('sk-one-0000000000')}`,
      `file-${secretFingerprint('sk-two-0000000000')}`,
      'file-env-openai-a',
      'file-env-openai-b',
    ]);
    expect(problems(BASE.replace('api_key: sk-test-000000000000', 'api_key: sk-x\n        api_keys: [sk-x]\n        api_key_env: openai_key'))).toEqual([
      'workspaces[0].providers[0].api_keys: use either api_key or api_keys, not both',
      'workspaces[0].providers[0].api_key_env: must be an environment variable name (uppercase letters, digits and "_"), got "openai_key"',
      `workspaces[0].providers[0].api_keys[0]: duplicate credential "file-${secretFingerprint('sk-x')}" (first at workspaces[0].providers[0].api_key)`,
    ]);
  });

  it('checks CEL expressions as the server does, by path, with position and reason', () => {
    const withCel = (cel: { selector: string; condition: string; rateKey: string; spendKey: string; authorization: string }) =>
      BASE.replace('        models: [openai-main/gpt-4o]\n', `        models: [openai-main/gpt-4o]\n        model_selector: '${cel.selector}'\n        mcp: { authorization: '${cel.authorization}' }\n`)
        .replace(
          '        rate_limits: [{ unit: requests, limit: 100, window: 1m, scope: key }]',
          [
            '          - name: beta',
            `            condition: '${cel.condition}'`,
            '            pool: { members: [{ provider: openai-main, model: gpt-4o }] }',
            `        rate_limits: [{ unit: requests, limit: 100, window: 1m, scope: { expr: '${cel.rateKey}' } }]`,
          ].join('\n'),
        )
        .replace('warn_at: 0.8, scope: gateway }', `warn_at: 0.8, scope: { expr: '${cel.spendKey}' } }`);
    expect(
      problems(
        withCel({
          selector: 'request.model + 1',
          condition: 'request.nope == "1"',
          rateKey: 'request.headers',
          spendKey: 'key.metadata["team"',
          authorization: 'tool.name == "deploy" && request.model == "m"',
        }),
      ),
    ).toEqual([
      'workspaces[0].gateways[1].mcp.authorization: 1:26: Unknown variable: request',
      'workspaces[0].gateways[1].model_selector: 1:15: no such overload: string + int',
      'workspaces[0].gateways[1].routes[1].condition: 1:9: No such key: nope',
      "workspaces[0].gateways[1].rate_limits[0].scope.expr: 1:1: must evaluate to a string, int, uint, double or bool (a limit key), got 'map<string, string>'",
      'workspaces[0].gateways[1].spend_limits[0].scope.expr: 1:20: Expected RBRACKET, got EOF',
    ]);
    const valid = ws(
      ok(
        withCel({
          selector: 'request.headers["x-tier"] == "free" ? "openai-main/gpt-4o-mini" : request.model',
          condition: 'bucket(request.headers["x-user-id"], 100) < 20',
          rateKey: 'request.headers["x-user-id"]',
          spendKey: 'key.metadata["team"]',
          authorization: 'key.metadata["team"] == "platform" || tool.name != "deploy"',
        }),
      ),
    );
    expect(valid.gateways[1]?.routes[1]?.condition).toBe('bucket(request.headers["x-user-id"], 100) < 20');
    expect(valid.gateways[1]?.spendLimits[0]?.scope).toEqual({ kind: 'expr', expr: 'key.metadata["team"]' });
  });

  it('refuses matches(), wrong result types and over-long expressions in the file', () => {
    const route = (condition: string) => BASE.replace("            condition: 'true'", `            condition: ${condition}`);
    expect(problems(route("'request.path.matches(\"^/v1\")'"))).toEqual([
      'workspaces[0].gateways[1].routes[0].condition: 1:14: matches() may backtrack catastrophically; use re_matches(text, pattern) (RE2 syntax, linear time)',
    ]);
    expect(problems(route("'request.model'"))).toEqual(["workspaces[0].gateways[1].routes[0].condition: 1:1: must evaluate to a bool, got 'string'"]);
    expect(problems(route(`'${'true && '.repeat(600)}true'`))).toEqual(['workspaces[0].gateways[1].routes[0].condition: must be at most 4096 characters']);
    // An unquoted YAML boolean is the CEL literal: fine as a condition, not as a model selector.
    expect(ws(ok(route('false'))).gateways[1]?.routes[0]?.condition).toBe('false');
    expect(problems(BASE.replace('        models: [openai-main/gpt-4o]\n', '        models: [openai-main/gpt-4o]\n        model_selector: true\n'))).toEqual([
      "workspaces[0].gateways[1].model_selector: 1:1: must evaluate to a string, got 'bool'",
    ]);
  });

  it('names limits deterministically from unit, window, period and scope', () => {
    const text = BASE.replace(
      'rate_limits: [{ unit: requests, limit: 100, window: 1m, scope: key }]',
      "rate_limits: [{ unit: tokens, limit: 9, window: 1d }, { unit: requests, limit: 1, window: second, scope: { expr: 'key.name' } }]",
    ).replace('    api_keys:', '    spend_limits: [{ amount_usd: 1, period: weekly }]\n    api_keys:');
    const w = ws(ok(text));
    expect(w.gateways[1]?.rateLimits.map((l) => l.name)).toEqual(['tokens-per-day-gateway', `requests-per-second-expr-${secretFingerprint('key.name').slice(0, 8)}`]);
    expect(w.spendLimits.map((s) => [s.name, s.scope.kind])).toEqual([['weekly-workspace', 'workspace']]);
  });

  it('reads MCP settings and servers with their defaults and checks transports', () => {
    const text = BASE.replace(
      '        rate_limits:',
      [
        "        mcp: { defer_loading: true, blocked_tools: ['*:drop_*'], authorization: 'true', rate_limits: [{ limit: 100, window: 1m }, { scope: gateway, limit: 5, window: second, on_store_failure: fail_closed }] }",
        '        mcp_servers:',
        '          - { id: gh, url: https://mcp.example.com, auth: { static: tok } }',
        '          - { id: fs, transport: stdio, command: npx, args: [-y, fs], env: { ROOT: /data }, auth: forward, fallback_on: [] }',
        '          - { id: bad, transport: sse, command: x, blocked_tools: ["a b"] }',
        '        rate_limits:',
      ].join('\n'),
    );
    expect(problems(text)).toEqual([
      'workspaces[0].gateways[1].mcp_servers[1].fallback_on: unknown key',
      'workspaces[0].gateways[1].mcp_servers[2].url: required for transport sse',
      'workspaces[0].gateways[1].mcp_servers[2].command: only for transport stdio',
      'workspaces[0].gateways[1].mcp_servers[2].blocked_tools[0]: must be a tool name or pattern with "*" wildcards, got "a b"',
    ]);
    const fixed = ws(ok(text.replace(', fallback_on: []', '').replace("          - { id: bad, transport: sse, command: x, blocked_tools: [\"a b\"] }\n", '')));
    const g = fixed.gateways[1];
    expect(g?.mcp).toEqual({
      deferLoading: true,
      blockedTools: ['*:drop_*'],
      authorization: 'true',
      rateLimits: [
        { scope: McpRateLimitScope.KEY, limit: 100n, window: RateLimitWindow.MINUTE, onStoreFailure: StoreFailureMode.FAIL_OPEN },
        { scope: McpRateLimitScope.GATEWAY, limit: 5n, window: RateLimitWindow.SECOND, onStoreFailure: StoreFailureMode.FAIL_CLOSED },
      ],
    });
    expect(g?.mcpServers[0]).toMatchObject({ name: 'gh', auth: { mode: McpAuthMode.STATIC, secret: 'tok' }, approved: true, enabled: true, deferLoading: DeferLoading.INHERIT });
    expect(g?.mcpServers[1]).toMatchObject({ args: ['-y', 'fs'], env: { ROOT: '/data' }, auth: { mode: McpAuthMode.FORWARD, secret: '' } });
  });

  it('sorts and de-duplicates fallback triggers, and numbers route priorities by position unless given', () => {
    const text = BASE.replace('pool: { strategy: priority, members', 'pool: { fallback_on: [timeout, rate_limited, timeout], strategy: priority, members').replace(
      '        rate_limits:',
      [
        '          - { name: second, pool: { members: [{ provider: openai-main, model: gpt-4o }] } }',
        '          - { name: pinned, priority: -5, pool: { members: [{ provider: openai-main, model: gpt-4o }] } }',
        '        rate_limits:',
      ].join('\n'),
    );
    const routes = ws(ok(text)).gateways[1]?.routes;
    expect(routes?.[0]?.pool.fallbackOn).toEqual([FallbackTrigger.RATE_LIMITED, FallbackTrigger.TIMEOUT]);
    expect(routes?.map((r) => [r.name, r.priority])).toEqual([
      ['default', 0],
      ['second', 10],
      ['pinned', -5],
    ]);
  });

  it('validates API key expiry, secrets and metadata', () => {
    const text = BASE.replace('        gateways: [prod]\n', '        gateways: [prod]\n        expires: next year\n        secret: sk-sluice-short\n        metadata: { team: 7 }\n');
    expect(problems(text)).toEqual([
      'workspaces[0].api_keys[0].metadata.team: must be a string, got 7',
      'workspaces[0].api_keys[0].expires: must be an ISO 8601 time such as 2027-01-01T00:00:00Z, got "next year"',
      'workspaces[0].api_keys[0].secret: must be an sk-sluice-… key with at least 22 random letters, digits, "_" or "-" after the prefix',
    ]);
    const key = ws(ok(BASE.replace('        gateways: [prod]\n', '        gateways: [prod]\n        expires: 2031-06-01T12:00:00+02:00\n'))).apiKeys[0];
    expect(key?.expireTime?.toISOString()).toBe('2031-06-01T10:00:00.000Z');
  });

  it('reports YAML syntax errors with their position', () => {
    expect(problems('workspaces:\n  - name: a\n   bad: [1,')).toEqual(expect.arrayContaining([expect.stringMatching(/^sluice\.yaml:\d+:\d+: /)]));
    expect(problems('workspaces: []\nworkspaces: []')).toEqual(['sluice.yaml:2:1: Map keys must be unique']);
  });

  it('expands aliases and refuses alias bombs', () => {
    const w = ws(ok(BASE.replace('      - name: staging\n        routes:\n          - name: default\n            pool: { members', '      - name: staging\n        routes:\n          - name: default\n            pool: &p { members').replace("            pool: { strategy: priority, members: [{ provider: openai-main, model: gpt-4o, weight: 1 }] }", '            pool: *p')));
    expect(w.gateways[1]?.routes[0]?.pool.members[0]?.model).toBe('gpt-4o-mini');
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 6; i++) levels.push(`${'abcdefg'[i]}: &${'abcdefg'[i]} [${Array(10).fill(`*${'abcdefg'[i - 1]}`).join(', ')}]`);
    const bomb = problems(`${levels.join('\n')}\nworkspaces: []`);
    expect(bomb.some((p) => p.includes('cannot be expanded'))).toBe(true);
  });
});

describe('loadConfigFile', () => {
  it('loads a file and reports an unreadable one as a single problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-config-'));
    const path = join(dir, 'sluice.yaml');
    await writeFile(path, BASE);
    expect((await loadConfigFile(path, {})).problems).toEqual([]);
    expect(await loadConfigFile(join(dir, 'missing.yaml'), {})).toEqual({ problems: [`${join(dir, 'missing.yaml')}: cannot read the file (ENOENT)`] });
  });
});

/**
 * The dashboard in a real headless Chromium (Debian's `chromium` through
 * playwright-core) against a real Sluice on SQLite and on PostgreSQL: log in
 * with the root token, create a workspace, a `mock` provider with a model, a
 * gateway with a route and an API key in the UI; send traffic with the
 * official OpenAI SDK; see it on the overview, in analytics and in the
 * request logs; open a record's detail tabs; save a route with an invalid CEL
 * condition and see the field error; register MCP servers, see their live
 * tool lists, approve one and see a tool call on the MCP calls page; then log
 * in with a workspace token and see only that workspace. The login is done
 * with the keyboard alone, and the overview's live refresh is checked without
 * a reload. Screenshots of every page go to
 * test-artifacts/ui/ (gitignored).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/database.js';
import { startTestServer, type RunningSluice } from '../helpers/server.js';
import { connectClient } from '../mcp/harness.js';
import { freePort, startTestUpstream, type TestUpstream } from '../mcp/test-upstream.js';

const CHROMIUM = process.env.SLUICE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');

let browser: Browser;

beforeAll(async () => {
  // Always test the current sources: the build takes about a second.
  execFileSync(join(process.cwd(), 'node_modules', '.bin', 'vite'), ['build', '--config', 'src/ui/vite.config.ts'], { stdio: 'pipe' });
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set SLUICE_TEST_CHROMIUM)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => browser?.close());

describe.each(DIALECTS)('dashboard on %s', (dialect) => {
  let s: RunningSluice;
  let page: Page;
  const pageErrors: string[] = [];
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${dialect}-${name}.png`), fullPage: true });
  const ui = (path: string) => `${s.baseUrl}/ui${path}`;
  const form = (name: string) => page.getByRole('form', { name, exact: true });
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

  let upstream: TestUpstream;
  beforeAll(async () => {
    upstream = await startTestUpstream({ tools: ['search.docs'] });
    s = await startTestServer(dialect, { metricsFlushMs: 200 });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterAll(async () => {
    await page?.context().close();
    await s?.close();
    await upstream?.close();
  });

  it('serves the app shell with caching headers and falls back to it for app paths', async () => {
    const index = await fetch(ui('/'));
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const asset = /src="\/ui\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(ui(`/${asset}`), { headers: { 'accept-encoding': 'gzip' } });
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await (await fetch(ui('/logs/some-id'))).text()).toBe(html);
    expect((await fetch(ui('/assets/missing.js'))).status).toBe(404);
    // No asset is loaded from another origin.
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('refuses a wrong token and logs in with the root token', async () => {
    await page.goto(ui('/'));
    await shot('login');
    await page.getByLabel('Admin token', { exact: true }).fill('not-a-valid-token-at-all');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/not valid/);
    // Keyboard only: the field is focused, the token typed, Enter submits.
    await page.getByLabel('Admin token', { exact: true }).focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(s.rootToken);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'No workspace yet' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('sluice.token'))).toBe(s.rootToken);
  });

  let apiKey = '';
  it('creates a workspace, a mock provider with a model, a gateway with a route and an API key', async () => {
    await nav('Workspaces').click();
    const ws = form('New workspace');
    await ws.getByLabel('Name', { exact: true }).fill('Not A Slug');
    await ws.getByRole('button', { name: 'Create workspace' }).click();
    // The API's field violation appears under the field.
    await ws.locator('[data-field="workspace.name"]').waitFor();
    await ws.getByLabel('Name', { exact: true }).fill('acme');
    await ws.getByLabel('Display name', { exact: true }).fill('Acme Corp');
    await ws.getByRole('button', { name: 'Create workspace' }).click();
    await page.getByRole('heading', { name: 'Settings of acme' }).waitFor();

    await nav('Providers & models').click();
    const provider = form('New provider');
    await provider.getByLabel('Name', { exact: true }).fill('mock');
    await expect.poll(() => provider.getByLabel('Type', { exact: true }).inputValue()).toBe('PROVIDER_TYPE_MOCK');
    await provider.getByLabel('Mock latency (ms)', { exact: true }).fill('5');
    await provider.getByRole('button', { name: 'Create provider' }).click();
    await page.getByRole('table', { name: 'Providers' }).getByRole('link', { name: 'mock' }).click();
    const model = form('Add model');
    await model.getByLabel('Model name', { exact: true }).fill('small');
    await model.getByLabel('Input price (USD per MTok)', { exact: true }).fill('2.5');
    await model.getByLabel('Output price (USD per MTok)', { exact: true }).fill('10');
    await model.getByRole('button', { name: 'Add model' }).click();
    await page.getByRole('table', { name: 'Models' }).getByText('mock/small').waitFor();
    await shot('provider');

    await nav('Gateways').click();
    const gateway = form('New gateway');
    await gateway.getByLabel('Name', { exact: true }).fill('prod');
    await gateway.getByRole('button', { name: 'Create gateway' }).click();
    await page.getByRole('table', { name: 'Gateways' }).getByRole('link', { name: 'prod' }).click();
    await page.getByRole('button', { name: 'Add route' }).click();
    const route = form('New route');
    await route.getByLabel('Route name', { exact: true }).fill('default');
    await route.getByLabel('Condition (CEL, bool)', { exact: true }).fill('!("x-block" in request.headers)');
    await route.getByTestId('cel-ok').waitFor();
    await route.getByLabel('Members', { exact: true }).fill('mock/small');
    await route.getByRole('button', { name: 'Create route' }).click();
    await page.getByRole('table', { name: 'Routes' }).getByText('priority: mock/small').waitFor();

    const spend = form('New spend limit');
    await spend.getByLabel('Budget name', { exact: true }).fill('monthly');
    await spend.getByLabel('Amount (USD)', { exact: true }).fill('25');
    await spend.getByRole('button', { name: 'Add spend limit' }).click();
    await page.getByRole('table', { name: 'Spend limits' }).getByText('$25.00 monthly').waitFor();
    await shot('gateway');

    await nav('API keys').click();
    const key = form('New API key');
    await key.getByLabel('Key name', { exact: true }).fill('app');
    await key.getByLabel('Gateways', { exact: true }).fill('prod');
    await key.getByLabel('Default gateway', { exact: true }).fill('prod');
    await key.getByLabel('Metadata', { exact: true }).fill('team=search');
    await key.getByRole('button', { name: 'Create key' }).click();
    apiKey = (await page.getByTestId('secret').textContent()) ?? '';
    expect(apiKey).toMatch(/^sk-sluice-/);
    await shot('api-keys');
    await page.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => page.getByTestId('secret').count()).toBe(0);
  });

  it('shows traffic sent with the OpenAI SDK on the overview and in analytics', async () => {
    const openai = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey, maxRetries: 0 });
    for (let i = 0; i < 5; i++) {
      await openai.chat.completions.create({ model: 'mock/small', messages: [{ role: 'user', content: `hello number ${i}` }] });
    }
    const stream = await openai.chat.completions.create({ model: 'mock/small', stream: true, messages: [{ role: 'user', content: 'stream please' }] });
    for await (const _chunk of stream) void _chunk;
    // A gateway the key may not use: refused after the key is known, so logged in its workspace.
    const elsewhere = new OpenAI({ baseURL: `${s.baseUrl}/gateways/staging/v1`, apiKey, maxRetries: 0 });
    await expect(elsewhere.chat.completions.create({ model: 'mock/small', messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow(/^4\d\d /);

    await nav('Overview').click();
    // The rollups flush every 200 ms here; the page refreshes every 10 s, a reload is quicker. The figures are
    // read once the answer is in (until then they are busy and show an ellipsis, never a zero).
    const totals = page.getByTestId('totals');
    await expect
      .poll(
        async () => {
          await page.reload();
          await page.locator('[data-testid="totals"][aria-busy="false"]').waitFor();
          return Number((await totals.getByTestId('stat-requests').locator('.stat-value').textContent())?.replace(/,/g, ''));
        },
        { timeout: 45_000, interval: 1000 },
      )
      .toBe(7);
    expect(await page.getByTestId('stat-errors').locator('.stat-value').textContent()).toMatch(/14/);
    // Live refresh (every 10 s): one more request appears without a reload.
    await openai.chat.completions.create({ model: 'mock/small', messages: [{ role: 'user', content: 'one more' }] });
    await expect.poll(async () => totals.getByTestId('stat-requests').locator('.stat-value').textContent(), { timeout: 25_000, interval: 500 }).toBe('8');
    await page.getByRole('table', { name: 'Top models' }).getByText('mock/small').waitFor();
    await page.getByRole('table', { name: 'Top gateways' }).getByText('prod').waitFor();
    await page.locator('figure.chart canvas').first().waitFor();
    await shot('overview');

    await page.getByRole('button', { name: 'Last 24 hours' }).click();
    expect(page.url()).toMatch(/range=24h/);
    await expect.poll(async () => page.getByTestId('stat-requests').locator('.stat-value').textContent()).toBe('8');

    await nav('Analytics').click();
    await page.getByRole('heading', { level: 1, name: 'Analytics' }).waitFor();
    const models = page.getByRole('table', { name: 'Model comparison' });
    await models.getByText('mock/small').waitFor();
    await page.getByRole('table', { name: 'Budgets' }).getByTestId('budget-use').filter({ hasText: /of \$25\.00/ }).waitFor();
    await page.locator('figure[aria-label="Latency histogram"] canvas').waitFor();
    await shot('analytics');
  });

  it('lists the requests, filters them and opens a record with its tabs', async () => {
    await nav('Request logs').click();
    const table = page.getByRole('table', { name: 'Request logs' });
    const refresh = page.getByRole('button', { name: 'Refresh', exact: true });
    // The log is written asynchronously: the last record may land after the page's first query.
    await expect
      .poll(
        async () => {
          await refresh.click();
          await page.locator('button[aria-busy="false"]', { hasText: 'Refresh' }).waitFor();
          return table.locator('tbody tr').count();
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(8);
    await shot('logs');

    await page.getByLabel('Status', { exact: true }).selectOption('4xx');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(page.url()).toMatch(/status=4xx/);
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(8);

    await table.locator('tbody tr').filter({ hasText: '200' }).first().getByRole('link').click();
    await page.getByRole('tab', { name: 'Request' }).waitFor();
    await page.getByRole('tab', { name: 'Routing & policy' }).click();
    const panel = page.getByRole('tabpanel');
    await panel.getByText('default', { exact: true }).waitFor();
    await panel.getByRole('table', { name: 'Attempts' }).getByText('mock/small').waitFor();
    await shot('log-detail-routing');
    await page.getByRole('tab', { name: 'Response' }).click();
    await page.getByRole('tab', { name: 'Timing' }).click();
    await page.getByTestId('timing').getByText('Provider time').waitFor();
    await shot('log-detail-timing');

    // Pages of 50: 45 more requests make 53, so the second page holds 3.
    const openai = new OpenAI({ baseURL: `${s.baseUrl}/v1`, apiKey, maxRetries: 0 });
    for (let i = 0; i < 45; i++) await openai.chat.completions.create({ model: 'mock/small', messages: [{ role: 'user', content: `page filler ${i}` }] });
    // Records are written in the background (a partial batch after 100 ms): all 53 must be stored before the pages are read.
    await s.sluice.logs.pipeline.flush();
    await nav('Request logs').click();
    const older = page.getByRole('button', { name: 'Older →' });
    await expect
      .poll(
        async () => {
          await refresh.click();
          await page.locator('button[aria-busy="false"]', { hasText: 'Refresh' }).waitFor();
          return (await older.isEnabled()) && (await table.locator('tbody tr').count()) === 50;
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(true);
    await older.click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(3);
    expect(page.url()).toMatch(/page=/);
    expect(await older.isEnabled()).toBe(false);
    await page.getByRole('button', { name: '← Newer' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(50);
    expect(await page.getByRole('button', { name: '← Newer' }).isEnabled()).toBe(false);
  });

  it('shows the API field error when a route is saved with an invalid CEL condition', async () => {
    await nav('Gateways').click();
    await page.getByRole('table', { name: 'Gateways' }).getByRole('link', { name: 'prod' }).click();
    await page.getByRole('button', { name: 'Edit route default' }).click();
    const route = form('Edit route default');
    await route.getByLabel('Condition (CEL, bool)', { exact: true }).fill('request.headers["x-tier"] == ');
    // Checked as typed…
    await route.getByTestId('cel-problem').waitFor();
    expect(await route.getByTestId('cel-problem').textContent()).toMatch(/syntax error at 1:/);
    // …and refused on save, shown under the field.
    await route.getByRole('button', { name: 'Save route' }).click();
    const fieldError = route.locator('.error[data-field="route.condition"]');
    await fieldError.waitFor();
    expect(await fieldError.textContent()).toMatch(/^1:\d+: /);
    expect(await route.getByLabel('Condition (CEL, bool)', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await shot('route-invalid-cel');

    await nav('CEL editor').click();
    await page.getByTestId('cel-result').getByText('true').waitFor();
    await page.getByLabel('Expression', { exact: true }).fill('request.headers["x-tier"] == "paid"');
    await page.getByTestId('cel-result').getByText('false').waitFor();
    await shot('cel-editor');
  });

  it("registers MCP servers, blocks a tool, sets a defer override, shows each server's live tool list and, once approved, its calls", async () => {
    await nav('MCP servers').click();
    const servers = page.getByRole('table', { name: 'MCP servers' });
    const register = form('Register an MCP server');
    await register.getByLabel('Server name', { exact: true }).fill('docs');
    await register.getByLabel('URL', { exact: true }).fill(upstream.url);
    await register.getByRole('button', { name: 'Register server' }).click();
    await servers.getByRole('cell', { name: 'docs', exact: true }).waitFor();
    await register.getByLabel('Server name', { exact: true }).fill('dead');
    await register.getByLabel('URL', { exact: true }).fill(`http://127.0.0.1:${await freePort()}/mcp`);
    await register.getByRole('button', { name: 'Register server' }).click();
    await servers.getByRole('cell', { name: 'dead', exact: true }).waitFor();

    const blocked = form('Blocked tools of docs');
    await blocked.getByLabel('Blocked tools', { exact: true }).fill('sleep');
    await blocked.getByRole('button', { name: 'Save blocked tools' }).click();
    const docsRow = servers.getByRole('row').filter({ hasText: 'docs' });
    await docsRow.getByRole('cell', { name: 'sleep', exact: true }).waitFor();
    const docsCard = page.locator('.subcard').filter({ has: page.getByRole('button', { name: 'Show tools of docs' }) });
    await docsCard.getByLabel('Deferred loading', { exact: true }).selectOption('DEFER_LOADING_ENABLED');
    await docsRow.getByRole('cell', { name: 'enabled', exact: true }).waitFor();

    const show = page.getByRole('button', { name: 'Show tools of docs' });
    expect(await show.getAttribute('aria-expanded')).toBe('false');
    await show.click();
    const hide = page.getByRole('button', { name: 'Hide tools of docs' });
    expect(await hide.getAttribute('aria-expanded')).toBe('true');
    const panel = page.getByRole('region', { name: 'Tool list of docs' });
    expect(await hide.getAttribute('aria-controls')).toBe(await panel.getAttribute('id'));
    const tools = panel.getByRole('table', { name: 'Tools of docs' });
    await tools.waitFor();
    expect(await panel.getByRole('status').textContent()).toMatch(/^Reachable · 3 tools · answered in \d+ ms · not visible to MCP clients until approved and enabled$/);
    const row = (name: string | RegExp) => tools.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });
    expect(await tools.getByRole('row').count()).toBe(4);
    expect(await row('docs__whoami').getByText('deferred', { exact: true }).count()).toBe(1);
    expect(await row('docs__whoami').getByRole('cell', { name: 'Returns the Authorization header the server saw', exact: true }).count()).toBe(1);
    expect(await row('docs__sleep').getByText('blocked', { exact: true }).count()).toBe(1);
    expect(await row('docs__sleep').getByText('deferred', { exact: true }).count()).toBe(0);
    // A name outside MCP's character set is hashed into the namespaced one.
    expect(await row(/^docs__search_docs_[0-9a-f]{8}$/).getByRole('cell', { name: 'search.docs', exact: true }).count()).toBe(1);
    await row('docs__whoami').getByText('Schema', { exact: true }).click();
    expect(await row('docs__whoami').locator('pre').textContent()).toContain('"type": "object"');
    await shot('mcp-tools');

    await page.getByRole('button', { name: 'Show tools of dead' }).click();
    const alert = page.getByRole('region', { name: 'Tool list of dead' }).getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/^dead is unreachable \(upstream_unavailable\): MCP server "dead" is unavailable \(ECONNREFUSED\)/);
    expect(await page.getByRole('table', { name: 'Tools of dead' }).count()).toBe(0);
    await hide.click();
    expect(await panel.count()).toBe(0);

    // Approved, the server's tools reach MCP clients; the call shows on the MCP calls page.
    await docsCard.getByRole('button', { name: 'Approve', exact: true }).click();
    await docsCard.getByText('approved', { exact: true }).waitFor();
    await expect
      .poll(async () => {
        const { client, transport } = await connectClient(`${s.baseUrl}/mcp`, apiKey);
        try {
          const result = await client.callTool({ name: 'docs__whoami', arguments: {} });
          return result.isError ? 'error' : 'ok';
        } catch (err) {
          return String(err);
        } finally {
          await transport.close();
        }
      }, { timeout: 10_000, interval: 300 })
      .toBe('ok');
    await nav('MCP calls').click();
    const calls = page.getByRole('table', { name: 'MCP calls' });
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh', exact: true }).click();
        await page.locator('button[aria-busy="false"]', { hasText: 'Refresh' }).waitFor();
        return calls.locator('tbody tr').filter({ hasText: 'whoami' }).count();
      }, { timeout: 20_000, interval: 500 })
      .toBe(1);
    const call = calls.locator('tbody tr').filter({ hasText: 'whoami' });
    expect(await call.textContent()).toMatch(/prod.*docs.*whoami.*ok/);
  });

  it('renders the remaining pages and the dark theme without script errors', async () => {
    for (const [link, name] of [
      ['MCP servers', 'mcp-servers'],
      ['MCP calls', 'mcp-calls'],
      ['Workspaces', 'workspaces'],
    ] as const) {
      await nav(link).click();
      await page.getByRole('heading', { level: 1, name: link }).waitFor();
      await shot(name);
    }
    await nav('Overview').click();
    await page.getByTestId('stat-requests').waitFor();
    await page.getByRole('button', { name: /^Theme: auto/ }).click();
    await page.getByRole('button', { name: /^Theme: light/ }).click();
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset['theme'])).toBe('dark');
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(13, 17, 23)');
    await page.locator('figure.chart canvas').first().waitFor();
    await shot('overview-dark');
    await page.getByRole('button', { name: /^Theme: dark/ }).click();
    expect(pageErrors).toEqual([]);
  });

  it('a workspace token sees only its workspace', async () => {
    await nav('Workspaces').click();
    const ws = form('New workspace');
    await ws.getByLabel('Name', { exact: true }).fill('other');
    await ws.getByRole('button', { name: 'Create workspace' }).click();
    await page.getByRole('heading', { name: 'Settings of other' }).waitFor();
    const picker = page.getByRole('combobox', { name: 'Workspace' });
    await picker.selectOption({ label: 'Acme Corp' });
    await page.getByRole('heading', { name: 'Settings of acme' }).waitFor();

    const token = form('New workspace token');
    await token.getByLabel('Token name', { exact: true }).fill('team');
    await token.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('secret').textContent()) ?? '';
    expect(secret).toMatch(/^sluice-wt-/);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Admin token', { exact: true }).fill(secret);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('workspace admin', { exact: true }).waitFor();
    const options = await page.getByRole('combobox', { name: 'Workspace' }).locator('option').allTextContents();
    expect(options).toEqual(['Acme Corp']);
    await nav('Overview').click();
    await expect.poll(async () => page.getByTestId('stat-requests').locator('.stat-value').textContent()).toBe('53');
    await nav('Providers & models').click();
    await page.getByRole('table', { name: 'Providers' }).getByRole('link', { name: 'mock' }).waitFor();
    expect(await page.getByRole('form', { name: 'New workspace' }).count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

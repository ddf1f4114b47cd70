/**
 * The `sluice` binary as users run it: first start on the embedded default
 * (admin token printed once and saved 0600, master key generated, demo
 * workspace), restart, `migrate`, `keys`, `apply`, `--help`, and start on
 * PostgreSQL.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createSluiceClient } from '@sluice/client';
import { createTestDatabase, DIALECTS } from '../helpers/database.js';
import { runCli, startServe, type ServeProcess } from '../helpers/cli.js';

const running: ServeProcess[] = [];
afterAll(async () => {
  for (const p of running) await p.stop();
});

describe('sluice serve on the embedded default', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  const env = { SLUICE_DATA_DIR: dataDir, SLUICE_ADMIN_TOKEN: '', SLUICE_MASTER_KEY: '', DATABASE_URL: '' };
  let token = '';

  it('prints the admin token once, saves it 0600, generates the master key and offers the demo workspace', async () => {
    const serve = await startServe([], env);
    running.push(serve);
    const out = serve.output();
    token = /admin token \(shown once\): (\S+)/.exec(out)?.[1] ?? '';
    expect(token).toMatch(/^sluice-root-/);
    const tokenFile = join(dataDir, 'admin-token');
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'sluice.db')).isFile()).toBe(true);
    expect(out).toMatch(/demo: API key \(shown once\): sk-sluice-/);

    const client = createSluiceClient({ baseUrl: serve.baseUrl, token });
    const { workspaces } = await client.workspaces.listWorkspaces({ name: 'demo' });
    expect(workspaces[0]?.displayName).toMatch(/Demo \(mock provider/);
    const { providers } = await client.providers.listProviders({ workspaceId: workspaces[0]!.id });
    expect(providers.map((p) => p.name)).toEqual(['mock']);
    expect(await serve.stop()).toBe(0);
  });

  it('does not print or change the token on restart, and keeps the demo as it is', async () => {
    const serve = await startServe([], env);
    running.push(serve);
    expect(serve.output()).not.toMatch(/admin token \(shown once\)/);
    expect(serve.output()).not.toMatch(/demo: /);
    const client = createSluiceClient({ baseUrl: serve.baseUrl, token });
    expect((await client.workspaces.listWorkspaces({})).workspaces.map((w) => w.name)).toEqual(['demo']);
    expect(await serve.stop()).toBe(0);
  });

  it('creates, lists and revokes API keys through the control API', async () => {
    const serve = await startServe([], env);
    running.push(serve);
    const common = ['--url', serve.baseUrl, '--token', token];
    const created = await runCli(['keys', 'create', '--workspace', 'demo', '--name', 'cli-key', '--gateway', 'demo', '--metadata', 'team=platform', ...common]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const secret = /secret \(shown once\): (sk-sluice-\S+)/.exec(created.stdout)?.[1];
    expect(secret).toBeTruthy();
    const id = /created key (\S+)/.exec(created.stdout)?.[1];

    const listed = await runCli(['keys', 'list', '--workspace', 'demo', ...common]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('cli-key');
    expect(listed.stdout).not.toContain(secret!);

    const revoked = await runCli(['keys', 'revoke', id!, ...common]);
    expect(revoked.code).toBe(0);
    const after = await runCli(['keys', 'list', '--workspace', 'demo', ...common]);
    expect(after.stdout).not.toContain('cli-key');
    const all = await runCli(['keys', 'list', '--workspace', 'demo', '--all', ...common]);
    expect(all.stdout).toContain('cli-key');

    const bad = await runCli(['keys', 'create', '--workspace', 'demo', '--name', 'Bad Name', ...common]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('api_key.name');
    expect(await serve.stop()).toBe(0);
  });

  it('applies a config file through the control API, idempotently, with --dry-run, and rejects a bad file naming every problem', async () => {
    const serve = await startServe([], env);
    running.push(serve);
    const common = ['--url', serve.baseUrl, '--token', token];
    const file = join(dataDir, 'sluice.yaml');
    writeFileSync(
      file,
      [
        'workspaces:',
        '  - name: acme',
        '    providers:',
        '      - name: local',
        '        type: openai_compatible',
        '        base_url: http://127.0.0.1:11434/v1',
        '        api_key: ${LOCAL_KEY}',
        '        models: [ { name: llama3 } ]',
        '    gateways:',
        '      - name: prod',
        '        routes:',
        '          - name: default',
        "            condition: 'true'",
        '            pool: { strategy: priority, members: [ { provider: local, model: llama3 } ] }',
        '    api_keys:',
        '      - name: ci',
        '        gateways: [prod]',
      ].join('\n'),
    );
    const withKey = { LOCAL_KEY: 'local-secret-0123456789' };
    const dry = await runCli(['apply', '-f', file, '--dry-run', ...common], withKey);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run');
    const client = createSluiceClient({ baseUrl: serve.baseUrl, token });
    expect((await client.workspaces.listWorkspaces({ name: 'acme' })).workspaces).toEqual([]);

    const first = await runCli(['apply', '-f', file, ...common], withKey);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/\+ workspace acme/);
    expect(first.stdout).not.toContain('local-secret-0123456789');
    const second = await runCli(['apply', '-f', file, ...common], withKey);
    expect(second.code).toBe(0);
    expect(second.stdout).not.toMatch(/^[+~] /m);

    writeFileSync(file, readFileSync(file, 'utf8').replace('provider: local, model: llama3', 'provider: nope, model: llama3').replace('gateways: [prod]', 'gateways: [missing]'));
    const bad = await runCli(['apply', '-f', file, ...common], withKey);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toContain('workspaces[0].gateways[0].routes[0].pool: unknown provider "nope"');
    expect(bad.stdout + bad.stderr).toContain('workspaces[0].api_keys[0].gateways[0]');
    expect(await serve.stop()).toBe(0);
  });

  it('migrates a fresh data directory with `sluice migrate`', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'sluice-migrate-'));
    const first = await runCli(['migrate'], { SLUICE_DATA_DIR: fresh, DATABASE_URL: '' });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied: Migration\d+_initial/);
    const again = await runCli(['migrate'], { SLUICE_DATA_DIR: fresh, DATABASE_URL: '' });
    expect(again.stdout).toContain('database is up to date');
  });

  it('prints help for the CLI and for each command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['serve', 'migrate', 'apply', 'keys']) {
      expect(top.stdout).toContain(`sluice ${command}`);
      const help = await runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`sluice ${command}`);
    }
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
  });
});

describe.skipIf(!DIALECTS.includes('postgresql'))('sluice serve on PostgreSQL', () => {
  it('needs SLUICE_MASTER_KEY, then serves with SLUICE_ADMIN_TOKEN', async () => {
    const db = await createTestDatabase('postgresql');
    try {
      const url = db.target.dialect === 'postgresql' ? db.target.url : '';
      const dataDir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
      const noKey = await runCli(['serve'], { DATABASE_URL: url, SLUICE_DATA_DIR: dataDir, SLUICE_MASTER_KEY: '', PORT: '0' });
      expect(noKey.code).toBe(1);
      expect(noKey.stderr).toContain('SLUICE_MASTER_KEY is required');
      const adminToken = `sluice-root-${randomBytes(16).toString('hex')}`;
      const serve = await startServe([], { DATABASE_URL: url, SLUICE_DATA_DIR: dataDir, SLUICE_MASTER_KEY: randomBytes(32).toString('hex'), SLUICE_ADMIN_TOKEN: adminToken });
      running.push(serve);
      expect(serve.output()).not.toContain(adminToken);
      const client = createSluiceClient({ baseUrl: serve.baseUrl, token: adminToken });
      expect((await client.workspaces.listWorkspaces({})).workspaces.map((w) => w.name)).toEqual(['demo']);
      expect(await serve.stop()).toBe(0);
    } finally {
      await db.drop();
    }
  });
});

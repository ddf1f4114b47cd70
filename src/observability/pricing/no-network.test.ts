import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { costNanos, estimatePromptTokens, worstCaseCostNanos } from './cost.js';
import { priceFor } from './price-catalogue.js';

const CATALOGUE = new URL('./price-catalogue.ts', import.meta.url);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Run in a fresh Node process: every way out (fetch, http(s).request/get,
 * net/tls connect, DNS) throws and is recorded *before* the package is
 * first imported, so both import and lookups are covered.
 */
const CHILD = `
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
const attempts = [];
const block = (name) => () => { attempts.push(name); throw new Error('network access: ' + name); };
globalThis.fetch = block('fetch');
http.request = block('http.request'); http.get = block('http.get');
https.request = block('https.request'); https.get = block('https.get');
net.connect = block('net.connect'); net.createConnection = block('net.createConnection');
tls.connect = block('tls.connect'); dns.lookup = block('dns.lookup');
syncBuiltinESMExports();
const { priceFor } = await import(process.env.CATALOGUE_URL);
const models = [
  ['openai', 'gpt-4o'], ['openai', 'o3'], ['azure_openai', 'gpt-4.1'], ['anthropic', 'claude-sonnet-4-5-20250929'],
  ['google', 'gemini-2.5-pro'], ['openai_compatible', 'meta-llama/Llama-3.3-70B-Instruct'], ['openai_compatible', 'deepseek-chat'],
  ['openai_compatible', 'unknown-model'], ['mock', 'm'],
];
const priced = models.filter(([providerKind, upstreamModel]) => priceFor({ providerKind, upstreamModel }) !== undefined).length;
process.stdout.write(JSON.stringify({ priced, attempts }));
`;

describe('no network I/O', () => {
  it('importing the catalogue and looking prices up in a fresh process touches no network API', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      cwd: REPO,
      env: { ...process.env, CATALOGUE_URL: CATALOGUE.href },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({ priced: 8, attempts: [] });
  });

  describe('in this process', () => {
    const spies: MockInstance[] = [];
    const refuse = (): never => {
      throw new Error('network access');
    };

    beforeAll(() => {
      spies.push(
        vi.spyOn(globalThis, 'fetch').mockImplementation(refuse),
        vi.spyOn(http, 'request').mockImplementation(refuse),
        vi.spyOn(http, 'get').mockImplementation(refuse),
        vi.spyOn(https, 'request').mockImplementation(refuse),
        vi.spyOn(https, 'get').mockImplementation(refuse),
      );
      syncBuiltinESMExports();
    });

    afterAll(() => {
      for (const spy of spies) spy.mockRestore();
      syncBuiltinESMExports();
    });

    it('lookups (including the cross-host search) and cost arithmetic make no calls', () => {
      const price = priceFor({ providerKind: 'openai_compatible', upstreamModel: 'Qwen/Qwen2.5-72B-Instruct', baseUrl: 'https://example.invalid/v1' });
      expect(price).toBeDefined();
      expect(priceFor({ providerKind: 'openai_compatible', upstreamModel: 'no-network-probe', baseUrl: 'https://example.invalid/v1' })).toBeUndefined();
      const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1 };
      expect(costNanos(usage, price!)).toBeGreaterThan(0n);
      expect(worstCaseCostNanos(estimatePromptTokens({ messages: [{ role: 'user', content: 'hi' }] }), 16, price!)).toBeGreaterThan(0n);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    });
  });

  it('never opts into the package’s remote price updates', async () => {
    const source = await readFile(CATALOGUE, 'utf8');
    expect(source).not.toMatch(/updatePrices|enableAutoUpdate|waitForUpdate|REMOTE_DATA_JSON_URL/);
  });
});

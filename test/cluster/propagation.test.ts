/**
 * Config propagation between replicas: a change made through replica A's
 * control API (a new route, a revoked key, a changed rate limit) is enforced
 * by replica B within one second. Two `sluice serve` processes on one
 * PostgreSQL database (counters in memory: each replica counts alone here,
 * which is what shows B applies the new limit value itself). B is probed
 * every 5 ms from the moment A's RPC returns; the latency is the time until
 * the first probe that shows the change. Each change is made 3 times.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceClient } from '@sluice/client';
import { PoolStrategy, RateLimitUnit, RateLimitWindow } from '@sluice/client/gen/gateway';
import { ProviderType } from '@sluice/client/gen/provider';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.js';
import { startCluster, until, type Cluster } from './cluster.js';

const ROUNDS = 3;
const PROBE_EVERY_MS = 5;

function chat(baseUrl: string, apiKey: string, gateway = 'main'): Promise<Response> {
  return fetch(`${baseUrl}/gateways/${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
  });
}

/** Probes replica B until `shows` holds for an answer; the ms from the call to the first such answer. */
async function seenWithin(probe: () => Promise<Response>, shows: (res: Response) => boolean): Promise<number> {
  return until(
    async () => {
      const res = await probe();
      await res.arrayBuffer();
      return shows(res);
    },
    3000,
    PROBE_EVERY_MS,
  );
}

const summary = (ms: number[]) => `${ms.map((m) => m.toFixed(0)).join(', ')} ms (max ${Math.max(...ms).toFixed(0)})`;

describe('config propagation between two replicas on PostgreSQL', () => {
  let cluster: Cluster;
  let fake: FakeUpstream;
  let a: SluiceClient;
  let B: string;
  let workspaceId: string;
  let gatewayId: string;
  let apiKey: string;
  const report: string[] = [];

  beforeAll(async () => {
    fake = await startFakeUpstream('openai');
    cluster = await startCluster();
    a = cluster.client(0);
    B = cluster.replicas[1]!.baseUrl;
    const ws = (await a.workspaces.createWorkspace({ workspace: { name: 'propagation' } })).workspace!;
    workspaceId = ws.id;
    const provider = (
      await a.providers.createProvider({
        workspaceId,
        provider: { name: 'openai', type: ProviderType.OPENAI, baseUrl: fake.url },
        credentials: [{ source: { case: 'value', value: 'fake-key-0000' } }],
      })
    ).provider!;
    for (const name of ['gpt-4o', 'gpt-4o-mini']) await a.providers.createModel({ providerId: provider.id, model: { name } });
    gatewayId = (await a.gateways.createGateway({ workspaceId, gateway: { name: 'main' } })).gateway!.id;
    apiKey = (await a.apiKeys.createApiKey({ workspaceId, apiKey: { name: 'app', gateways: [], defaultGateway: 'main' } })).secret;
    await until(async () => (await chat(B, apiKey)).status === 200, 5000, 25);
  });
  afterAll(async () => {
    if (report.length) console.log(`propagation A → B:\n  ${report.join('\n  ')}`);
    await cluster?.close();
    await fake?.close();
  });

  it('routes by a route created through A on B within a second', async () => {
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Each round's route outranks the previous ones.
      const name = `to-mini-${i}`;
      await a.gateways.createRoute({
        gatewayId,
        route: { name, priority: -10 * (i + 1), condition: 'true', enabled: true, pool: { strategy: PoolStrategy.PRIORITY, members: [{ provider: 'openai', model: 'gpt-4o-mini' }] } },
      });
      ms.push(await seenWithin(() => chat(B, apiKey), (res) => res.headers.get('x-sluice-route') === name));
    }
    fake.reset();
    const res = await chat(B, apiKey);
    await res.text();
    expect(fake.requests.at(-1)?.body).toMatchObject({ model: 'gpt-4o-mini' });
    report.push(`new route: ${summary(ms)}`);
    expect(Math.max(...ms)).toBeLessThan(1000);
  });

  it('refuses a key revoked through A on B within a second', async () => {
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const created = await a.apiKeys.createApiKey({ workspaceId, apiKey: { name: `doomed-${i}`, gateways: [], defaultGateway: 'main' } });
      await until(async () => (await chat(B, created.secret)).status === 200, 3000, PROBE_EVERY_MS);
      await a.apiKeys.revokeApiKey({ id: created.apiKey!.id });
      ms.push(await seenWithin(() => chat(B, created.secret), (res) => res.status === 401));
    }
    report.push(`revoked key: ${summary(ms)}`);
    expect(Math.max(...ms)).toBeLessThan(1000);
  });

  it('enforces a rate limit lowered through A on B within a second', async () => {
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const gateway = `limited-${i}`;
      const id = (await a.gateways.createGateway({ workspaceId, gateway: { name: gateway } })).gateway!.id;
      const limit = (
        await a.gateways.createRateLimit({
          gatewayId: id,
          rateLimit: { name: 'rph', unit: RateLimitUnit.REQUESTS, limit: 1000n, window: RateLimitWindow.HOUR, scope: { kind: { case: 'gateway', value: true } } },
        })
      ).rateLimit!;
      await until(async () => (await chat(B, apiKey, gateway)).headers.get('x-ratelimit-limit-requests') === '1000', 3000, PROBE_EVERY_MS);
      await a.gateways.updateRateLimit({ rateLimit: { id: limit.id, limit: 1n }, updateMask: { paths: ['limit'] } });
      // B has counted at least the one request above, so under the new limit of 1 it refuses.
      ms.push(await seenWithin(() => chat(B, apiKey, gateway), (res) => res.status === 429 && res.headers.get('x-ratelimit-limit-requests') === '1'));
    }
    report.push(`lowered rate limit: ${summary(ms)}`);
    expect(Math.max(...ms)).toBeLessThan(1000);
  });
});

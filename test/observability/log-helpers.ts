/** Shared by the request-log tests: wait until the pipeline has written what the gateway settled. */
import type { SluiceClient } from '@sluice/client';
import type { RequestLog } from '@sluice/client/gen/log';
import type { RunningSluice } from '../helpers/server.js';

/** Flushes the pipeline until `workspaceId` (root's `-` for all) holds at least `count` request logs; returns them newest first. */
export async function waitForRequestLogs(s: RunningSluice, client: SluiceClient, workspaceId: string, count: number, timeoutMs = 10_000): Promise<RequestLog[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await s.sluice.logs.pipeline.flush();
    const all: RequestLog[] = [];
    let pageToken = '';
    do {
      const page = await client.logs.listRequestLogs({ workspaceId, pageSize: 1000, pageToken });
      all.push(...page.requestLogs);
      pageToken = page.nextPageToken;
    } while (pageToken);
    if (all.length >= count) return all;
    if (Date.now() > deadline) throw new Error(`expected ${count} request logs in ${workspaceId}, found ${all.length}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

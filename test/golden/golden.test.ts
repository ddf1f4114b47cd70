/**
 * Golden tests for every translator pair. Each directory
 * `test/golden/<client>__<upstream>/` holds cases named by a prefix:
 *
 *   <case>.request.json            { "body": {...client request...}, "target": { "model", "stream" } }
 *   <case>.upstream-request.json   the expected UpstreamCall (path, body, headers)
 *   <case>.upstream-response.json  an upstream response body            (optional)
 *   <case>.response.json           expected { body, usage } for the client (with the above)
 *   <case>.upstream-stream.sse     raw upstream SSE bytes               (optional)
 *   <case>.stream.sse              expected client SSE text (with the above)
 *   <case>.stream-usage.json       expected usage after the stream
 *   <case>.upstream-error.json     { "status", "body" } of an upstream error (optional)
 *   <case>.error.json              expected UpstreamError
 *
 * UPDATE_GOLDEN=1 rewrites the expected files from the current output; review
 * the diff against the providers' documentation before committing it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSse, SseParser } from '../../src/llm/sse.js';
import { TRANSLATORS } from '../../src/llm/translators/index.js';

const ROOT = import.meta.dirname;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function check(file: string, actual: unknown, asText = false): void {
  const text = asText ? String(actual) : `${JSON.stringify(actual, null, 2)}\n`;
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) throw new Error(`missing golden file ${file}; run with UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, text);
    return;
  }
  if (asText) expect(text).toBe(readFileSync(file, 'utf8'));
  else expect(actual).toEqual(readJson(file));
}

const pairs = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

it('has golden cases for every translator pair', () => {
  expect(Object.keys(TRANSLATORS).filter((pair) => !pairs.includes(pair))).toEqual([]);
});

for (const pair of pairs) {
  describe(pair, () => {
    const factory = TRANSLATORS[pair];
    const dir = join(ROOT, pair);
    const cases = readdirSync(dir)
      .filter((f) => f.endsWith('.request.json') && !f.endsWith('.upstream-request.json'))
      .map((f) => f.slice(0, -'.request.json'.length));

    it('is a registered pair with cases', () => {
      expect(factory, `no translator registered for ${pair}`).toBeDefined();
      expect(cases.length).toBeGreaterThan(0);
    });

    for (const name of cases) {
      const at = (suffix: string) => join(dir, `${name}.${suffix}`);
      it(name, () => {
        const input = readJson(at('request.json')) as { body: Record<string, unknown>; target: { model: string; stream: boolean } };
        check(at('upstream-request.json'), factory!().request(structuredClone(input.body), input.target));

        if (existsSync(at('upstream-response.json'))) {
          const t = factory!();
          t.request(structuredClone(input.body), input.target);
          check(at('response.json'), t.response(readJson(at('upstream-response.json'))));
        }
        if (existsSync(at('upstream-stream.sse'))) {
          const t = factory!();
          t.request(structuredClone(input.body), input.target);
          const parser = new SseParser();
          const raw = readFileSync(at('upstream-stream.sse'));
          const out: string[] = [];
          // Feed in small uneven slices: events split across chunks must still parse.
          for (let i = 0; i < raw.length; i += 7) {
            for (const e of parser.push(raw.subarray(i, i + 7))) out.push(...t.streamEvent(e).map(formatSse));
          }
          for (const e of parser.end()) out.push(...t.streamEvent(e).map(formatSse));
          out.push(...t.streamEnd(true).map(formatSse));
          check(at('stream.sse'), out.join(''), true);
          check(at('stream-usage.json'), t.usage());
        }
        if (existsSync(at('upstream-error.json'))) {
          const err = readJson(at('upstream-error.json')) as { status: number; body: unknown };
          const t = factory!();
          t.request(structuredClone(input.body), input.target);
          check(at('error.json'), t.error(err.status, err.body));
        }
      });
    }
  });
}

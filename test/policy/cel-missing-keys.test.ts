/**
 * The "Missing keys" section of src/policy/README.md, pinned: indexing a map
 * with a missing key is a runtime error (also for `!=`), and each documented
 * safe form gives the intended answer with and without the key.
 */
import { describe, expect, it } from 'vitest';
import { compileCel, type CelContext } from '../../src/policy/cel.js';

function context(headers: Record<string, string>, metadata: Record<string, string> = {}, body: Record<string, unknown> = {}): CelContext {
  return {
    request: { method: 'POST', path: '/v1/chat/completions', headers, query: {}, body, model: 'openai/gpt-4o' },
    key: { id: 'key_1', name: 'app', metadata },
    gateway: { name: 'main' },
    workspace: { name: 'acme' },
  } as CelContext;
}

const without = context({});
const withAll = context({ 'x-tier': 'premium', 'x-user-id': 'u1', 'x-debug': '1' }, { team: 'ml' }, { max_tokens: 2000 });

describe('CEL with missing map keys', () => {
  it('fails at run time on a missing header, for == and != alike', () => {
    expect(compileCel('request.headers["x-tier"] == "premium"', 'bool').evaluate(without)).toEqual({ ok: false, error: '1:16: No such key: x-tier' });
    expect(compileCel('request.headers["x-tier"] != "free"', 'bool').evaluate(without)).toMatchObject({ ok: false });
    expect(compileCel('key.metadata["team"] in ["ml"]', 'bool').evaluate(without)).toMatchObject({ ok: false });
  });

  it.each([
    ['request.headers[?"x-tier"].orValue("") == "premium"', 'bool', false, true],
    ['"x-tier" in request.headers && request.headers["x-tier"] == "premium"', 'bool', false, true],
    ['request.headers[?"x-user-id"].orValue(key.id)', 'key', 'key_1', 'u1'],
    ['"x-user-id" in request.headers ? request.headers["x-user-id"] : key.id', 'key', 'key_1', 'u1'],
    ['key.metadata[?"team"].orValue("") in ["ml", "research"]', 'bool', false, true],
    ['has(request.body.max_tokens) && request.body.max_tokens > 1000', 'bool', false, true],
    ['request.headers[?"x-debug"].hasValue()', 'bool', false, true],
    // bucket("key_1", 100) is 0 and bucket("u1", 100) is 35: without the header the key's bucket is used.
    ['bucket(request.headers[?"x-user-id"].orValue(key.id), 100) < 20', 'bool', true, false],
  ] as const)('%s is safe', (source, expected, missing, present) => {
    const compiled = compileCel(source, expected as 'bool');
    expect(compiled.evaluate(without)).toEqual({ ok: true, value: missing });
    expect(compiled.evaluate(withAll)).toEqual({ ok: true, value: present });
  });
});

import { describe, expect, it } from 'vitest';
import { lastObjectValue } from './json-sniff.js';

describe('lastObjectValue', () => {
  it('reads the top-level usage of an OpenAI answer, nested objects included', () => {
    const text = JSON.stringify({
      id: 'x',
      choices: [{ message: { content: 'the "usage": {"prompt_tokens": 999} is quoted here', tool_calls: [{ function: { arguments: '{"usage":{"a":1}}' } }] } }],
      usage: { prompt_tokens: 12, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 }, note: 'a } and a { in a string' },
      system_fingerprint: 'fp',
    });
    expect(lastObjectValue(text, 'usage')).toEqual({ prompt_tokens: 12, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2 }, note: 'a } and a { in a string' });
  });

  it('tolerates whitespace after the colon (pretty-printed upstreams)', () => {
    expect(lastObjectValue('{"usage":  \n {"prompt_tokens": 1}}', 'usage')).toEqual({ prompt_tokens: 1 });
  });

  it('is undefined when the key is absent, null, not an object, or cut off', () => {
    expect(lastObjectValue('{"id":"x"}', 'usage')).toBeUndefined();
    expect(lastObjectValue('{"usage":null}', 'usage')).toBeUndefined();
    expect(lastObjectValue('{"usage":[1]}', 'usage')).toBeUndefined();
    expect(lastObjectValue('{"usage":{"prompt_tokens":1', 'usage')).toBeUndefined();
  });
});

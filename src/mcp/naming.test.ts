import { describe, expect, it } from 'vitest';
import { exposedName, MAX_NAME_LENGTH, mayBelongTo } from './naming.js';

const name = (server: string, tool: string) => {
  const r = exposedName(server, tool);
  if (!r.ok) throw new Error(r.reason);
  return r.name;
};

describe('exposedName', () => {
  it('joins server and tool with "__" when the result is a valid, short name', () => {
    expect(name('everything', 'get-sum')).toBe('everything__get-sum');
    expect(name('memory', 'create_entities')).toBe('memory__create_entities');
  });

  it('replaces ".", "/", ":" and spaces, and then adds a stable hash so the name cannot collide with an unchanged one', () => {
    const dotted = name('fs', 'read.file');
    expect(dotted).toMatch(/^fs__read_file_[0-9a-f]{8}$/);
    expect(dotted).not.toBe(name('fs', 'read_file'));
    expect(name('fs', 'read.file')).toBe(dotted);
    expect(name('fs', 'a/b:c d')).toMatch(/^fs__a_b_c_d_[0-9a-f]{8}$/);
  });

  it('truncates long names to 64 characters with a hash suffix that tells them apart', () => {
    const long = 'x'.repeat(80);
    const a = name('github', `${long}a`);
    const b = name('github', `${long}b`);
    expect(a).toHaveLength(MAX_NAME_LENGTH);
    expect(a).not.toBe(b);
    expect(a.startsWith('github__xxx')).toBe(true);
    expect(name('s', 'y'.repeat(61))).toBe(`s__${'y'.repeat(61)}`);
    expect(name('s', 'y'.repeat(62))).toHaveLength(MAX_NAME_LENGTH);
    expect(name('a'.repeat(63), 't')).toHaveLength(MAX_NAME_LENGTH);
  });

  it('skips names with characters it cannot map', () => {
    expect(exposedName('s', 'naïve')).toEqual({ ok: false, reason: 'invalid_name' });
    expect(exposedName('s', 'rm -rf $HOME')).toEqual({ ok: false, reason: 'invalid_name' });
    expect(exposedName('s', '')).toEqual({ ok: false, reason: 'invalid_name' });
  });

  it('lets the owner be found from the name, also when the server part was cut', () => {
    expect(mayBelongTo(name('everything', 'echo'), 'everything')).toBe(true);
    expect(mayBelongTo(name('everything', 'echo'), 'every')).toBe(false);
    const server = 'a'.repeat(63);
    expect(mayBelongTo(name(server, 'tool'), server)).toBe(true);
    expect(mayBelongTo(name(server, 'tool'), 'b')).toBe(false);
  });
});

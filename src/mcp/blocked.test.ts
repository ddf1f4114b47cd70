import { describe, expect, it } from 'vitest';
import { createToolBlocker, globMatches } from './blocked.js';

describe('globMatches', () => {
  it('matches literally except for "*"', () => {
    expect(globMatches('echo', 'echo')).toBe(true);
    expect(globMatches('echo', 'echo2')).toBe(false);
    expect(globMatches('get-*', 'get-env')).toBe(true);
    expect(globMatches('get-*', 'get-')).toBe(true);
    expect(globMatches('*-env', 'get-env')).toBe(true);
    expect(globMatches('*', '')).toBe(true);
    expect(globMatches('a*b*c', 'axxbyyc')).toBe(true);
    expect(globMatches('a*b*c', 'axxbyy')).toBe(false);
    expect(globMatches('a.b', 'axb')).toBe(false);
  });

  it('stays fast on patterns that make backtracking regexes explode', () => {
    const started = Date.now();
    expect(globMatches('*a*a*a*a*a*a*a*a*b', 'a'.repeat(128))).toBe(false);
    expect(Date.now() - started).toBeLessThan(50);
  });
});

describe('createToolBlocker', () => {
  const server = (name: string, blockedTools: string[] = []) => ({ name, blockedTools });

  it('applies server:tool, server:* and *:tool gateway patterns', () => {
    const blocked = createToolBlocker(['github:delete_repo', 'fs:*', '*:get-env']);
    expect(blocked(server('github'), 'delete_repo')).toBe(true);
    expect(blocked(server('github'), 'create_issue')).toBe(false);
    expect(blocked(server('gitlab'), 'delete_repo')).toBe(false);
    expect(blocked(server('fs'), 'read')).toBe(true);
    expect(blocked(server('anything'), 'get-env')).toBe(true);
  });

  it('applies the server\'s own tool globs', () => {
    const blocked = createToolBlocker([]);
    expect(blocked(server('s', ['get-*']), 'get-secret')).toBe(true);
    expect(blocked(server('s', ['get-*']), 'echo')).toBe(false);
  });

  it('reads a pattern without a server part as applying to every server', () => {
    expect(createToolBlocker(['drop_*'])(server('db'), 'drop_table')).toBe(true);
  });
});

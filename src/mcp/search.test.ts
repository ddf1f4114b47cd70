import { describe, expect, it } from 'vitest';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { schemaText, ToolIndex, ToolIndexCache, words } from './search.js';

const tool = (name: string, description: string, properties: Record<string, object> = {}): Tool => ({ name, description, inputSchema: { type: 'object', properties } });
const tools = [
  { server: 'github', tool: tool('github__create_issue', 'Open a new issue in a repository', { title: { type: 'string', description: 'Issue title' }, repo: { type: 'string' } }) },
  { server: 'github', tool: tool('github__list_pull_requests', 'List pull requests of a repository', { state: { type: 'string', enum: ['open', 'closed'] } }) },
  { server: 'slack', tool: tool('slack__postMessage', 'Send a message to a channel', { channel: { type: 'string', description: 'Channel id' } }) },
  { server: 'fs', tool: tool('fs__read_file', 'Read the contents of a file', { path: { type: 'string' } }) },
];

describe('tool search', () => {
  it('splits names and reads schema text', () => {
    expect(words('slack__postMessage get-sum HTTPServer')).toEqual(['slack', 'post', 'message', 'get', 'sum', 'http', 'server']);
    expect(schemaText({ type: 'object', properties: { state: { description: 'PR state', enum: ['open', 'closed'] }, items: { type: 'array', items: { properties: { deep: {} } } } } })).toEqual([
      'state',
      'PR state',
      'open',
      'closed',
      'items',
      'deep',
    ]);
  });

  it('ranks with BM25 over name, description and schema, and filters by server', () => {
    const index = new ToolIndex(tools);
    expect(index.query('send a chat message', { limit: 3 })[0]?.tool.name).toBe('slack__postMessage');
    expect(index.query('open issue', { limit: 3 })[0]?.tool.name).toBe('github__create_issue');
    expect(index.query('closed', { limit: 3 })[0]?.tool.name).toBe('github__list_pull_requests');
    expect(index.query('repository', { limit: 5, server: 'github' }).every((h) => h.server === 'github')).toBe(true);
    expect(index.query('the of a', { limit: 5 })).toEqual([]);
  });

  it('matches RE2 regexes, names first, and rejects invalid ones', () => {
    const index = new ToolIndex(tools);
    expect(index.regex('^github__', { limit: 5 }).map((h) => h.tool.name)).toEqual(['github__create_issue', 'github__list_pull_requests']);
    expect(index.regex('channel', { limit: 5 }).map((h) => [h.tool.name, h.score])).toEqual([['slack__postMessage', 2]]);
    // A pattern that backtracks exponentially in JS regexes stays linear in RE2.
    const started = Date.now();
    new ToolIndex([{ server: 'x', tool: tool(`x__${'a'.repeat(5000)}`, 'a'.repeat(5000)) }]).regex('(a+)+$b', { limit: 1 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(() => index.regex('(unclosed', { limit: 1 })).toThrow(SyntaxError);
  });

  it('builds an index once per list, and keeps it when a re-fetched list is unchanged', () => {
    const cache = new ToolIndexCache();
    const list = tools.map((t) => t.tool);
    const a = cache.get('gw', [list], () => tools);
    expect(cache.get('gw', [list], () => tools)).toBe(a);
    expect(cache.get('gw', [[...list]], () => tools)).toBe(a);
    expect(cache.builds).toBe(1);
    const changed = cache.get('gw', [list.slice(1)], () => tools.slice(1));
    expect(changed).not.toBe(a);
    expect(cache.builds).toBe(2);
  });
});

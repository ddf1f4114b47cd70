import { describe, expect, it } from 'vitest';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { DeferMode, UpstreamServer } from './config.js';
import { exposeTools } from './inspect.js';

function server(name: string, blockedTools: string[] = [], deferLoading: DeferMode = 'inherit'): UpstreamServer {
  return { id: `mcp_${name}`, name, gatewayId: 'gw', transport: 'streamable_http', url: 'http://127.0.0.1/mcp', command: '', args: [], env: {}, timeoutMs: 1000, auth: { mode: 'none' }, blockedTools, deferLoading, fingerprint: 'f' };
}

const tool = (name: string): Tool => ({ name, inputSchema: { type: 'object' } });

describe('exposeTools', () => {
  it('applies every gateway pattern form and the server patterns to the upstream name', () => {
    const tools = ['read', 'write_file', 'write_dir', 'drop', 'keep'].map(tool);
    const gateway = { blockedTools: ['fs:write_*', '*:drop', 'other:keep'], deferLoading: false };
    const out = exposeTools(server('fs', ['re*d']), gateway, tools);
    expect(out.map((t) => [t.upstreamName, t.blocked])).toEqual([
      ['read', true],
      ['write_file', true],
      ['write_dir', true],
      ['drop', true],
      ['keep', false],
    ]);
    // A pattern without `server:` blocks on every server.
    expect(exposeTools(server('fs'), { blockedTools: ['keep'], deferLoading: false }, [tool('keep')])[0]?.blocked).toBe(true);
  });

  it('takes no name for a blocked tool, so a later tool with the same exposed name is the one exposed', () => {
    const out = exposeTools(server('s', ['dup']), { blockedTools: [], deferLoading: false }, [tool('dup'), { ...tool('dup'), description: 'second' }]);
    // Both match the server's pattern (patterns see the upstream name), so both are blocked and neither is a duplicate.
    expect(out.map((t) => [t.namespacedName, t.blocked, t.skipReason])).toEqual([
      ['s__dup', true, undefined],
      ['s__dup', true, undefined],
    ]);
    const mixed = exposeTools(server('s'), { blockedTools: ['s:a.b'], deferLoading: false }, [tool('a.b'), tool('a_b'), tool('a_b')]);
    expect(mixed.map((t) => [t.namespacedName.replace(/_[0-9a-f]{8}$/, '_<hash>'), t.blocked, t.skipReason])).toEqual([
      ['s__a_b_<hash>', true, undefined],
      ['s__a_b', false, undefined],
      ['', false, 'duplicate_name'],
    ]);
  });

  it("follows the server's override, else the gateway default, for deferred", () => {
    const tools = [tool('t')];
    for (const [mode, gatewayDefault, deferred] of [
      ['inherit', true, true],
      ['inherit', false, false],
      ['enabled', false, true],
      ['disabled', true, false],
    ] as const) {
      expect(exposeTools(server('s', [], mode), { blockedTools: [], deferLoading: gatewayDefault }, tools)[0]?.deferred, `${mode}/${gatewayDefault}`).toBe(deferred);
    }
  });
});

/**
 * Blocked-tool patterns. A blocked tool is left out of every list and its
 * calls are refused. Two sources, both matched against the upstream's own
 * tool name (not the namespaced one):
 * - the gateway's `mcp.blocked_tools`: `server:tool`, `server:*`, `*:tool`,
 *   where the server part is a server name or `*` and the tool part a glob;
 * - the server's own `blocked_tools`: tool-name globs.
 * Globs know one wildcard, `*` (any run of characters, also empty). Matching
 * is iterative with one backtrack point, so it stays linear-ish in the name
 * length whatever the pattern.
 */

/** Whether `text` matches the glob `pattern` (`*` only). */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Decides whether a tool of a server is blocked on a gateway. */
export type ToolBlocker = (server: { name: string; blockedTools: readonly string[] }, tool: string) => boolean;

/**
 * Compiles the gateway's patterns. A pattern without `:` is read as
 * `*:<pattern>` (block everywhere) rather than ignored.
 */
export function createToolBlocker(gatewayPatterns: readonly string[]): ToolBlocker {
  const rules = gatewayPatterns.map((pattern) => {
    const colon = pattern.indexOf(':');
    return colon < 0 ? { server: '*', tool: pattern } : { server: pattern.slice(0, colon), tool: pattern.slice(colon + 1) };
  });
  return (server, tool) =>
    rules.some((r) => (r.server === '*' || r.server === server.name) && globMatches(r.tool, tool)) ||
    server.blockedTools.some((pattern) => globMatches(pattern, tool));
}

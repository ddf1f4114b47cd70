/**
 * The MCP gateway: one Streamable HTTP MCP endpoint per gateway aggregating
 * its approved upstream MCP servers. See README.md in this directory.
 */
export { DEFERRED_HEADER, registerMcpRoutes, type McpRoutesOptions } from './routes.js';
export { GATEWAY_SERVER } from './governance.js';
export { ORCHESTRATOR, SEARCH_TOOLS } from './gateway-tools.js';
export { McpRuntime, DEFAULT_MCP_LIMITS, type McpLimits } from './runtime.js';
export { META_SERVER, META_SKIPPED, META_UPSTREAM_ERRORS, META_UPSTREAM_NAME } from './aggregate.js';
export { exposedName, MAX_NAME_LENGTH, NAME_SEPARATOR } from './naming.js';

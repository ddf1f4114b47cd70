/**
 * Config as code: `sluice.yaml` loaded, planned against the control API and
 * applied through it. The CLI uses exactly this surface:
 *
 *   const { config, problems } = await loadConfigFile(path, process.env);
 *   const plan = await planConfig(config, client);   // dry run stops here
 *   const result = await applyPlan(plan, client);
 *
 * See README.md in this folder for the file format.
 */
export { loadConfigFile, loadConfigText, interpolate, type LoadResult } from './load.js';
export { validateConfig, type SluiceConfig } from './schema.js';
export { planConfig, ConfigRpcError, type Plan, type Change, type Action, type ResourceKind } from './plan.js';
export { applyPlan, type ApplyResult, type GeneratedSecret } from './apply.js';
export { formatPlan, formatResult } from './format.js';

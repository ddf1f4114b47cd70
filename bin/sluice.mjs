#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx's loader transpiles on import;
// there is no build step and no runtime cost after loading).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

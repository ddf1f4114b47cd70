// The sandbox worker's entry point. Worker threads do not inherit the main
// thread's TypeScript loader, so this registers tsx's before loading the worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');

// Entry of an inference worker when hotpath runs from its TypeScript sources (tests, tsx):
// registers tsx's loader in the worker thread, then loads worker.ts. The built server
// (dist/) starts dist/runtime/worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');

// A worker thread's entry for TypeScript benches: Node 20 does not hand tsx's loader to
// worker threads, so the worker registers it, then imports the .ts module it was given
// (workerData.entry, a file URL).
import { workerData } from 'node:worker_threads';

import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);

// Bootstrap for worker_threads in tests: registers tsx's loader in this thread, then
// imports the TypeScript entry named in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);

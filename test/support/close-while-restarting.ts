// Run as a child process by test/integration/pool.test.ts: crashes the only worker, then
// closes the pool while the replacement starts. The process must then exit on its own
// (a worker left running would keep it alive).
import { Pool } from '../../src/runtime/pool.js';
import { OP, statusName } from '../../src/runtime/records.js';

const pool = new Pool({ workers: 1, ringBytes: 1 << 16, waitQueue: 64, storeId: 0, log: () => {} });
await pool.start();
await pool.load({
  type: 'load', token: 0, slot: 0, name: 'm', version: 1, runtime: 'native', device: 'cpu', path: '', inDim: 1, outDim: 1,
  inputName: 'x', outputName: 'y', maxBatch: 64, maxQueueDelayUs: 0, preferred: [], maxWaitMs: 0, gather: null,
  plan: { inDim: 1, outDim: 1, inputName: 'x', outputName: 'y', layers: [{ kind: 'dense', inDim: 1, outDim: 1, w: new Float32Array([2]), b: null, act: 'none' }] },
});
pool.fault({ type: 'fault', kind: 'crash' }, 0);
const status = await new Promise<string>((resolve) =>
  pool.submit(0, OP.INFER, 1, 4, 1000, { write: (ring, off) => ring.view.setFloat32(off, 1, true), done: (o) => resolve(statusName(o.status)) }));
await pool.close();
console.log(`answered ${status}; closed`);

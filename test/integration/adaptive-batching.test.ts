// Adaptive batching with a real server on port 0 (src/runtime/adaptive-batching.ts): the
// worker waits for the window the main thread writes in the slot's shared word; under a
// steady load with room under the target, the model's queue delay grows from its minimum
// and /metrics shows the delay the workers use; when the model turns slow (a stall injected
// into every batch, past the target), the delay is cut back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Server } from '../../src/server/app.js';
import { FRAUD_INPUTS, FRAUD_V1, makeRepo, metric, metricsText, postJson, STORE_YAML, until } from '../support/inference-server.js';

let server: Server;
let base: string;

const YAML = `
server: { workers: 1, fault_injection: true }
${STORE_YAML}
models:
  fraud:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 64, adaptive: { target_p99_us: 100000, min_queue_delay_us: 0, max_queue_delay_us: 1500 } }
    timeout: 5s
  probe:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 64, adaptive: { target_p99_us: 1000000 } }
    timeout: 5s
`;

beforeAll(async () => {
  const repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
  const { loadConfigText } = await import('../../src/config/load.js');
  const { startServer } = await import('../../src/server/app.js');
  server = await startServer({ config: loadConfigText(YAML, { baseDir: repo }), port: 0, host: '127.0.0.1', log: () => {} });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server?.close();
});

/** Closed-loop load: `clients` requests in flight until stop() (then resolves with the statuses). */
function load(clients: number): { stop: () => Promise<number[]> } {
  let on = true;
  const statuses: number[] = [];
  const loops = Array.from({ length: clients }, async (_, i) => {
    while (on) statuses.push((await postJson(base, '/v1/predict/fraud', { entities: { user: `u${i % 7}`, merchant: `m${i % 3}` }, fields: { amount: i } })).status);
  });
  return {
    stop: async () => {
      on = false;
      await Promise.all(loops);
      return statuses;
    },
  };
}

const gauge = async () => metric(await metricsText(base), 'hotpath_model_queue_delay_target_seconds', 'model="fraud"');

describe('adaptive batching', () => {
  it('has the worker wait for the window written in the slot\'s shared word, read at each look at the queue', async () => {
    // The probe model's controller has not decided a window yet (no requests): write the
    // word as it would, and time a lone request, which waits out the whole window.
    const slot = server.models.get('probe').current!.slot;
    const body = { entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } };
    const timed = async () => {
      const t = performance.now();
      expect((await postJson(base, '/v1/predict/probe', body)).status).toBe(200);
      return performance.now() - t;
    };
    server.pool.setQueueDelay(slot, 400_000);
    expect(await timed()).toBeGreaterThanOrEqual(390);
    server.pool.setQueueDelay(slot, 0);
    expect(await timed()).toBeLessThan(300);
  });

  it('grows the queue delay under load, shows it in /metrics, and cuts it when the model turns slow', async () => {
    const e = server.models.get('fraud');
    const c = e.adaptive!;
    expect(c).toBeDefined();
    expect(c.delayUs).toBe(0);
    const m0 = await metricsText(base);
    expect(m0).toContain('hotpath_model_queue_delay_target_seconds{model="fraud"} 0');

    const l = load(16);
    try {
    // Room under the target: the delay grows to a window that batches. (The target is
    // loose, 100 ms, because this process is also the load's client: its fetch calls share
    // the server's event loop, and on a busy machine they alone make a p99 of tens of ms.)
    await until(() => c.delayUs >= 400, 20_000);
    const grown = await gauge();
    expect(grown).toBeGreaterThanOrEqual(0.0004);
    expect(grown).toBeLessThanOrEqual(0.0015);
    expect(c.last.meanBatch).toBeGreaterThan(1);

    // Every batch now stalls 150 ms: the p99 passes the target, and the delay is cut.
    const before = c.delayUs;
    const steps = c.steps;
    server.pool.fault({ type: 'fault', kind: 'stall', slot: e.current!.slot, ms: 150, until: Date.now() + 20_000 });
    await until(() => c.steps >= steps + 2 && c.delayUs < before / 2, 20_000);
    expect(c.last.p99Us).toBeGreaterThan(100_000);
    expect(await gauge()).toBeLessThan(before / 2 / 1e6);
    } finally {
      const statuses = await l.stop();
      expect(statuses.length).toBeGreaterThan(500);
      expect(statuses.every((s) => s === 200)).toBe(true);
    }
  }, 60_000);
});

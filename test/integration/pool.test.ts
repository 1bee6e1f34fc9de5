// The worker pool on its own (no HTTP): races around worker restarts found in review, each
// kept as a test. A model version loaded while a worker restarts reaches that worker; a
// pool closed while a worker restarts leaves no thread behind; a dead worker's rings are
// released; an answer larger than the response ring is refused, not left to hang the worker;
// answers are collected even when a wait on the response ring never resolves.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { LoadMessage } from '../../src/runtime/worker-protocol.js';
import { Pool } from '../../src/runtime/pool.js';
import { OP, statusName, writeInferBody } from '../../src/runtime/records.js';
import { Ring } from '../../src/runtime/ring.js';

/** y = x . w for a 1-wide input and `outDim` outputs, tensor-only. */
function model(slot: number, outDim = 1): LoadMessage {
  return {
    type: 'load', token: 0, slot, name: `m${slot}`, version: 1, runtime: 'native', device: 'cpu', path: '', inDim: 1, outDim,
    inputName: 'x', outputName: 'y', maxBatch: 64, maxQueueDelayUs: 0, preferred: [], maxWaitMs: 0, gather: null,
    plan: { inDim: 1, outDim, inputName: 'x', outputName: 'y', layers: [{ kind: 'dense', inDim: 1, outDim, w: new Float32Array(outDim).fill(2), b: null, act: 'none' }] },
  };
}

function ask(pool: Pool, slot: number, rows = 1, timeoutMs = 3000): Promise<{ status: string; values?: Float32Array; message?: string }> {
  const x = new Float32Array(rows).fill(1.5);
  return new Promise((resolve) =>
    pool.submit(slot, OP.INFER, rows, x.byteLength, timeoutMs, {
      write: (ring, off) => writeInferBody(ring, off, x),
      done: (o) => resolve({ status: statusName(o.status), values: o.values, message: o.message }), // o is the pool's: copy
    }));
}

describe('worker pool', () => {
  it('loads a version into a worker that was restarting while the load ran', async () => {
    const pool = new Pool({ workers: 2, ringBytes: 1 << 16, waitQueue: 64, storeId: 0, log: () => {} });
    await pool.start();
    try {
      await pool.load(model(0));
      pool.fault({ type: 'fault', kind: 'stall', slot: 0, ms: 600 }, 1); // worker 1 busy: the load waits on it
      pool.fault({ type: 'fault', kind: 'crash' }, 0);
      const crashed = ask(pool, 0); // to worker 0 (both idle): it dies
      const stalled = ask(pool, 0); // to worker 1: it stalls
      expect((await crashed).status).toBe('crashed');
      await pool.load(model(1)); // worker 0 restarts meanwhile
      expect((await stalled).status).toBe('ok');
      await new Promise((r) => setTimeout(r, 100));
      const answers = await Promise.all(Array.from({ length: 20 }, () => ask(pool, 1)));
      expect(answers.map((a) => a.status)).toEqual(new Array(20).fill('ok'));
      expect(answers[0].values![0]).toBe(3);
      expect(pool.restarts).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('closes while a worker restarts, leaving no thread running', () => {
    // In a child process: a worker left running would keep it alive past the timeout.
    const script = fileURLToPath(new URL('../support/close-while-restarting.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { timeout: 20_000, encoding: 'utf8' });
    expect(r.signal, r.stderr).toBeNull();
    expect([r.status, r.stdout.trim()]).toEqual([0, 'answered crashed; closed']);
  });

  it('leaves requests of a slow model in the ring, so that the ring fills and sheds', async () => {
    // The worker takes at most two batches of a model out of its ring. Requests that arrive
    // one by one while the model takes 30 ms each therefore fill the 4 KiB ring (about 70
    // records) and are shed, rather than piling up unbounded inside the worker.
    const pool = new Pool({ workers: 1, ringBytes: 4096, waitQueue: 0, storeId: 0, log: () => {} });
    await pool.start();
    try {
      await pool.load({ ...model(0), maxBatch: 1 });
      pool.fault({ type: 'fault', kind: 'stall', slot: 0, ms: 30 });
      const answers: Promise<{ status: string }>[] = [];
      for (let i = 0; i < 150; i++) {
        answers.push(ask(pool, 0, 1, 400));
        await new Promise((r) => setTimeout(r, 2));
      }
      const statuses = (await Promise.all(answers)).map((a) => a.status);
      expect(statuses.filter((s) => s === 'overloaded').length).toBeGreaterThan(0);
      expect(statuses.every((s) => ['ok', 'overloaded', 'deadline'].includes(s))).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('answers every request once, with its own answer, after requests expired in the ring', async () => {
    // Requests that pass their deadline in the ring are answered by the pool's sweep; their
    // pooled request objects must go back to the free list once, or two later requests
    // share one object and one of them is never answered (a client waits forever).
    const pool = new Pool({ workers: 1, ringBytes: 1 << 16, waitQueue: 64, storeId: 0, log: () => {} });
    await pool.start();
    try {
      await pool.load(model(0));
      pool.fault({ type: 'fault', kind: 'stall', slot: 0, ms: 150, until: Date.now() + 150 });
      const expired = await Promise.all(Array.from({ length: 40 }, () => ask(pool, 0, 1, 20)));
      expect(expired.map((a) => a.status)).toEqual(new Array(40).fill('deadline'));
      await new Promise((r) => setTimeout(r, 200));
      const own = (i: number) =>
        new Promise<number>((resolve) => {
          const x = new Float32Array([i]);
          pool.submit(0, OP.INFER, 1, 4, 3000, { write: (ring, off) => writeInferBody(ring, off, x), done: (o) => resolve(o.values?.[0] ?? -1) });
        });
      const timeout = new Promise<string>((r) => setTimeout(() => r('a request was never answered'), 2000));
      const answers = await Promise.race([Promise.all(Array.from({ length: 200 }, (_, i) => own(i))), timeout]);
      expect(answers).toEqual(Array.from({ length: 200 }, (_, i) => 2 * i));
    } finally {
      await pool.close();
    }
  });

  it('refuses an answer larger than the response ring instead of hanging the worker', async () => {
    const pool = new Pool({ workers: 1, ringBytes: 4096, waitQueue: 64, storeId: 0, log: () => {} });
    await pool.start();
    try {
      await pool.load(model(0, 64));
      expect((await ask(pool, 0, 2)).status).toBe('ok');
      const big = await ask(pool, 0, 500); // 500 x 64 values: more than the response ring holds
      expect([big.status, big.message]).toEqual(['error', expect.stringMatching(/larger than a response ring/)]);
      expect((await ask(pool, 0, 2)).status).toBe('ok'); // the worker still serves
    } finally {
      await pool.close();
    }
  });

  it('collects answers whose wake-up never resolves the main thread\'s wait', async () => {
    // Every waitAsync of this thread registers (WAITING = 1, the worker notifies) but its
    // promise is dropped: as if the platform lost the resolution. The deadline ticker must
    // see the woken ring and collect the answers long before their 3 s deadline.
    const waitAsync = Object.getOwnPropertyDescriptor(Ring.prototype, 'waitAsync')!.value as Ring['waitAsync'];
    Ring.prototype.waitAsync = function (this: Ring) {
      const p = waitAsync.call(this);
      return p === null ? null : new Promise<unknown>(() => {});
    };
    const pool = new Pool({ workers: 1, ringBytes: 1 << 16, waitQueue: 64, storeId: 0, log: () => {} });
    try {
      await pool.start();
      await pool.load(model(0));
      const t0 = performance.now();
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all(Array.from({ length: 1 + (round % 5) }, () => ask(pool, 0)));
        expect(answers.map((a) => [a.status, a.values![0]])).toEqual(answers.map(() => ['ok', 3]));
      }
      expect(performance.now() - t0).toBeLessThan(2000); // 20 rounds, none waiting out a deadline
      expect(pool.wakeupsRecovered).toBeGreaterThan(0);
    } finally {
      Ring.prototype.waitAsync = waitAsync;
      await pool.close();
    }
  });
});

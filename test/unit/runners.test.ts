// The runners behind the worker (src/runtime/runners/): the native dense runtime and
// onnxruntime give the same answers on the fixture models, and the fault-injecting runner
// stalls, fails and crashes as the tests ask, and otherwise passes through.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { readOnnx } from '../../src/runtime/onnx-graph.js';
import { planNative } from '../../src/runtime/onnx-plan.js';
import { FaultRunner } from '../../src/runtime/runners/fault.js';
import { NativeRunner } from '../../src/runtime/runners/native.js';
import { OnnxRunner } from '../../src/runtime/runners/onnx.js';
import { createRunner, type Runner } from '../../src/runtime/runners/runner.js';
import type { LoadMessage } from '../../src/runtime/worker-protocol.js';
import { mulberry32 } from '../support/random.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string): string => `${root}test/fixtures/models/${name}.onnx`;
const FIXTURES = ['gemm_relu_sigmoid', 'gemm_notrans_tanh', 'matmul_add_softmax', 'gemm_nobias_chain'];
const MAX_BATCH = 16;

function loadMessage(path: string, runtime: 'native' | 'onnx'): LoadMessage {
  const g = readOnnx(readFileSync(path));
  const p = planNative(g);
  if (!('plan' in p)) throw new Error(p.unsupported);
  const [input, output] = [g.inputs[0], g.outputs[0]];
  return {
    type: 'load', token: 0, slot: 0, name: 'm', version: 1, runtime, plan: p.plan, path, device: 'cpu', inDim: input.shape[1], outDim: output.shape[1],
    inputName: input.name, outputName: output.name, maxBatch: MAX_BATCH, maxQueueDelayUs: 0, preferred: [], maxWaitMs: 0, gather: null,
  };
}

const run = async (r: Runner, x: Float32Array, rows: number, y: Float32Array): Promise<Float32Array> => await r.run(x, rows, y);

describe('native and onnxruntime runners', () => {
  for (const name of FIXTURES) {
    it(`answer alike on ${name}`, async () => {
      const m = loadMessage(fixture(name), 'native');
      const native = await createRunner(m);
      const onnx = await createRunner({ ...m, runtime: 'onnx' });
      expect([native.kind, onnx.kind]).toEqual(['native', 'onnx']);
      expect(native).toBeInstanceOf(NativeRunner);
      expect(onnx).toBeInstanceOf(OnnxRunner);
      const rand = mulberry32(7);
      try {
        for (const rows of [1, 3, MAX_BATCH]) {
          // x longer than rows x inDim, as the worker's reused batch buffer is.
          const x = Float32Array.from({ length: MAX_BATCH * m.inDim }, () => rand() * 4 - 2);
          const y = new Float32Array(MAX_BATCH * m.outDim);
          const a = (await run(native, x, rows, y)).slice(0, rows * m.outDim);
          const b = (await run(onnx, x, rows, new Float32Array(0))).slice(0, rows * m.outDim);
          expect(a.length).toBe(rows * m.outDim);
          for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `${name} rows ${rows} value ${i}`).toBeLessThan(1e-5);
        }
      } finally {
        await native.release();
        await onnx.release();
      }
    });
  }
});

describe('FaultRunner', () => {
  const inner = (): Runner & { runs: number } => ({
    kind: 'fake',
    runs: 0,
    run(x, rows, y) {
      this.runs++;
      for (let i = 0; i < rows; i++) y[i] = x[i] * 2;
      return y;
    },
    release() {},
  });

  it('passes through until told otherwise', () => {
    const f = new FaultRunner(inner());
    expect(f.kind).toBe('fake');
    expect(Array.from(f.run(new Float32Array([1, 2]), 2, new Float32Array(2)) as Float32Array)).toEqual([2, 4]);
  });

  it('fails the next n runs, then runs again', () => {
    const i = inner();
    const f = new FaultRunner(i);
    f.failNext = 2;
    const y = new Float32Array(1);
    expect(() => f.run(new Float32Array([1]), 1, y)).toThrow(/injected model failure/);
    expect(() => f.run(new Float32Array([1]), 1, y)).toThrow(/injected model failure/);
    expect(i.runs).toBe(0); // the model never ran
    expect((f.run(new Float32Array([3]), 1, y) as Float32Array)[0]).toBe(6);
  });

  it('stalls each run by stallMs, blocking the thread as a slow model does', () => {
    const f = new FaultRunner(inner());
    f.stallMs = 40;
    const t0 = performance.now();
    f.run(new Float32Array([1]), 1, new Float32Array(1));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    f.stallMs = 0;
    const t1 = performance.now();
    f.run(new Float32Array([1]), 1, new Float32Array(1));
    expect(performance.now() - t1).toBeLessThan(20);
  });

  it('heals by itself at stallUntil / failUntil (a fake clock)', () => {
    let now = 1000;
    const i = inner();
    const f = new FaultRunner(i, () => {}, () => now);
    const y = new Float32Array(1);
    f.failNext = 1e9;
    f.failUntil = 1500;
    expect(() => f.run(new Float32Array([1]), 1, y)).toThrow(/injected model failure/);
    now = 1500;
    expect((f.run(new Float32Array([2]), 1, y) as Float32Array)[0]).toBe(4);
    // A stall never sleeps past its end: 30 ms left of a 5 s stall, then none.
    f.stallMs = 5000;
    f.stallUntil = 1530;
    const t0 = performance.now();
    f.run(new Float32Array([1]), 1, y);
    const slept = performance.now() - t0;
    expect(slept).toBeGreaterThanOrEqual(29);
    expect(slept).toBeLessThan(1000);
    now = 1530;
    const t1 = performance.now();
    f.run(new Float32Array([1]), 1, y);
    expect(performance.now() - t1).toBeLessThan(20);
  });

  it('crashes once: the next run calls exit (process.exit in a worker)', () => {
    let exits = 0;
    const f = new FaultRunner(inner(), () => exits++);
    f.crashNext = true;
    f.run(new Float32Array([1]), 1, new Float32Array(1));
    f.run(new Float32Array([1]), 1, new Float32Array(1));
    expect(exits).toBe(1);
  });
});

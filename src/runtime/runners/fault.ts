// A runner that injects faults into another, for the tests (the pool's fault() control
// message installs one around a loaded model): stall (sleep that long before each run, the
// thread blocked as a slow model blocks it), fail (the next n runs throw), crash (the next
// run ends the worker thread's process, with the batch in flight).
import type { Runner } from './runner.js';

/** A word nobody notifies: Atomics.wait on it is a plain sleep. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export class FaultRunner implements Runner {
  readonly inner: Runner;
  readonly #exit: () => void;
  stallMs = 0;
  failNext = 0;
  crashNext = false;

  constructor(inner: Runner, exit: () => void = () => process.exit(70)) {
    this.inner = inner;
    this.#exit = exit;
  }

  get kind(): string {
    return this.inner.kind;
  }

  run(x: Float32Array, rows: number, y: Float32Array): Float32Array | Promise<Float32Array> {
    if (this.crashNext) {
      this.crashNext = false;
      this.#exit();
    }
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected model failure');
    }
    if (this.stallMs > 0) Atomics.wait(SLEEPER, 0, 0, this.stallMs);
    return this.inner.run(x, rows, y);
  }

  release(): void | Promise<void> {
    return this.inner.release();
  }
}

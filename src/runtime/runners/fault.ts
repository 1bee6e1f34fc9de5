// A runner that injects faults into another, for tests and the fault bench (the pool's
// fault() control message installs one around a loaded model): stall (sleep that long
// before each run, the thread blocked as a slow model blocks it), fail (the next n runs
// throw), crash (the next run ends the worker thread's process, with the batch in flight).
// A stall or a failure may carry an end time (`stallUntil`, `failUntil`, epoch ms): it
// heals by itself then, without a second control message (which a stalled worker would
// read only after the stall).
import type { Runner } from './runner.js';

/** A word nobody notifies: Atomics.wait on it is a plain sleep. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export class FaultRunner implements Runner {
  readonly inner: Runner;
  readonly #exit: () => void;
  readonly #now: () => number;
  stallMs = 0;
  /** epoch ms when the stall ends (a run never sleeps past it); 0: not before stallMs is changed */
  stallUntil = 0;
  failNext = 0;
  /** epoch ms when the failures end; 0: not before failNext runs out */
  failUntil = 0;
  crashNext = false;

  constructor(inner: Runner, exit: () => void = () => process.exit(70), now: () => number = Date.now) {
    this.inner = inner;
    this.#exit = exit;
    this.#now = now;
  }

  get kind(): string {
    return this.inner.kind;
  }

  takeDeviceLoss(): string | null {
    return this.inner.takeDeviceLoss?.() ?? null;
  }

  injectDeviceFault(): boolean {
    return this.inner.injectDeviceFault?.() ?? false;
  }

  run(x: Float32Array, rows: number, y: Float32Array): Float32Array | Promise<Float32Array> {
    if (this.crashNext) {
      this.crashNext = false;
      this.#exit();
    }
    if (this.failNext > 0 && (this.failUntil === 0 || this.#now() < this.failUntil)) {
      this.failNext--;
      throw new Error('injected model failure');
    }
    if (this.stallMs > 0) {
      const ms = this.stallUntil === 0 ? this.stallMs : Math.min(this.stallMs, this.stallUntil - this.#now());
      if (ms > 0) Atomics.wait(SLEEPER, 0, 0, ms);
    }
    return this.inner.run(x, rows, y);
  }

  release(): void | Promise<void> {
    return this.inner.release();
  }
}

// NAB's windowed Gaussian detector (nab/detectors/gaussian/windowedGaussian_detector.py),
// rewritten to check our scorer end to end against its published 39.6.
//
// The window fills with the first 6400 values, refitting mean and std after each; once
// full it slides by whole steps of 100 (values wait in a step buffer; the fit changes
// only when the step is complete). A value is scored against the fit before it joins:
// 1 - Q(|x - mean| / std), Q the normal tail; the first value scores 0. std is the
// population std (numpy.std), 1e-6 when the window is constant.
import type { StreamDetector } from '../run.js';
import { normalTail } from '../stats.js';

export interface WindowedGaussianOptions {
  windowSize?: number;
  stepSize?: number;
}

export class WindowedGaussian implements StreamDetector {
  readonly #size: number;
  readonly #step: number;
  #window: number[] = [];
  #buffer: number[] = [];
  #mean = 0;
  #std = 1;

  constructor(o: WindowedGaussianOptions = {}) {
    this.#size = o.windowSize ?? 6400;
    this.#step = o.stepSize ?? 100;
  }

  score(_timestampMs: number, value: number): number {
    const s = this.#window.length > 0 ? 1 - normalTail(Math.abs(value - this.#mean) / this.#std) : 0;
    if (this.#window.length < this.#size) {
      this.#window.push(value);
      this.#fit();
    } else {
      this.#buffer.push(value);
      if (this.#buffer.length === this.#step) {
        this.#window = this.#window.slice(this.#step).concat(this.#buffer);
        this.#buffer = [];
        this.#fit();
      }
    }
    return s;
  }

  // Two passes, as numpy.mean / numpy.std compute them.
  #fit(): void {
    const w = this.#window;
    let sum = 0;
    for (const x of w) sum += x;
    this.#mean = sum / w.length;
    let ss = 0;
    for (const x of w) ss += (x - this.#mean) ** 2;
    this.#std = Math.sqrt(ss / w.length) || 0.000001;
  }
}

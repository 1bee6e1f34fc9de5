// Adaptive batching's controller (src/runtime/adaptive-batching.ts) on a fake clock, against
// a synthetic server: requests arrive at a rate, a batch window of d µs collects
// 1 + rate x d of them (at most max_batch), each waits somewhere in the window, then the
// batch computes (a fixed cost plus a cost per row), plus noise. The controller sees only
// what the server would give it: each request's time, and the rows and executions counters.
import { describe, expect, it } from 'vitest';

import { mulberry32 } from '../../src/bench/random.js';
import { type DelaySink, MIN_SAMPLES, QueueDelayController, WINDOW_MS } from '../../src/runtime/adaptive-batching.js';

const T0 = 1_700_000_000_000;

interface Load {
  /** requests per ms */
  rate: number;
  /** µs per batch, and per row of it */
  batchUs: number;
  rowUs: number;
  /** arrivals evenly spaced (a steady client): a window batches only the requests it spans whole gaps for */
  even?: boolean;
}

class FakeServer implements DelaySink {
  rows = 0;
  executions = 0;
  published: number[] = [];
  now = T0;
  readonly #rand = mulberry32(7);
  readonly maxBatch: number;

  constructor(maxBatch: number) {
    this.maxBatch = maxBatch;
  }

  batches(out: { rows: number; executions: number }): void {
    out.rows = this.rows;
    out.executions = this.executions;
  }

  publish(us: number): void {
    this.published.push(us);
  }

  batchAt(load: Load, delayUs: number): number {
    const more = (load.rate * delayUs) / 1000;
    return Math.min(this.maxBatch, 1 + (load.even ? Math.floor(more) : more));
  }

  /** one request's server-side time (µs) under a window of delayUs */
  latency(load: Load, delayUs: number): number {
    const b = this.batchAt(load, delayUs);
    const wake = delayUs > 0 ? 60 + 60 * this.#rand() : 0;
    const noise = -25 * Math.log(1 - this.#rand());
    return this.#rand() * delayUs + wake + load.batchUs + load.rowUs * b + noise;
  }

  /**
   * Runs `ms` of traffic through the controller; returns, per window the controller
   * decided, the true p99 of the requests in it and the delay they ran under.
   */
  drive(c: QueueDelayController, load: Load, ms: number): { p99: number; delay: number }[] {
    const end = this.now + ms;
    const out: { p99: number; delay: number }[] = [];
    let window: number[] = [];
    let steps = c.steps;
    while (this.now < end) {
      this.now += 1 / load.rate;
      const d = c.delayUs;
      const lat = this.latency(load, d);
      window.push(lat);
      this.rows += 1;
      this.executions += 1 / this.batchAt(load, d);
      c.observe(this.now, lat);
      if (c.steps !== steps) {
        steps = c.steps;
        window.sort((x, y) => x - y);
        out.push({ p99: window[Math.floor(window.length * 0.99)], delay: d });
        window = [];
      }
    }
    return out;
  }
}

const def = { targetP99Us: 2000, minDelayUs: 0, maxDelayUs: 2000 };

describe('QueueDelayController', () => {
  it('grows the delay under a steady load and settles with the p99 under the target', () => {
    const s = new FakeServer(256);
    const c = new QueueDelayController(def, 256, s);
    const load = { rate: 20, batchUs: 150, rowUs: 2 };
    const windows = s.drive(c, load, 60_000);
    expect(windows.length).toBeGreaterThan(200);
    const late = windows.slice(-100);
    // It uses the room: the delay ends well above its start (0) ...
    expect(Math.min(...late.map((w) => w.delay))).toBeGreaterThan(800);
    // ... and the p99 of almost every window stays at or under the target.
    const over = late.filter((w) => w.p99 > def.targetP99Us).length;
    expect(over).toBeLessThanOrEqual(5);
    // The controller's own p99 reading is the true one within a bucket (target / 50) or two.
    expect(Math.abs(c.last.p99Us - late[late.length - 1].p99)).toBeLessThan(2 * (def.targetP99Us / 50) + 1);
    expect(c.last.meanBatch).toBeGreaterThan(10);
    expect(s.published[s.published.length - 1]).toBe(c.delayUs);
  });

  it('backs off within a few windows when the load rises and each batch costs more', () => {
    const s = new FakeServer(256);
    const c = new QueueDelayController(def, 256, s);
    s.drive(c, { rate: 10, batchUs: 150, rowUs: 2 }, 30_000);
    const before = c.delayUs;
    expect(before).toBeGreaterThan(1000);
    // Three times the requests, and rows fifteen times as expensive: the old window now
    // makes batches whose compute alone passes the target.
    const heavy = { rate: 30, batchUs: 150, rowUs: 30 };
    const after = s.drive(c, heavy, 30_000);
    expect(after[0].p99).toBeGreaterThan(def.targetP99Us);
    expect(c.delayUs).toBeLessThan(before * 0.7);
    // Over the target for at most the few windows the cuts take, then under it.
    const firstUnder = after.findIndex((w) => w.p99 <= def.targetP99Us);
    expect(firstUnder).toBeGreaterThanOrEqual(0);
    expect(firstUnder).toBeLessThanOrEqual(5);
    const settled = after.slice(-60);
    expect(settled.filter((w) => w.p99 > def.targetP99Us).length).toBeLessThanOrEqual(3);
  });

  it('comes back up when the load falls again', () => {
    const s = new FakeServer(256);
    const c = new QueueDelayController(def, 256, s);
    s.drive(c, { rate: 30, batchUs: 150, rowUs: 30 }, 20_000);
    const low = c.delayUs;
    s.drive(c, { rate: 10, batchUs: 150, rowUs: 2 }, 30_000);
    expect(c.delayUs).toBeGreaterThan(low * 1.5);
  });

  it('with evenly spaced arrivals, grows through windows shorter than the gap (they batch nothing) until batches form', () => {
    const s = new FakeServer(64);
    const c = new QueueDelayController({ targetP99Us: 5000, minDelayUs: 0, maxDelayUs: 5000 }, 64, s);
    // 1,000 requests a second, one every 1,000 µs: a window under 1,000 µs batches nothing
    const load: Load = { rate: 1, batchUs: 150, rowUs: 20, even: true };
    // within 6 s (24 windows): a stall hold (HOLD_WINDOWS, 5 s) after the first grows would keep it under the gap
    const windows = s.drive(c, load, 6000);
    expect(c.delayUs).toBeGreaterThan(1000);
    expect(s.batchAt(load, c.delayUs)).toBeGreaterThanOrEqual(2);
    for (const w of windows.slice(-10)) expect(w.p99).toBeLessThanOrEqual(5000);
  });

  it('does not add delay that no batch grows from (too few requests arrive in any window)', () => {
    const s = new FakeServer(256);
    const c = new QueueDelayController(def, 256, s);
    // 0.02 requests per ms: a 2 ms window would hold 1.04 requests.
    s.drive(c, { rate: 0.02, batchUs: 150, rowUs: 2 }, 1_200_000);
    expect(c.steps).toBeGreaterThan(50);
    expect(c.delayUs).toBeLessThan(400);
  });

  it('stops growing once batches are full', () => {
    const s = new FakeServer(16);
    const c = new QueueDelayController(def, 16, s);
    // 200 requests per ms fill 16 rows in 75 µs: a longer window changes nothing.
    s.drive(c, { rate: 200, batchUs: 100, rowUs: 2 }, 10_000);
    expect(c.last.meanBatch).toBeGreaterThan(15);
    expect(c.delayUs).toBeLessThan(500);
  });

  it('keeps the delay within min and max, and decides no window before MIN_SAMPLES requests and WINDOW_MS', () => {
    const s = new FakeServer(256);
    const c = new QueueDelayController({ targetP99Us: 5000, minDelayUs: 200, maxDelayUs: 700 }, 256, s);
    expect(c.delayUs).toBe(200);
    // MIN_SAMPLES - 1 requests over a long time: no decision yet.
    for (let i = 0; i < MIN_SAMPLES - 1; i++) c.observe(T0 + i * 10, 100);
    expect(c.steps).toBe(0);
    c.observe(T0 + MIN_SAMPLES * 10, 100);
    expect(c.steps).toBe(1);
    // The next window needs WINDOW_MS to pass, however many requests come.
    for (let i = 0; i < 5 * MIN_SAMPLES; i++) c.observe(T0 + MIN_SAMPLES * 10 + WINDOW_MS / 2, 100);
    expect(c.steps).toBe(1);
    s.drive(c, { rate: 20, batchUs: 100, rowUs: 1 }, 20_000);
    expect(c.delayUs).toBe(700);
    s.drive(c, { rate: 20, batchUs: 100, rowUs: 1000 }, 10_000);
    expect(c.delayUs).toBe(200);
    expect(Math.min(...s.published)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...s.published)).toBeLessThanOrEqual(700);
  });
});

// The queue-delay measure behind server.queue_delay_budget (src/runtime/queue-delay.ts), on
// a fake clock: the age of a worker's oldest request that has not started (per slot, from
// the STARTED word the worker publishes), or of the batch it runs (BUSY_SINCE), whichever
// is older; which workers are late for a budget; the largest delay with the wait queue.
import { describe, expect, it } from 'vitest';

import { type DelayedWorker, largestDelay, markLate, type Placed, workerDelay } from '../../src/runtime/queue-delay.js';
import { BUSY_SINCE, COUNTER, COUNTER_WORDS } from '../../src/runtime/records.js';

const T0 = 1_700_000_000_000; // epoch ms

function counters(started: Record<number, number> = {}, busySince = 0): Float64Array {
  const c = new Float64Array(COUNTER_WORDS);
  for (const [slot, t] of Object.entries(started)) c[Number(slot) * COUNTER.PER_SLOT + COUNTER.STARTED] = t;
  c[BUSY_SINCE] = busySince;
  return c;
}

const req = (slot: number, enqueued: number): Placed => ({ slot, enqueued });

function worker(index: number, placed: Placed[], alive = true): DelayedWorker & { pending: Map<number, Placed> } {
  return { index, alive, late: false, pending: new Map(placed.map((p, i) => [i + 1, p])) };
}

describe('workerDelay', () => {
  it('is 0 for an idle worker with nothing placed', () => {
    expect(workerDelay(T0, [], counters())).toBe(0);
  });

  it('is the age of the oldest request not started yet', () => {
    const placed = [req(1, T0 - 8), req(1, T0 - 5), req(1, T0 - 1)];
    expect(workerDelay(T0, placed, counters())).toBe(8);
    // The worker took the first two into a batch (STARTED = the second's enqueue time).
    expect(workerDelay(T0, placed, counters({ 1: T0 - 5 }))).toBe(1);
    expect(workerDelay(T0, placed, counters({ 1: T0 - 1 }))).toBe(0);
  });

  it('reads STARTED per slot: one model batched does not start another', () => {
    // Slot 2's request waits in its batch window while slot 1's newer ones ran.
    const placed = [req(2, T0 - 6), req(1, T0 - 4), req(1, T0 - 2)];
    expect(workerDelay(T0, placed, counters({ 1: T0 - 2 }))).toBe(6);
    expect(workerDelay(T0, placed, counters({ 1: T0 - 2, 2: T0 - 6 }))).toBe(0);
  });

  it('counts the batch the worker runs: a stalled batch delays what is behind it', () => {
    // Every placed request started (they are in the batch); the batch has run 40 ms.
    const placed = [req(1, T0 - 41), req(1, T0 - 41)];
    expect(workerDelay(T0, placed, counters({ 1: T0 - 41 }, T0 - 40))).toBe(40);
    // A request behind a short batch: its own age is larger.
    expect(workerDelay(T0, [...placed, req(1, T0 - 3)], counters({ 1: T0 - 41 }, T0 - 1))).toBe(3);
    // The worker's clock a hair ahead: never negative.
    expect(workerDelay(T0, [], counters({}, T0 + 0.05))).toBe(0);
  });
});

describe('markLate and largestDelay', () => {
  it('marks the live workers over the budget', () => {
    const ws = [worker(0, [req(1, T0 - 9)]), worker(1, [req(1, T0 - 2)]), worker(2, [req(1, T0 - 50)], false)];
    const cs = [counters(), counters(), counters()];
    expect(markLate(T0, ws, cs, 5)).toBe(1);
    expect(ws.map((w) => w.late)).toEqual([true, false, false]); // a dead worker is never late
    expect(markLate(T0 + 4, ws, cs, 5)).toBe(2);
    // Nothing in flight any more, but worker 0 still runs a batch started 30 ms ago: late.
    for (const w of ws) w.pending.clear();
    cs[0][BUSY_SINCE] = T0 - 30;
    expect(markLate(T0, ws, cs, 5)).toBe(1);
    expect(ws.map((w) => w.late)).toEqual([true, false, false]);
  });

  it('takes the largest delay over live workers and the wait queue', () => {
    const ws = [worker(0, [req(1, T0 - 3)]), worker(1, [req(1, T0 - 50)], false)];
    const cs = [counters(), counters()];
    expect(largestDelay(T0, ws, cs, undefined)).toBe(3);
    expect(largestDelay(T0, ws, cs, T0 - 7)).toBe(7);
  });
});

// The per-model circuit breaker (src/runtime/breaker.ts) on a fake clock: it stays closed
// below minRequests, opens at the error rate (slow answers count as failures), refuses
// while open for openForMs, then lets exactly halfOpenProbes through; all probes ok closes
// it with a fresh window, one failed probe reopens it; outcomes older than the window no
// longer count; `transitions` counts every state change.
import { describe, expect, it } from 'vitest';

import type { BreakerDef } from '../../src/config/load.js';
import { Breaker } from '../../src/runtime/breaker.js';

const DEF: BreakerDef = { errorRate: 0.5, latencyMs: 25, windowMs: 10_000, minRequests: 20, openForMs: 5_000, halfOpenProbes: 3 };
const T0 = 1_000_000; // the fake clock's start (ms)

function breaker(over: Partial<BreakerDef> = {}): Breaker {
  return new Breaker({ ...DEF, ...over });
}

/** n outcomes at time t, each let through by allow(). */
function feed(b: Breaker, t: number, n: number, ok: boolean, latencyMs = 1): void {
  for (let i = 0; i < n; i++) {
    expect(b.allow(t)).toBe(true);
    b.record(t, ok, latencyMs);
  }
}

describe('Breaker', () => {
  it('stays closed below minRequests even when every request fails', () => {
    const b = breaker();
    feed(b, T0, 19, false);
    expect(b.state).toBe('closed');
    expect(b.transitions).toBe(0);
    feed(b, T0 + 1, 1, false);
    expect(b.state).toBe('open');
    expect(b.transitions).toBe(1);
  });

  it('opens when the failure share reaches errorRate, not below', () => {
    const below = breaker();
    feed(below, T0, 11, true);
    feed(below, T0, 9, false); // 9 / 20 = 0.45
    expect(below.state).toBe('closed');
    feed(below, T0, 1, true); // 9 / 21
    expect(below.state).toBe('closed');

    const at = breaker();
    feed(at, T0, 10, true);
    feed(at, T0, 9, false); // 19 outcomes: too few to judge
    expect(at.state).toBe('closed');
    feed(at, T0, 1, false); // 10 / 20 = 0.5
    expect(at.state).toBe('open');

    const low = breaker({ errorRate: 0.1 });
    feed(low, T0, 18, true);
    feed(low, T0, 1, false);
    feed(low, T0, 1, true); // 1 / 20 = 0.05
    expect(low.state).toBe('closed');
    feed(low, T0, 1, false); // 2 / 21 < 0.1
    expect(low.state).toBe('closed');
    feed(low, T0, 1, false); // 3 / 22 >= 0.1
    expect(low.state).toBe('open');
  });

  it('counts successes slower than latencyMs as failures (latencyMs itself is fine)', () => {
    const slow = breaker();
    feed(slow, T0, 20, true, 25.5);
    expect(slow.state).toBe('open');

    const edge = breaker();
    feed(edge, T0, 50, true, 25);
    expect(edge.state).toBe('closed');

    const mixed = breaker();
    feed(mixed, T0, 10, true, 3);
    feed(mixed, T0, 9, true, 100);
    expect(mixed.state).toBe('closed');
    feed(mixed, T0, 1, false, 0);
    expect(mixed.state).toBe('open');

    const noLimit = breaker({ latencyMs: Infinity });
    feed(noLimit, T0, 50, true, 1e9);
    expect(noLimit.state).toBe('closed');
  });

  it('refuses while open until openForMs has passed, then lets exactly halfOpenProbes through', () => {
    const b = breaker();
    feed(b, T0, 20, false);
    expect(b.state).toBe('open');
    expect(b.allow(T0)).toBe(false);
    expect(b.allow(T0 + 2_500)).toBe(false);
    expect(b.allow(T0 + 4_999)).toBe(false);
    expect(b.state).toBe('open');
    const t = T0 + 5_000;
    expect([b.allow(t), b.allow(t), b.allow(t), b.allow(t), b.allow(t + 1)]).toEqual([true, true, true, false, false]);
    expect(b.state).toBe('half_open');
    expect(b.transitions).toBe(2);
  });

  it('closes when every probe succeeds, with a fresh window', () => {
    const b = breaker();
    feed(b, T0, 20, false);
    const t = T0 + 5_000;
    for (let i = 0; i < 3; i++) expect(b.allow(t)).toBe(true);
    b.record(t, true, 1);
    b.record(t, true, 1);
    expect(b.state).toBe('half_open');
    expect(b.allow(t)).toBe(false); // the probes are spent; the last is still out
    b.record(t + 1, true, 1);
    expect(b.state).toBe('closed');
    expect(b.transitions).toBe(3);
    // The 20 failures are still inside the 10 s window in time, but the window was reset:
    // a few more failures do not reopen it.
    expect(b.allow(t + 2)).toBe(true);
    feed(b, t + 2, 19, false);
    expect(b.state).toBe('closed');
    feed(b, t + 3, 1, false);
    expect(b.state).toBe('open');
    expect(b.transitions).toBe(4);
  });

  it('opens again on one failed probe (or a slow one), for another openForMs', () => {
    const b = breaker();
    feed(b, T0, 20, false);
    let t = T0 + 5_000;
    expect(b.allow(t)).toBe(true);
    expect(b.allow(t)).toBe(true);
    b.record(t, true, 1);
    b.record(t + 10, false, 1);
    expect(b.state).toBe('open');
    expect(b.transitions).toBe(3); // closed -> open -> half_open -> open
    expect(b.allow(t + 10 + 4_999)).toBe(false);
    t = t + 10 + 5_000;
    expect(b.allow(t)).toBe(true);
    expect(b.state).toBe('half_open');
    b.record(t + 1, true, 26); // slow: a failure
    expect(b.state).toBe('open');
    expect(b.transitions).toBe(5);
    // After that: three good probes close it.
    t += 1 + 5_000;
    for (let i = 0; i < 3; i++) expect(b.allow(t)).toBe(true);
    expect(b.allow(t)).toBe(false);
    for (let i = 0; i < 3; i++) b.record(t, true, 1);
    expect(b.state).toBe('closed');
    expect(b.transitions).toBe(7);
  });

  it('ignores outcomes recorded while open (stragglers from before it opened)', () => {
    const b = breaker();
    feed(b, T0, 20, false);
    for (let i = 0; i < 50; i++) b.record(T0 + 100, true, 1);
    expect(b.state).toBe('open');
    expect(b.allow(T0 + 100)).toBe(false);
    // A failing straggler must not restart the open period either: it still ends 5 s
    // after the breaker opened.
    for (let i = 0; i < 20; i++) b.record(T0 + 4_000, false, 1);
    expect(b.allow(T0 + 5_001)).toBe(true);
  });

  it('forgets outcomes older than the window', () => {
    const b = breaker();
    feed(b, T0, 15, false); // 15 failures, not enough requests to judge
    // 8 s later they still count: 15 + 5 = 20 failures.
    const keep = breaker();
    feed(keep, T0, 15, false);
    feed(keep, T0 + 8_000, 5, false);
    expect(keep.state).toBe('open');
    // A full window (plus a bucket) later they are gone: 5 new failures are too few.
    feed(b, T0 + 11_000, 5, false);
    expect(b.state).toBe('closed');
    // Gone too when the window moved on one bucket at a time, with good outcomes in between.
    const c = breaker({ minRequests: 40 });
    feed(c, T0, 15, false);
    for (let t = T0 + 1_000; t <= T0 + 11_000; t += 1_000) feed(c, t, 1, true); // 10 in the window
    // 20 new failures: 20 of 30 outcomes, too few to judge. Were the old 15 still counted,
    // the 14th new one would make 29 of 40 and open it.
    feed(c, T0 + 11_000, 20, false);
    expect(c.state).toBe('closed');
  });

  it('judges the rolling window, not the whole history', () => {
    // Failures spread over a long time never reach the rate inside any 10 s window.
    const b = breaker({ minRequests: 10 });
    let t = T0;
    for (let i = 0; i < 100; i++) {
      feed(b, t, 3, true);
      feed(b, t, 2, false);
      t += 5_000; // 2 windows' worth: at most 10 outcomes, 4 bad, in any window
    }
    expect(b.state).toBe('closed');
    // Failures packed inside one window do open it (over the whole history the share
    // would still be ~0.4).
    feed(b, t, 4, false); // with the 5 outcomes of 5 s ago: 9 < minRequests
    expect(b.state).toBe('closed');
    feed(b, t, 1, false); // 7 bad of 10
    expect(b.state).toBe('open');
  });

  it('ignores outcomes of requests let in before the last state change', () => {
    const b = new Breaker({ errorRate: 0.5, latencyMs: Infinity, windowMs: 10_000, minRequests: 2, openForMs: 100, halfOpenProbes: 1 });
    const t = 1_000_000;
    expect(b.allow(t)).toBe(true);
    const before = b.generation; // a slow request let in while closed
    b.record(t, false, 1);
    b.record(t, false, 1); // opens
    expect(b.state).toBe('open');
    expect(b.allow(t + 200)).toBe(true); // half-open: the one probe
    b.record(t + 201, false, 1, before); // the old request ends badly: not a probe result
    expect(b.state).toBe('half_open');
    b.record(t + 202, true, 1); // the probe succeeds
    expect(b.state).toBe('closed');
  });

  it('counts as open (isOpen) only within openForMs, before any request moves it on', () => {
    const b = breaker();
    expect(b.isOpen(T0)).toBe(false);
    feed(b, T0, 20, false);
    expect([b.state, b.isOpen(T0), b.isOpen(T0 + 4_999)]).toEqual(['open', true, true]);
    // Past open_for it is still 'open' until a request asks, but it would let probes through.
    expect([b.state, b.isOpen(T0 + 5_000)]).toEqual(['open', false]);
    expect(b.allow(T0 + 5_000)).toBe(true);
    expect([b.state, b.isOpen(T0 + 5_000)]).toEqual(['half_open', false]);
  });

  it('takes no outcome from a skipped request; a skipped probe gives its place back', () => {
    const b = breaker({ halfOpenProbes: 1 });
    for (let i = 0; i < 40; i++) {
      expect(b.allow(T0)).toBe(true);
      b.skip(); // shed: the model never saw it
    }
    expect(b.state).toBe('closed');
    feed(b, T0, 20, false);
    expect(b.state).toBe('open');
    expect(b.allow(T0 + 5_000)).toBe(true); // the one probe
    expect(b.allow(T0 + 5_000)).toBe(false);
    b.skip(); // the probe was shed
    expect(b.allow(T0 + 5_001)).toBe(true); // another request may probe
    b.record(T0 + 5_002, true, 1);
    expect(b.state).toBe('closed');
  });
});

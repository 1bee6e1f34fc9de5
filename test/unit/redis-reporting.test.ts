// The reporting pieces the shared log, the online store and the mirror share: a repeated
// failure is said once, then at most once per LOG_EVERY_MS with the count held back; delays
// land in their bucket.
import { afterEach, describe, expect, it, vi } from 'vitest';

import { DELAY_BUCKETS_MS, delayHistogram, fields, LOG_EVERY_MS, observeDelay, ThrottledLog } from '../../src/redis/reporting.js';

afterEach(() => vi.useRealTimers());

describe('ThrottledLog', () => {
  it('says a key at once, holds back repeats within the interval and counts them in the next line', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const lines: string[] = [];
    const t = new ThrottledLog((l) => lines.push(l));
    expect(t.said('a')).toBe(false);
    t.say('a', 'down');
    t.say('a', 'down');
    t.say('a', 'down');
    t.say('b', 'other');
    expect(lines).toEqual(['down', 'other']);
    expect(t.said('a')).toBe(true);
    vi.advanceTimersByTime(LOG_EVERY_MS - 1);
    t.say('a', 'down');
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(1);
    t.say('a', 'down');
    expect(lines[2]).toBe('down (and 3 more times since the last report)');
    vi.advanceTimersByTime(LOG_EVERY_MS);
    t.say('a', 'down');
    expect(lines[3]).toBe('down');
  });
});

describe('delay histogram', () => {
  it('puts a delay in the first bucket at or above it, +Inf last, and skips what is not a number', () => {
    const h = delayHistogram();
    expect(h.delayCounts).toHaveLength(DELAY_BUCKETS_MS.length + 1);
    observeDelay(h, 1);
    observeDelay(h, 1.5);
    observeDelay(h, -3);
    observeDelay(h, 1e9);
    observeDelay(h, Number.NaN);
    expect(h.delayCounts[0]).toBe(2); // 1 and the clamped -3
    expect(h.delayCounts[1]).toBe(1);
    expect(h.delayCounts[DELAY_BUCKETS_MS.length]).toBe(1);
    expect(h.delayCount).toBe(4);
    expect(h.delaySumMs).toBe(1 + 1.5 + 0 + 1e9);
  });

  it('fields turns an XINFO reply into an object', () => {
    expect(fields(['name', 'g', 'lag', 3, 'dangling'])).toEqual({ name: 'g', lag: 3 });
  });
});

// The slowest-requests list (src/server/slow-log.ts) against a plain model of it: every
// request kept in an array, the slowest N of the last 60 s picked by sorting. Random
// streams over several minutes on a fake clock, with slots that fill and overflow.
import { describe, expect, it } from 'vitest';

import { MAX_STAGES, SLOW_WINDOW_MS, SlowLog } from '../../src/server/slow-log.js';
import { mulberry32 } from '../support/random.js';

const split = new Float64Array(MAX_STAGES);

describe('SlowLog', () => {
  it('lists the slowest requests of the last minute, slowest first, as a sort of every request would', () => {
    const rnd = mulberry32(7);
    const k = 8;
    const log = new SlowLog(k);
    const all: { total: number; end: number; name: string }[] = [];
    let now = 1_700_000_000_000;
    for (let i = 0; i < 20_000; i++) {
      now += rnd() * 30; // ~65 requests a second: slots overflow
      // mostly fast, a few slow, and sometimes a slow streak (each slower than the last)
      const total = i % 500 < 20 ? 10 + (i % 500) + i * 1e-6 : rnd() < 0.02 ? 5 + rnd() * 50 : rnd();
      const name = `r${i}`;
      split[0] = total / 2;
      split[1] = total / 2;
      log.offer(i % 3, name, 200, now - total, now, split, 2);
      all.push({ total: now - (now - total), end: now, name }); // as the log computes it, epoch ms apart
      if (i % 997 === 0 || i === 19_999) {
        for (const limit of [1, 5, k]) {
          const want = all.filter((r) => r.end > now - SLOW_WINDOW_MS).sort((a, b) => b.total - a.total).slice(0, limit);
          const got = log.slowest(limit, now);
          expect(got.map((e) => e.totalMs)).toEqual(want.map((r) => r.total));
          expect(got.map((e) => e.name)).toEqual(want.map((r) => r.name));
        }
      }
    }
  });

  it('keeps each request\'s stage split, and NaN first for a request without one', () => {
    const log = new SlowLog(4);
    const t = 1_700_000_000_000;
    split.set([1, 2, 3, 4, 5]);
    log.offer(0, 'fraud', 200, t, t + 15, split, 5);
    split[0] = NaN;
    log.offer(3, 'user', 404, t + 1, t + 21, split, 0);
    const got = log.slowest(10, t + 30);
    expect(got.map((e) => [e.route, e.name, e.status, e.totalMs])).toEqual([[3, 'user', 404, 20], [0, 'fraud', 200, 15]]);
    expect(Number.isNaN(got[0].stages[0])).toBe(true);
    expect(Array.from(got[1].stages)).toEqual([1, 2, 3, 4, 5]);
  });

  it('forgets requests answered more than 60 s ago, and a slot reused a minute later holds only its new second', () => {
    const log = new SlowLog(4);
    const t = 1_700_000_000_500;
    log.offer(0, 'old', 200, t - 900, t, split, 0);
    expect(log.slowest(10, t + 59_999).map((e) => e.name)).toEqual(['old']);
    expect(log.slowest(10, t + 60_000)).toEqual([]);
    // the same slot (60 s later): the old request is gone even before the list filters it
    log.offer(0, 'new', 200, t + 60_000 - 1, t + 60_000, split, 0);
    expect(log.slowest(10, t + 60_000).map((e) => e.name)).toEqual(['new']);
  });
});

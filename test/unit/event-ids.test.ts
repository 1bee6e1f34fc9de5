// The event-id window of idempotent ingest (src/ingest/event-ids.ts) against a plain Map
// under random adds, expiry, eviction at the cap and the two kinds of forgetting; the ids
// file (event-ids-file.ts): what a restart loads back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { EventIdWindow, hashEventId } from '../../src/ingest/event-ids.js';
import { EventIdsFile } from '../../src/ingest/event-ids-file.js';
import { mulberry32 } from '../support/random.js';

describe('EventIdWindow', () => {
  it('agrees with a Map under random adds, expiry, eviction, dropNewest and dropFromSeq', () => {
    const next = mulberry32(7);
    const rng = { int: (n: number) => Math.floor(next() * n) };
    const max = 3000;
    const horizon = 8000; // long enough that the cap is reached too
    const w = new EventIdWindow(horizon, max);
    // reference: insertion-ordered [key, at, seq]
    let ref: { hi: number; lo: number; at: number; seq: number }[] = [];
    const key = (hi: number, lo: number) => `${hi}:${lo}`;
    let now = 0;
    let seq = 0;
    let full = 0;
    for (let step = 0; step < 60_000; step++) {
      now += rng.int(3);
      const op = rng.int(100);
      // ids from a small space (so repeats happen), some sharing a half (collisions in the table)
      const hi = rng.int(50);
      const lo = rng.int(400);
      if (op < 80) {
        w.expire(now);
        ref = ref.filter((x) => x.at >= now - horizon);
        const has = ref.some((x) => x.hi === hi && x.lo === lo);
        expect(w.seqOf(hi, lo) >= 0).toBe(has);
        if (!has) {
          seq++;
          w.add(hi, lo, seq, now);
          if (ref.length >= max) ref.shift();
          ref.push({ hi, lo, at: now, seq });
        }
      } else if (op < 90) {
        const k = rng.int(4);
        w.dropNewest(k);
        ref.splice(Math.max(0, ref.length - k));
      } else if (op < 93) {
        const from = seq - rng.int(5);
        w.dropFromSeq(from);
        while (ref.length > 0 && ref[ref.length - 1].seq >= from) ref.pop();
      } else {
        // probes of ids present and absent
        for (const x of ref.slice(-5)) expect(w.seqOf(x.hi, x.lo)).toBe(x.seq);
        expect(w.seqOf(hi + 1000, lo)).toBe(-1);
      }
      expect(w.size).toBe(ref.length);
      if (ref.length === max) full++;
    }
    expect(full).toBeGreaterThan(1000);
    expect(w.evicted).toBeGreaterThan(0);
    const seen = new Set<string>();
    w.forEach((hi, lo) => seen.add(key(hi, lo)));
    expect(seen).toEqual(new Set(ref.map((x) => key(x.hi, x.lo))));
  });

  it('evicts the oldest when full and counts it; stampNewest sets the last seqs', () => {
    const w = new EventIdWindow(60_000, 4);
    for (let i = 0; i < 6; i++) w.add(0, i, 0, i);
    expect(w.size).toBe(4);
    expect(w.evicted).toBe(2);
    expect(w.seqOf(0, 0)).toBe(-1);
    expect(w.seqOf(0, 5)).toBe(0);
    w.stampNewest(2, 9);
    expect([w.seqOf(0, 2), w.seqOf(0, 3), w.seqOf(0, 4), w.seqOf(0, 5)]).toEqual([0, 0, 9, 9]);
  });

  it('hashes ids to 64 bits: no collision among a million ids', () => {
    const out = new Uint32Array(2);
    const w = new EventIdWindow(1e9, 1_000_000);
    let collisions = 0;
    for (let i = 0; i < 1_000_000; i++) {
      hashEventId(`evt-${i}`, out, 0);
      if (w.seqOf(out[0], out[1]) >= 0) collisions++;
      w.add(out[0], out[1], i, 0);
    }
    expect(collisions).toBe(0);
    expect(w.size).toBe(1_000_000);
  });
});

describe('EventIdsFile', () => {
  it('loads back the ids of records at or before the last replayed seq, within the horizon, not voided', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-ids-'));
    try {
      const f = new EventIdsFile(dir, () => {});
      const now = 1_000_000;
      f.note(0, 1, 1, 1, now - 10);
      f.note(0, 1, 2, 2, now - 10);
      f.note(1, 2, 3, 3, now - 10); // stream 1
      f.note(0, 1, 4, 4, now - 120_000); // older than the horizon
      f.note(0, 1, 5, 5, now - 10);
      f.flush();
      f.void(5); // the log lost record 5 on
      f.note(0, 1, 6, 5, now - 5); // seq 5 given again
      f.note(0, 1, 7, 7, now - 5); // past the last replayed record
      f.close();
      const w0 = new EventIdWindow(60_000, 100);
      const w1 = new EventIdWindow(60_000, 100);
      const g = new EventIdsFile(dir, () => {});
      expect(g.load([w0, w1], 6, now)).toBe(4);
      g.close();
      expect([1, 2, 4, 5, 6, 7].map((lo) => w0.seqOf(1, lo))).toEqual([1, 2, -1, -1, 5, -1]);
      expect(w1.seqOf(2, 3)).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The pool's unanswered requests (src/runtime/pending.ts): a worker's list keeps submission
// order through deletes from anywhere in it, and the id table finds exactly the live
// requests, growing when two live ids would share an entry, never answering a stale id.
import { describe, expect, it } from 'vitest';

import { PendingIds, PendingList } from '../../src/runtime/pending.js';
import { PoolRequest } from '../../src/runtime/pool-request.js';

function request(id: number): PoolRequest {
  const r = new PoolRequest();
  r.id = id;
  return r;
}

const ids = (l: PendingList): number[] => [...l.values()].map((r) => r.id);

describe('PendingList', () => {
  it('keeps submission order through deletes at the head, the middle and the tail', () => {
    const l = new PendingList();
    const rs = [1, 2, 3, 4, 5].map(request);
    for (const r of rs) l.add(r);
    expect(ids(l)).toEqual([1, 2, 3, 4, 5]);
    l.delete(rs[0]);
    l.delete(rs[2]);
    l.delete(rs[4]);
    expect(ids(l)).toEqual([2, 4]);
    expect(l.size).toBe(2);
    l.add(rs[0]); // a request object comes back (the pool reuses them)
    expect(ids(l)).toEqual([2, 4, 1]);
    l.delete(rs[3]);
    l.delete(rs[1]);
    l.delete(rs[0]);
    expect(ids(l)).toEqual([]);
    expect(l.size).toBe(0);
  });

  it('ignores a request it does not hold, and takeAll empties it in order', () => {
    const l = new PendingList();
    const [a, b, c] = [1, 2, 3].map(request);
    l.add(a);
    l.add(b);
    l.delete(c); // never added: nothing changes
    expect(ids(l)).toEqual([1, 2]);
    l.delete(a);
    l.delete(a); // twice: the second does nothing
    expect(ids(l)).toEqual([2]);
    l.add(c);
    expect(l.takeAll().map((r) => r.id)).toEqual([2, 3]);
    expect(l.size).toBe(0);
    expect(ids(l)).toEqual([]);
    expect([b.prevPending, b.nextPending, c.prevPending, c.nextPending]).toEqual([undefined, undefined, undefined, undefined]);
    // taken requests go to another worker's list (a restart's replay) and leave it cleanly
    const other = new PendingList();
    other.add(c);
    other.add(b);
    other.delete(c);
    expect(ids(other)).toEqual([2]);
    l.add(a);
    expect(ids(l)).toEqual([1]);
  });

  it('matches a Map in insertion order under random adds and deletes', () => {
    const l = new PendingList();
    const m = new Map<number, PoolRequest>();
    let next = 1;
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let step = 0; step < 20_000; step++) {
      if (m.size === 0 || rand() < 0.55) {
        const r = request(next++);
        l.add(r);
        m.set(r.id, r);
      } else {
        const live = [...m.values()];
        const r = live[Math.floor(rand() * live.length)];
        l.delete(r);
        m.delete(r.id);
      }
      if (step % 997 === 0) expect(ids(l)).toEqual([...m.keys()]);
    }
    expect(ids(l)).toEqual([...m.keys()]);
    expect(l.size).toBe(m.size);
  });
});

describe('PendingIds', () => {
  it('finds live requests by id and not stale ones', () => {
    const t = new PendingIds();
    const a = request(5);
    t.add(a);
    expect(t.get(5)).toBe(a);
    expect(t.get(5 + t.capacity)).toBeUndefined(); // the same entry, another id
    t.delete(a);
    expect(t.get(5)).toBeUndefined();
    // the request object reused under a new id: the old id is not found
    a.id = 5 + t.capacity;
    t.add(a);
    expect(t.get(5)).toBeUndefined();
    expect(t.get(5 + t.capacity)).toBe(a);
  });

  it('grows when two live ids share an entry, and keeps every live one', () => {
    const t = new PendingIds();
    const start = t.capacity;
    const old = request(1); // a request that stays while thousands pass it
    t.add(old);
    const live: PoolRequest[] = [old];
    for (let id = 2; id < 5_000; id++) {
      const r = request(id);
      t.add(r);
      live.push(r);
      if (id % 3 !== 0) {
        t.delete(r);
        live.pop();
      }
    }
    expect(t.capacity).toBeGreaterThan(start);
    expect(t.capacity).toBeLessThanOrEqual(8192); // about twice the live window (1 .. 4999)
    for (const r of live) expect(t.get(r.id)).toBe(r);
  });

  it('stays at its first size in steady state: answered ids leave no trace', () => {
    const t = new PendingIds();
    const start = t.capacity;
    const inFlight: PoolRequest[] = [];
    for (let id = 1; id <= 1_000_000; id++) {
      const r = request(id);
      t.add(r);
      inFlight.push(r);
      if (inFlight.length > 64) t.delete(inFlight.shift()!);
    }
    expect(t.capacity).toBe(start);
    for (const r of inFlight) expect(t.get(r.id)).toBe(r);
  });

  it('works across the wrap of 32-bit ids', () => {
    const t = new PendingIds();
    const a = request(0xffffffff);
    const b = request(1); // the pool skips 0
    t.add(a);
    t.add(b);
    expect(t.get(0xffffffff)).toBe(a);
    expect(t.get(1)).toBe(b);
    t.delete(a);
    expect(t.get(0xffffffff)).toBeUndefined();
    expect(t.get(1)).toBe(b);
  });
});

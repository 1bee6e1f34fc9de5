// The SPSC ring of src/runtime/ring.ts: records come out in order with their exact bytes
// and lengths, across many wrap-arounds (the WRAP marker), a full ring pushes back and
// recovers, oversized payloads are refused, and the free-running HEAD/TAIL counters keep
// working past 2^31 and 2^32. Then across threads: a producer worker and a consumer (the
// main thread with waitAsync, or another worker with wait) move 200k records with no loss,
// no duplicate, no reordering and no lost wake-up.
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { RING, Ring } from '../../src/runtime/ring.js';
import { mulberry32 as rng } from '../support/random.js';
import { consumeWaiting, type ConsumeResult, newConsumeResult, type RingPeerData } from '../support/ring-peer.js';

const align8 = (n: number): number => (n + 7) & ~7;

/** A ring whose HEAD and TAIL both start at `start` (as if that many bytes had gone through). */
function ringAt(capacity: number, start = 0): { sab: SharedArrayBuffer; producer: Ring; consumer: Ring } {
  const sab = Ring.allocate(capacity);
  const ctl = new Int32Array(sab, 0, RING.CONTROL_INTS);
  ctl[RING.HEAD] = start | 0;
  ctl[RING.TAIL] = start | 0;
  return { sab, producer: new Ring(sab), consumer: new Ring(sab) };
}

function publish(r: Ring, payload: Uint8Array): number {
  const off = r.reserve(payload.length);
  if (off >= 0) {
    r.bytes.set(payload, off);
    r.publish();
  }
  return off;
}

function take(r: Ring): Uint8Array | null {
  const off = r.peek();
  if (off < 0) return null;
  const out = r.bytes.slice(off, off + r.peekedLength);
  r.release();
  return out;
}

/**
 * Random interleaving of bursts of writes (until full, sometimes) and reads, checking every
 * record against a model queue. Returns counts for the caller's expectations.
 */
function randomRun(capacity: number, start: number, records: number, seed: number): { wraps: number; fulls: number; maxUsed: number } {
  const { producer, consumer, sab } = ringAt(capacity, start);
  const ctl = new Int32Array(sab, 0, RING.CONTROL_INTS);
  const rand = rng(seed);
  const queue: Uint8Array[] = [];
  let written = 0;
  let read = 0;
  let wraps = 0;
  let fulls = 0;
  let maxUsed = 0;
  let lastOff = -1;
  const max = producer.maxPayload;
  while (read < records) {
    const burst = 1 + Math.floor(rand() * 12);
    for (let i = 0; i < burst && written < records; i++) {
      const r = rand();
      const len = r < 0.05 ? max : r < 0.1 ? 0 : r < 0.3 ? Math.floor(rand() * max) : Math.floor(rand() * 100);
      const payload = new Uint8Array(len);
      for (let k = 0; k < len; k++) payload[k] = Math.floor(rand() * 256);
      const off = publish(producer, payload);
      if (off < 0) {
        fulls++;
        // Refused only when it really does not fit: the record (plus the gap to the end,
        // when it cannot go before the end) is more than the free space.
        const at = (ctl[RING.TAIL] >>> 0) % capacity;
        const total = align8(RING.HEADER_BYTES + len);
        const need = capacity - at >= total ? total : capacity - at + total;
        expect(capacity - producer.used()).toBeLessThan(need);
        break;
      }
      expect(off % RING.ALIGN).toBe(RING.HEADER_BYTES % RING.ALIGN);
      queue.push(payload);
      written++;
      maxUsed = Math.max(maxUsed, producer.used());
      expect(producer.used()).toBeLessThanOrEqual(capacity);
    }
    const reads = Math.floor(rand() * 14);
    for (let i = 0; i < reads; i++) {
      const off = consumer.peek();
      if (off < 0) {
        expect(queue.length).toBe(0);
        break;
      }
      const len = consumer.peekedLength;
      if (off < lastOff) wraps++;
      lastOff = off;
      const want = queue.shift()!;
      expect(len).toBe(want.length);
      expect(Buffer.compare(consumer.bytes.subarray(off, off + len), want)).toBe(0);
      consumer.release();
      read++;
    }
  }
  expect(consumer.peek()).toBe(-1);
  expect(queue.length).toBe(0);
  expect(consumer.used()).toBe(0);
  expect(ctl[RING.HEAD]).toBe(ctl[RING.TAIL]);
  return { wraps, fulls, maxUsed };
}

describe('ring, one thread', () => {
  it('returns records in order with their exact bytes, through thousands of wrap-arounds', () => {
    const r = randomRun(4096, 0, 20_000, 1);
    expect(r.wraps).toBeGreaterThan(100);
    expect(r.fulls).toBeGreaterThan(100);
    expect(r.maxUsed).toBeGreaterThan(4096 - 512);
  });

  it.each([
    ['just below 2^31', 0x7fffff00],
    ['just below 2^32', 0xffffff00],
    ['8 bytes below 2^32, at the end of the data region', 0xfffffff8],
    ['mid-ring, below 2^31', 0x7ffff808],
  ])('keeps working when HEAD/TAIL start %s', (_name, start) => {
    const { sab, producer, consumer } = ringAt(4096, start);
    const ctl = new Int32Array(sab, 0, RING.CONTROL_INTS);
    // A first record right at the start position.
    const first = Uint8Array.from({ length: 37 }, (_, i) => i * 7);
    const pos = start & 4095;
    const fits = 4096 - pos >= 48; // align8(4 + 37)
    expect(publish(producer, first)).toBe(fits ? pos + RING.HEADER_BYTES : RING.HEADER_BYTES);
    expect(producer.used()).toBe(fits ? 48 : 4096 - pos + 48);
    expect(Buffer.compare(take(consumer)!, first)).toBe(0);
    expect(consumer.used()).toBe(0);
    // Then a long random run from there; the counters must cross the boundary.
    const run = (() => {
      const q: Uint8Array[] = [];
      const rand = rng(start);
      let moved = 0;
      for (let i = 0; i < 3000; i++) {
        const len = Math.floor(rand() * 300);
        const p = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
        if (publish(producer, p) >= 0) q.push(p);
        if (rand() < 0.6 || q.length > 8) {
          const got = take(consumer);
          if (got) {
            expect(Buffer.compare(got, q.shift()!)).toBe(0);
            moved += got.length;
          }
        }
      }
      for (let got = take(consumer); got; got = take(consumer)) expect(Buffer.compare(got, q.shift()!)).toBe(0);
      expect(q.length).toBe(0);
      return moved;
    })();
    expect(run).toBeGreaterThan(10_000);
    expect(consumer.used()).toBe(0);
    expect(ctl[RING.HEAD]).toBe(ctl[RING.TAIL]);
    // The counters went past the boundary (as unsigned numbers they are now smaller, or,
    // across 2^31, the signed slot turned negative).
    const before = start >>> 0;
    const after = ctl[RING.HEAD] >>> 0;
    if (before >= 0xffff0000) expect(after).toBeLessThan(before);
    else expect(ctl[RING.HEAD]).toBeLessThan(0);
    // And a fresh Ring on the same buffer (a new consumer) picks up from there.
    const again = new Ring(sab);
    expect(publish(producer, first)).toBeGreaterThanOrEqual(0);
    expect(Buffer.compare(take(again)!, first)).toBe(0);
  });

  it('randomized run with the counters wrapping past 2^32', () => {
    const r = randomRun(4096, 0xfffff000, 5000, 7);
    expect(r.wraps).toBeGreaterThan(20);
  });

  it('writes a WRAP marker when a record does not fit before the end, and skips it on read', () => {
    const { producer, consumer } = ringAt(4096);
    const big = new Uint8Array(1000).fill(1);
    for (let i = 0; i < 4; i++) expect(publish(producer, big)).toBe(i * 1008 + RING.HEADER_BYTES);
    for (let i = 0; i < 4; i++) expect(take(consumer)!.length).toBe(1000);
    expect(consumer.used()).toBe(0);
    // Tail is at 4032: 64 bytes to the end, a 104-byte record does not fit there.
    const small = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
    expect(publish(producer, small)).toBe(RING.HEADER_BYTES);
    expect(producer.view.getUint32(4032, true)).toBe(RING.WRAP);
    expect(producer.used()).toBe(64 + 104); // the gap counts until the consumer passes it
    const off = consumer.peek();
    expect([off, consumer.peekedLength]).toEqual([RING.HEADER_BYTES, 100]);
    expect(Buffer.compare(consumer.bytes.subarray(off, off + 100), small)).toBe(0);
    consumer.release();
    expect(consumer.used()).toBe(0);
    // A record that exactly fills the space to the end does not wrap.
    const { producer: p2, consumer: c2 } = ringAt(4096, 4096 - 64);
    const exact = new Uint8Array(60).fill(9);
    expect(publish(p2, exact)).toBe(4096 - 64 + RING.HEADER_BYTES);
    expect(p2.used()).toBe(64);
    expect(take(c2)!.length).toBe(60);
    expect(publish(p2, exact)).toBe(RING.HEADER_BYTES);
  });

  it('refuses a record when full and accepts again after a release', () => {
    const { producer, consumer } = ringAt(4096);
    const rec = (i: number): Uint8Array => new Uint8Array(60).fill(i);
    let n = 0;
    while (publish(producer, rec(n)) >= 0) n++;
    expect(n).toBe(4096 / 64);
    expect(producer.used()).toBe(4096);
    expect(producer.reserve(0)).toBe(-1);
    expect(producer.reserve(1)).toBe(-1);
    expect(take(consumer)![0]).toBe(0);
    expect(producer.used()).toBe(4096 - 64);
    expect(producer.reserve(61)).toBe(-1); // 72 bytes do not fit in 64
    expect(publish(producer, rec(200))).toBe(RING.HEADER_BYTES);
    for (let i = 1; i < n; i++) expect(take(consumer)![0]).toBe(i);
    expect(take(consumer)![0]).toBe(200);
    expect(take(consumer)).toBeNull();
    expect(consumer.used()).toBe(0);
  });

  it('counts the wrap gap when deciding whether a record fits', () => {
    const { producer, consumer } = ringAt(4096);
    for (let i = 0; i < 4; i++) publish(producer, new Uint8Array(1000).fill(i + 1));
    take(consumer); // head 1008, tail 4032: 1072 free, 64 of them before the end
    expect(producer.reserve(1010)).toBe(-1); // 1016 + 64 > 1072
    expect(publish(producer, new Uint8Array(1004).fill(7))).toBe(RING.HEADER_BYTES); // 1008 + 64 = 1072
    expect(producer.used()).toBe(4096);
    for (let i = 2; i <= 4; i++) expect(take(consumer)![0]).toBe(i);
    const last = take(consumer)!;
    expect(last.length).toBe(1004);
    expect(last.every((b) => b === 7)).toBe(true);
    expect(consumer.used()).toBe(0);
  });

  it('takes maxPayload at any position of an empty ring and refuses one byte more', () => {
    for (const cap of [4096, 8192]) {
      for (let pos = 0; pos < cap; pos += 8) {
        const { producer, consumer } = ringAt(cap, pos + cap * 3);
        expect(producer.maxPayload).toBe(cap / 2 - RING.HEADER_BYTES);
        expect(producer.reserve(producer.maxPayload + 1)).toBe(-1);
        expect(producer.reserve(1 << 30)).toBe(-1);
        const p = new Uint8Array(producer.maxPayload);
        p[0] = pos & 0xff;
        p[p.length - 1] = 0xab;
        expect(publish(producer, p)).toBeGreaterThanOrEqual(0);
        const got = take(consumer)!;
        expect(got.length).toBe(p.length);
        expect(got[0]).toBe(pos & 0xff);
        expect(got[got.length - 1]).toBe(0xab);
        expect(consumer.used()).toBe(0);
      }
    }
  });

  it('rounds the capacity up to a power of two of at least MIN_CAPACITY', () => {
    expect(new Ring(Ring.allocate(1)).capacity).toBe(RING.MIN_CAPACITY);
    expect(new Ring(Ring.allocate(5000)).capacity).toBe(8192);
    expect(new Ring(Ring.allocate(65536)).capacity).toBe(65536);
    expect(() => Ring.allocate(2 ** 31)).toThrow(RangeError);
  });

  it('empty-ring waits return at once when a record is already there', () => {
    const { producer, consumer, sab } = ringAt(4096);
    const ctl = new Int32Array(sab, 0, RING.CONTROL_INTS);
    expect(consumer.used()).toBe(0); // nothing waiting
    const p = consumer.waitAsync();
    expect(p).not.toBeNull(); // empty: a real wait
    expect(ctl[RING.WAITING]).toBe(1);
    publish(producer, new Uint8Array(3));
    producer.notify();
    consumer.awake();
    expect(ctl[RING.WAITING]).toBe(0);
    expect(consumer.used()).toBeGreaterThan(0); // a record waiting
    expect(consumer.waitAsync()).toBeNull(); // not empty: no wait, WAITING cleared
    expect(ctl[RING.WAITING]).toBe(0);
    consumer.wait(60_000); // returns at once (the test would time out otherwise)
    expect(take(consumer)!.length).toBe(3);
    return p;
  });
});

// ---------------------------------------------------------------- across threads

function startPeer(data: RingPeerData): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const entry = new URL('../support/ring-peer.ts', import.meta.url).href;
    const w = new Worker(new URL('../support/ts-worker.mjs', import.meta.url), { workerData: { ...data, entry } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`ring ${data.role} worker exited with ${code} before reporting`)));
  });
}

const COUNT = 200_000;

describe('wake budget', () => {
  it('a consumer in a timed wait with budget N is woken at the Nth publish; an untimed one at the first', () => {
    const { producer, consumer } = ringAt(RING.MIN_CAPACITY);
    const ctl = consumer.ctl;
    // What wait(timeout, 3) leaves while the consumer sleeps (set by hand: this thread cannot block).
    Atomics.store(ctl, RING.BUDGET, 3);
    Atomics.store(ctl, RING.WAITING, 1);
    const woken: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      publish(producer, new Uint8Array([i]));
      producer.notify();
      woken.push(Atomics.load(ctl, RING.WAITING) === 0); // the producer takes WAITING to 0 when it notifies
    }
    expect(woken).toEqual([false, false, true]);
    // An untimed sleep has budget 0: the first publish wakes it.
    Atomics.store(ctl, RING.BUDGET, 0);
    Atomics.store(ctl, RING.WAITING, 1);
    publish(producer, new Uint8Array([9]));
    producer.notify();
    expect(Atomics.load(ctl, RING.WAITING)).toBe(0);
  });

  it('an idle sleeper with budget N is left asleep (notify says so) until the Nth publish or the producer\'s flush', () => {
    const { producer, consumer } = ringAt(RING.MIN_CAPACITY);
    const ctl = consumer.ctl;
    // What wait(Infinity, 3, true) leaves while the consumer sleeps.
    const sleep = (): void => {
      Atomics.store(ctl, RING.BUDGET, 3);
      Atomics.store(ctl, RING.IDLE, 1);
      Atomics.store(ctl, RING.WAITING, 1);
    };
    sleep();
    const skipped: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      publish(producer, new Uint8Array([i]));
      skipped.push(producer.notify());
    }
    expect(skipped).toEqual([true, true, false]);
    expect(Atomics.load(ctl, RING.WAITING)).toBe(0);
    // Fewer than the budget: the flush wakes it.
    while (consumer.peek() >= 0) consumer.release();
    sleep();
    producer.flush();
    expect(Atomics.load(ctl, RING.WAITING)).toBe(1); // nothing published: left asleep
    publish(producer, new Uint8Array([7]));
    expect(producer.notify()).toBe(true);
    producer.flush();
    expect(Atomics.load(ctl, RING.WAITING)).toBe(0);
    // notify(false): the producer will not defer, so an idle sleeper is woken at once.
    while (consumer.peek() >= 0) consumer.release();
    sleep();
    publish(producer, new Uint8Array([5]));
    expect(producer.notify(false)).toBe(false);
    expect(Atomics.load(ctl, RING.WAITING)).toBe(0);
    // A timed sleeper is the timeout's to wake: notify does not ask for a flush.
    Atomics.store(ctl, RING.IDLE, 0);
    Atomics.store(ctl, RING.BUDGET, 3);
    Atomics.store(ctl, RING.WAITING, 1);
    publish(producer, new Uint8Array([8]));
    expect(producer.notify()).toBe(false);
    producer.flush();
    expect(Atomics.load(ctl, RING.WAITING)).toBe(1);
  });

  it('an untimed wait() without idle ignores the budget', () => {
    const { producer, consumer } = ringAt(RING.MIN_CAPACITY);
    publish(producer, new Uint8Array([1]));
    producer.notify();
    consumer.wait(Infinity, 5); // records wait: returns at once
    expect(Atomics.load(consumer.ctl, RING.BUDGET)).toBe(0);
    expect(Atomics.load(consumer.ctl, RING.IDLE)).toBe(0);
  });

  it('wait() with a budget still returns at its timeout, and at once when records wait', () => {
    const { producer, consumer } = ringAt(RING.MIN_CAPACITY);
    const t0 = performance.now();
    consumer.wait(20, 100);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    expect(Atomics.load(consumer.ctl, RING.WAITING)).toBe(0);
    publish(producer, new Uint8Array([1]));
    producer.notify();
    const t1 = performance.now();
    consumer.wait(1000, 100);
    expect(performance.now() - t1).toBeLessThan(100);
  });
});

describe('ring across threads', () => {
  it.each([
    [4096, 16],
    [65536, 1],
  ])('main thread consumes %i-byte ring with waitAsync (notify every %i records)', async (capacity, notifyEvery) => {
    const sab = Ring.allocate(capacity);
    const ring = new Ring(sab);
    // The consumer is asleep before the producer exists: the first records must wake it.
    const firstWait = ring.waitAsync();
    expect(firstWait).not.toBeNull();
    const produced = startPeer({ role: 'produce', sab, count: COUNT, notifyEvery });
    let failed: unknown = null;
    produced.catch((e: unknown) => (failed = e));

    // A wait still pending 10 s after it was woken is the platform's loss, not the ring's:
    // the producer did its part (WAITING taken to 0) and the records are there. Such a wait
    // is counted and left, as the pool's ticker does (pool.ts #watch); a wait whose records
    // wait with WAITING still 1 is the ring's lost wake-up, and fails the test.
    // A producer that has published nothing after 30 s never started (its worker's
    // bootstrap hung): said as such, rather than left to the test's timeout.
    const stall = (p: Promise<unknown>, r: { errors: string[]; platformLost: number; received: number }): Promise<unknown> => {
      let timer: NodeJS.Timeout | undefined;
      let idle = 0;
      const look = (): Promise<void> =>
        new Promise((resolve) => {
          timer = setTimeout(() => {
            if (ring.woken()) r.platformLost++;
            else if (ring.used() > 0) r.errors.push(`lost wake-up: ${ring.used()} bytes wait, WAITING ${Atomics.load(ring.ctl, RING.WAITING)}`);
            else if (r.received === 0 && ++idle === 3) r.errors.push('the producer published nothing in 30 s: its worker did not start');
            else return resolve(look());
            resolve();
          }, 10_000);
        });
      return Promise.race([p, look()]).finally(() => clearTimeout(timer));
    };
    const consumed = (async (): Promise<ConsumeResult & { sleeps: number; platformLost: number }> => {
      const r = { ...newConsumeResult(), sleeps: 1, platformLost: 0 };
      await stall(firstWait!, r);
      ring.awake();
      while (r.received < COUNT && failed === null && r.errors.length === 0) {
        consumeWaiting(ring, r);
        if (r.received >= COUNT) break;
        const p = ring.waitAsync();
        if (p) {
          r.sleeps++;
          await stall(p, r);
        }
        ring.awake();
      }
      if (r.platformLost > 0) console.warn(`ring test: ${r.platformLost} woken waitAsync promise(s) not resolved within 10 s`);
      return r;
    })();

    const r = await consumed;
    expect(r.errors).toEqual([]); // before the producer, which a lost wake-up leaves blocked on a full ring
    expect(await produced).toEqual({ produced: COUNT });
    expect(r.received).toBe(COUNT);
    expect(ring.peek()).toBe(-1);
    expect(ring.used()).toBe(0);
    expect(r.maxLen).toBe(ring.maxPayload);
    expect(r.wraps).toBeGreaterThan(100);
    expect(r.sleeps).toBeGreaterThan(1); // the main thread did wait in waitAsync
  }, 120_000);

  it.each([4096, 65536])('a worker consumes a %i-byte ring with wait()', async (capacity) => {
    const sab = Ring.allocate(capacity);
    const consumer = startPeer({ role: 'consume', sab, count: COUNT, notifyEvery: 1 });
    const producer = startPeer({ role: 'produce', sab, count: COUNT, notifyEvery: 8 });
    const [r, p] = (await Promise.all([consumer, producer])) as [ConsumeResult, unknown];
    expect(p).toEqual({ produced: COUNT });
    expect(r.errors).toEqual([]);
    expect(r.received).toBe(COUNT);
    expect(r.maxLen).toBe(capacity / 2 - RING.HEADER_BYTES);
    expect(r.wraps).toBeGreaterThan(100);
    expect(new Ring(sab).used()).toBe(0);
  }, 120_000);
});

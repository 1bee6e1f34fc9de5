// The dynamic batcher (src/runtime/batcher.ts) on a fake clock: each of Triton's rules (max
// batch, max queue delay, preferred sizes, deadlines), whole requests per batch, and the
// backpressure rule that leaves a slow model's requests in the ring.
import { describe, expect, it } from 'vitest';

import { type BatchItem, Batcher, type BatchPolicy, QUEUED_BATCHES } from '../../src/runtime/batcher.js';

interface Item extends BatchItem {
  n: number;
}

let seq = 0;
const item = (enqueued: number, rows = 1, timeoutMs = 1000): Item => ({ n: seq++, rows, enqueued, deadline: enqueued + timeoutMs });
const policy = (p: Partial<BatchPolicy>): BatchPolicy => ({ maxBatch: 8, maxQueueDelayMs: 0, preferred: [], ...p });
/** What next(now) decided, as plain values (the Batch object is reused). */
function next(b: Batcher<Item>, now: number) {
  const d = b.next(now);
  return { run: d.items.map((i) => i.n), rows: d.rows, expired: d.expired.map((i) => i.n), waitMs: d.waitMs };
}

describe('Batcher', () => {
  it('runs at most max_batch rows, the rest in the next batch', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 4, maxQueueDelayMs: 10 }));
    for (let i = 0; i < 10; i++) b.enqueue(item(0));
    expect(next(b, 0)).toEqual({ run: [0, 1, 2, 3], rows: 4, expired: [], waitMs: Infinity });
    expect(next(b, 0).run).toEqual([4, 5, 6, 7]);
    // Two left, fewer than max_batch: they wait for the window of the oldest.
    expect(next(b, 3)).toEqual({ run: [], rows: 0, expired: [], waitMs: 7 });
    expect(next(b, 10)).toEqual({ run: [8, 9], rows: 2, expired: [], waitMs: Infinity });
    expect([b.length, b.queuedRows]).toEqual([0, 0]);
  });

  it('holds a partial batch for max_queue_delay from its oldest request, then runs it', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 8, maxQueueDelayMs: 5 }));
    b.enqueue(item(100));
    expect(next(b, 101).waitMs).toBe(4);
    b.enqueue(item(102));
    expect(next(b, 103)).toEqual({ run: [], rows: 0, expired: [], waitMs: 2 }); // the window is the oldest's
    expect(next(b, 105).run).toEqual([0, 1]);
    expect(next(b, 105).waitMs).toBe(Infinity);
  });

  it('without a delay or preferred sizes, runs whatever is queued at once', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 8 }));
    b.enqueue(item(50));
    b.enqueue(item(50));
    // The worker's clock may be a hair behind the main thread's: still at once.
    expect(next(b, 49.9).run).toEqual([0, 1]);
  });

  it('runs the largest preferred size the queue reaches without waiting for the window', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 16, maxQueueDelayMs: 100, preferred: [2, 4] }));
    b.enqueue(item(0));
    expect(next(b, 1).run).toEqual([]); // 1 row: below every preferred size
    expect(b.rowsToFill).toBe(1);
    b.enqueue(item(1));
    b.enqueue(item(1));
    expect(next(b, 2)).toMatchObject({ run: [0, 1], rows: 2 }); // 3 rows: 2 is the largest reached
    for (let i = 0; i < 4; i++) b.enqueue(item(2));
    expect(next(b, 3)).toMatchObject({ run: [2, 3, 4, 5], rows: 4 }); // 5 rows: 4
    expect(next(b, 3)).toMatchObject({ run: [], waitMs: 99 }); // 1 row left, its window from t=2
    expect(next(b, 102).run).toEqual([6]);
  });

  it('takes whole requests: never more rows than chosen, unless one request alone is larger', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 4 }));
    b.enqueue(item(0, 3));
    b.enqueue(item(0, 2));
    b.enqueue(item(0, 9));
    expect(next(b, 0)).toMatchObject({ run: [0], rows: 3 }); // 3 + 2 > 4
    expect(next(b, 0)).toMatchObject({ run: [1], rows: 2 }); // 2 + 9 > 4
    expect(next(b, 0)).toMatchObject({ run: [2], rows: 9 }); // alone
  });

  it('hands requests past their deadline back instead of running them', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 8, maxQueueDelayMs: 50 }));
    b.enqueue(item(0, 1, 10)); // deadline 10
    b.enqueue(item(5, 1, 10)); // deadline 15
    b.enqueue(item(20, 1, 10)); // deadline 30
    // At 16 the first two have expired: handed back while the third waits for its window.
    expect(next(b, 16)).toEqual({ run: [], rows: 0, expired: [0, 1], waitMs: 54 });
    expect([b.length, b.queuedRows]).toEqual([1, 1]);
    expect(next(b, 31)).toMatchObject({ run: [], expired: [2], waitMs: Infinity });
  });

  it('hands back requests that waited longer than maxWaitMs (the queue-delay budget) before they could start', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 2, maxQueueDelayMs: 1, maxWaitMs: 5 }));
    for (let i = 0; i < 6; i++) b.enqueue(item(i)); // enqueued at 0..5, deadlines 1000 on
    // At 6 the worker gets to them: 0 waited 6 ms (> 5), 1 waited 5 (not more): 1 and 2 run.
    expect(next(b, 6)).toEqual({ run: [1, 2], rows: 2, expired: [0], waitMs: Infinity });
    // The batch took 3 ms: 3 (9 - 3 = 6 ms) is late, 4 and 5 are not.
    expect(next(b, 9)).toEqual({ run: [4, 5], rows: 2, expired: [3], waitMs: Infinity });
    // Without maxWaitMs nothing but the deadline hands a request back.
    const plain = new Batcher<Item>(policy({ maxBatch: 2 }));
    plain.enqueue(item(0));
    expect(next(plain, 900).run).toEqual([seq - 1]);
  });

  it('backpressure: stops accepting once QUEUED_BATCHES full batches wait', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 3, maxQueueDelayMs: 10 }));
    for (let i = 0; i < 3 * QUEUED_BATCHES - 1; i++) {
      expect(b.accepting).toBe(true);
      b.enqueue(item(0));
    }
    b.enqueue(item(0));
    expect(b.accepting).toBe(false);
    // The next batch is due at once (at least max_batch rows), which makes room again.
    expect(next(b, 0).rows).toBe(3);
    expect(b.accepting).toBe(true);
  });

  it('clear() hands every waiting request back (a model unloaded)', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 2, maxQueueDelayMs: 10 }));
    for (let i = 0; i < 5; i++) b.enqueue(item(0));
    next(b, 0);
    const out: Item[] = [];
    b.clear(out);
    expect(out.map((i) => i.n)).toEqual([2, 3, 4]);
    expect([b.length, b.queuedRows, next(b, 100).waitMs]).toEqual([0, 0, Infinity]);
  });

  it('keeps order and counts over many rounds (the queue compacts as it goes)', () => {
    seq = 0;
    const b = new Batcher<Item>(policy({ maxBatch: 7, maxQueueDelayMs: 1 }));
    const ran: number[] = [];
    let t = 0;
    for (let round = 0; round < 500; round++) {
      for (let i = 0; i < (round % 11); i++) b.enqueue(item(t));
      t += 0.5;
      const d = b.next(t);
      for (const x of d.items) ran.push(x.n);
      expect(d.rows).toBeLessThanOrEqual(7);
    }
    while (b.length > 0) for (const x of b.next((t += 1)).items) ran.push(x.n);
    expect(ran).toEqual(Array.from({ length: seq }, (_, i) => i));
  });
});

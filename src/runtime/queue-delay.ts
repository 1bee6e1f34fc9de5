// How long a request placed on a worker now would wait before it runs: the measure behind
// shedding by server.queue_delay_budget (pool.ts). Pure, with the clock passed in, so a test
// drives it on a fake one.
//
// Why this measure. Three were on the table:
//   - the service rate times the queue depth: the rate comes from completions, and a stalled
//     model completes nothing, so the estimate goes stale exactly when it matters (and with
//     several models on a worker, "the" rate is a mix);
//   - the queue times the worker reports with each answer (the response record's QUEUE_US):
//     known only once a request has waited, so a stall shows only after it ends;
//   - the sojourn of the oldest request still waiting (CoDel's measure, read at the head of
//     the queue rather than at dequeue): every request behind it waits at least that long,
//     it grows while a model stalls, and it needs no completion to be known.
// The third, plus the age of the batch the worker is running (a batch that has run for 50 ms
// holds up everything behind it before any request in the queue is old). Both come from the
// worker through shared words (records.ts COUNTER.STARTED, BUSY_SINCE), read every
// millisecond by the pool's sweep, not per request: submit only reads a flag.
//
// The head's sojourn lags the tail's: under twice the capacity, the newest request admitted
// while the head is just under the budget waits about twice the budget, and a burst
// arrives before anyone has waited at all. So the worker also sheds at dequeue, as CoDel
// does: a request that has not started within the budget is answered as shed when its
// batcher reaches it (batcher.ts maxWaitMs). Admission sheds most, cheaply; dequeue makes
// the budget a bound. (CoDel proper drops when the minimum sojourn over an interval stays
// above its target, to let bursts through; a budget here is a latency bound, a few
// milliseconds above the largest batch window, and a burst past it is better shed too.)
import { BUSY_SINCE, COUNTER } from './records.js';

/** What the measure reads of a request the pool placed on a worker. */
export interface Placed {
  readonly slot: number;
  /** epoch ms, when it was submitted */
  readonly enqueued: number;
}

/**
 * The delay (ms) a request placed on the worker at `now` faces: the age of the oldest of
 * `placed` (the worker's unanswered requests, in submission order) that has not started,
 * or of the batch the worker is running, whichever is older; 0 when neither.
 * `counters` is the worker's counter buffer (records.ts COUNTER_WORDS).
 */
export function workerDelay(now: number, placed: Iterable<Placed>, counters: Float64Array): number {
  const busy = counters[BUSY_SINCE];
  const running = busy > 0 ? Math.max(0, now - busy) : 0;
  for (const r of placed) {
    // Started (running, or answered and not yet collected): its wait is over.
    if (r.enqueued <= counters[r.slot * COUNTER.PER_SLOT + COUNTER.STARTED]) continue;
    return Math.max(running, now - r.enqueued);
  }
  return running;
}

/** What the measure reads and marks of a worker (WorkerHandle). */
export interface DelayedWorker {
  readonly index: number;
  readonly alive: boolean;
  /** unanswered requests, in submission order */
  readonly pending: { values(): Iterable<Placed> };
  late: boolean;
}

/**
 * Marks each live worker late when its delay at `now` is over `budgetMs`, and returns how
 * many are. `counters[i]` is worker i's buffer.
 */
export function markLate(now: number, workers: readonly DelayedWorker[], counters: readonly Float64Array[], budgetMs: number): number {
  let late = 0;
  for (const w of workers) {
    w.late = w.alive && workerDelay(now, w.pending.values(), counters[w.index]) > budgetMs;
    if (w.late) late++;
  }
  return late;
}

/** The largest delay (ms) at `now` over the live workers and the wait queue (its oldest request's, `waitingSince`; undefined: empty). */
export function largestDelay(now: number, workers: readonly DelayedWorker[], counters: readonly Float64Array[], waitingSince: number | undefined): number {
  let d = waitingSince === undefined ? 0 : now - waitingSince;
  for (const w of workers) if (w.alive) d = Math.max(d, workerDelay(now, w.pending.values(), counters[w.index]));
  return d;
}

// What the Redis components (the shared log, the online store, the mirror) share to report
// on themselves: the delay histogram's buckets and its update, a log that says a repeated
// failure once and then at most once per interval, and XINFO replies as objects.

/** delay histogram bounds, ms (the shared log: entry id time to applied here; the mirror: to the copy's reply) */
export const DELAY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];

/** counts per DELAY_BUCKETS_MS bucket (+Inf last), their sum in ms and count; fields of the components' stats */
export interface DelayHistogram {
  delayCounts: Float64Array;
  delaySumMs: number;
  delayCount: number;
}

export function delayHistogram(): DelayHistogram {
  return { delayCounts: new Float64Array(DELAY_BUCKETS_MS.length + 1), delaySumMs: 0, delayCount: 0 };
}

/** One delay into the histogram; a delay that is not a number (an id that is not a time) is skipped. */
export function observeDelay(s: DelayHistogram, ms: number): void {
  if (!Number.isFinite(ms)) return;
  const v = Math.max(0, ms);
  let i = 0;
  while (i < DELAY_BUCKETS_MS.length && v > DELAY_BUCKETS_MS[i]) i++;
  s.delayCounts[i]++;
  s.delaySumMs += v;
  s.delayCount++;
}

/** A failing append, read or write is logged on its first failure, then at most once per this many ms. */
export const LOG_EVERY_MS = 10_000;

/** Lines by key: the first at once, then at most one per LOG_EVERY_MS, saying how many were held back. */
export class ThrottledLog {
  readonly #log: (line: string) => void;
  readonly #seen = new Map<string, { at: number; more: number }>();

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  say(key: string, line: string): void {
    const now = Date.now();
    const seen = this.#seen.get(key);
    if (!seen || now - seen.at >= LOG_EVERY_MS) {
      this.#log(seen && seen.more > 0 ? `${line} (and ${seen.more} more times since the last report)` : line);
      this.#seen.set(key, { at: now, more: 0 });
    } else seen.more++;
  }

  /** whether a line was ever said under this key (a reconnect is worth a line only after a failure) */
  said(key: string): boolean {
    return this.#seen.has(key);
  }
}

/** An XINFO reply (a flat list of name, value, ...) as an object. */
export function fields(list: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i])] = list[i + 1];
  return out;
}

// The slowest requests of the last minute (GET /v1/debug/slow). Every request that a route
// with a stage split answers is offered here (src/server/stages.ts), so the common case must
// cost next to nothing: 61 one-second slots, each keeping its K slowest requests in
// preallocated entries. A request is compared once with its slot's smallest kept total and
// dropped when it is no slower; only a request that enters a full slot pays a scan of the
// slot (K entries) for the new smallest. A slot is reused when its second comes round again,
// which is what ages requests out. K is the largest list asked for (MAX_SLOW), so the
// slowest N of the minute are exactly the slowest N of the slots' entries.

/** The most requests GET /v1/debug/slow lists (?limit=), and what each slot keeps. */
export const MAX_SLOW = 100;
/** How far back the list looks, ms. */
export const SLOW_WINDOW_MS = 60_000;
/** a window of 60 s that does not start on a second touches 61 seconds: one slot each */
const SLOTS = 61;
/** The most stages a route class splits its time into (stages.ts). */
export const MAX_STAGES = 5;

/** One kept request; preallocated, overwritten when a slower request takes its place. */
export interface SlowEntry {
  /** index of the route class (stages.ts ROUTE_CLASSES) */
  route: number;
  /** the model, entity or stream the request named ('' when none) */
  name: string;
  status: number;
  /** arrival and answer, epoch ms (nowMs()) */
  at: number;
  end: number;
  totalMs: number;
  /** ms per stage of the route class; NaN in [0] when the request has no split (it failed before its stages) */
  readonly stages: Float64Array;
}

interface Slot {
  /** the second (epoch s) the slot holds, -1 before its first use */
  second: number;
  n: number;
  /** the smallest total kept, and where, once the slot is full */
  min: number;
  minAt: number;
  readonly entries: SlowEntry[];
}

export class SlowLog {
  readonly #k: number;
  readonly #slots: Slot[] = [];

  constructor(k = MAX_SLOW) {
    this.#k = k;
    for (let i = 0; i < SLOTS; i++) {
      const entries: SlowEntry[] = [];
      for (let j = 0; j < k; j++) entries.push({ route: 0, name: '', status: 0, at: 0, end: 0, totalMs: 0, stages: new Float64Array(MAX_STAGES) });
      this.#slots.push({ second: -1, n: 0, min: 0, minAt: 0, entries });
    }
  }

  /**
   * Offers an answered request (times in epoch ms; `split` holds `nSplit` stage times in ms,
   * or NaN first for none). Keeps it when it is among the K slowest of its second so far.
   */
  offer(route: number, name: string, status: number, at: number, end: number, split: Float64Array, nSplit: number): void {
    const total = end - at;
    const second = Math.floor(end / 1000);
    const slot = this.#slots[second % SLOTS];
    if (slot.second !== second) {
      slot.second = second;
      slot.n = 0;
    }
    let e: SlowEntry;
    if (slot.n === this.#k) {
      if (total <= slot.min) return; // the common case under load
      e = slot.entries[slot.minAt];
    } else e = slot.entries[slot.n++];
    e.route = route;
    e.name = name;
    e.status = status;
    e.at = at;
    e.end = end;
    e.totalMs = total;
    for (let i = 0; i < nSplit; i++) e.stages[i] = split[i];
    if (nSplit < MAX_STAGES) e.stages[nSplit] = NaN; // the end of the split
    if (slot.n === this.#k) {
      let min = Infinity;
      let at2 = 0;
      for (let i = 0; i < this.#k; i++) {
        const t = slot.entries[i].totalMs;
        if (t < min) {
          min = t;
          at2 = i;
        }
      }
      slot.min = min;
      slot.minAt = at2;
    }
  }

  /** The `limit` slowest requests answered in the SLOW_WINDOW_MS before `now` (epoch ms), slowest first. */
  slowest(limit: number, now: number): SlowEntry[] {
    const since = now - SLOW_WINDOW_MS;
    const out: SlowEntry[] = [];
    for (const s of this.#slots) {
      if (s.second < 0 || (s.second + 1) * 1000 <= since || s.second * 1000 > now) continue;
      for (let i = 0; i < s.n; i++) if (s.entries[i].end > since && s.entries[i].end <= now) out.push(s.entries[i]);
    }
    out.sort((a, b) => b.totalMs - a.totalMs);
    return out.slice(0, limit);
  }
}

// The batch ids this replica has applied, remembered for a bounded horizon: an entry whose
// id is here is a duplicate (the same XADD sent twice after a lost reply, or an entry
// delivered again after a restart or a reconnect) and is acknowledged without being
// applied again. Ids are kept in insertion order (a Map iterates in it) with the time and
// log seq each was applied at; the oldest go once older than the horizon or past the cap.
export class DedupWindow {
  readonly horizonMs: number;
  readonly max: number;
  readonly #seen = new Map<string, number>();
  /** applied-at times in insertion order, a ring parallel to the Map's order */
  #times: Float64Array;
  #head = 0;
  evicted = 0;

  constructor(horizonMs: number, max: number) {
    this.horizonMs = horizonMs;
    this.max = max;
    this.#times = new Float64Array(Math.min(max, 1024));
  }

  get size(): number {
    return this.#seen.size;
  }

  has(id: string): boolean {
    return this.#seen.has(id);
  }

  /** The log seq the id was applied with (0 without a log), or undefined. */
  seqOf(id: string): number | undefined {
    return this.#seen.get(id);
  }

  /** Remembers id (applied at nowMs with log record seq); an id already here is left as it is. */
  add(id: string, seq: number, nowMs: number): void {
    if (this.#seen.has(id)) return;
    this.expire(nowMs);
    if (this.#seen.size >= this.max) this.#evictOldest();
    const size = this.#seen.size;
    if (size >= this.#times.length) this.#grow();
    this.#times[(this.#head + size) % this.#times.length] = nowMs;
    this.#seen.set(id, seq);
  }

  /** Drops ids older than the horizon. */
  expire(nowMs: number): void {
    const cut = nowMs - this.horizonMs;
    while (this.#seen.size > 0 && this.#times[this.#head] < cut) this.#evictOldest();
  }

  /** Every id with its seq, oldest first (the applied-ids file is rewritten from this). */
  *entries(): IterableIterator<[string, number, number]> {
    let i = 0;
    for (const [id, seq] of this.#seen) yield [id, seq, this.#times[(this.#head + i++) % this.#times.length]];
  }

  #evictOldest(): void {
    const first = this.#seen.keys().next();
    if (first.done) return;
    this.#seen.delete(first.value);
    this.#head = (this.#head + 1) % this.#times.length;
    this.evicted++;
  }

  #grow(): void {
    const size = this.#seen.size;
    const next = new Float64Array(Math.min(this.max, this.#times.length * 2));
    for (let i = 0; i < size; i++) next[i] = this.#times[(this.#head + i) % this.#times.length];
    this.#times = next;
    this.#head = 0;
  }
}

// A bounded map with a time to live, least recently used first out: the L1 of src/cache.
//
// Entries live in preallocated slots (parallel arrays) chained in recency order by index
// (prev/next Int32Arrays; head: the newest, tail: the oldest); a Map finds a key's slot. A
// hit relinks its slot at the head and never touches the Map; a new key past the bound takes
// over the tail's slot. Why not the usual "re-insert into a Map, evict keys().next()": V8
// leaves a hole for every deleted Map entry until the table is rehashed, and keys().next()
// walks the holes at the front, so that LRU's eviction grows linear in the entries evicted
// since the last rehash; bench/cache.ts measured 2.2 us per hit and 0.2 ms per eviction at
// 100,000 entries for it. No lru-cache in node_modules, and this is all the L1 needs.

const NONE = -1;

export class Lru<V> {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly #index = new Map<string, number>();
  readonly #keys: (string | undefined)[];
  readonly #values: (V | undefined)[];
  readonly #expires: Float64Array;
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  #head = NONE;
  #tail = NONE;
  /** slots never used yet: 0..#fresh-1 are (or were) in use */
  #fresh = 0;
  /** slots freed by delete/expiry, reused before fresh ones */
  readonly #free: number[] = [];
  /** entries dropped to stay within maxEntries */
  evictions = 0;

  constructor(maxEntries: number, ttlMs: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be an integer >= 1');
    if (!(ttlMs > 0)) throw new RangeError('ttlMs must be > 0');
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
    this.#keys = new Array(maxEntries);
    this.#values = new Array(maxEntries);
    this.#expires = new Float64Array(maxEntries);
    this.#prev = new Int32Array(maxEntries);
    this.#next = new Int32Array(maxEntries);
  }

  get size(): number {
    return this.#index.size;
  }

  /** The live value of key (made the most recently used), or undefined; an expired entry is dropped. */
  get(key: string, nowMs: number): V | undefined {
    const s = this.#index.get(key);
    if (s === undefined) return undefined;
    if (this.#expires[s] <= nowMs) {
      this.#remove(key, s);
      return undefined;
    }
    if (s !== this.#head) {
      this.#unlink(s);
      this.#pushHead(s);
    }
    return this.#values[s];
  }

  set(key: string, value: V, nowMs: number): void {
    let s = this.#index.get(key);
    if (s !== undefined) {
      if (s !== this.#head) {
        this.#unlink(s);
        this.#pushHead(s);
      }
    } else {
      if (this.#free.length > 0) s = this.#free.pop()!;
      else if (this.#fresh < this.maxEntries) s = this.#fresh++;
      else {
        s = this.#tail;
        this.#index.delete(this.#keys[s]!);
        this.#unlink(s);
        this.evictions++;
      }
      this.#keys[s] = key;
      this.#index.set(key, s);
      this.#pushHead(s);
    }
    this.#values[s] = value;
    this.#expires[s] = nowMs + this.ttlMs;
  }

  delete(key: string): void {
    const s = this.#index.get(key);
    if (s !== undefined) this.#remove(key, s);
  }

  clear(): void {
    this.#index.clear();
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#head = this.#tail = NONE;
    this.#fresh = 0;
    this.#free.length = 0;
  }

  #remove(key: string, s: number): void {
    this.#index.delete(key);
    this.#unlink(s);
    this.#keys[s] = undefined;
    this.#values[s] = undefined; // let the answer be collected
    this.#free.push(s);
  }

  #unlink(s: number): void {
    const p = this.#prev[s];
    const n = this.#next[s];
    if (p === NONE) this.#head = n;
    else this.#next[p] = n;
    if (n === NONE) this.#tail = p;
    else this.#prev[n] = p;
  }

  #pushHead(s: number): void {
    this.#prev[s] = NONE;
    this.#next[s] = this.#head;
    if (this.#head !== NONE) this.#prev[this.#head] = s;
    this.#head = s;
    if (this.#tail === NONE) this.#tail = s;
  }
}

// A bounded map with a time to live, least recently used first out: the L1 of src/cache.
// A Map keeps insertion order, so re-inserting a key on a hit makes it the newest and the
// first key is always the least recently used one; eviction is one keys().next(). No
// lru-cache in node_modules, and this is all the L1 needs (bench/cache.ts measures it).

interface Slot<V> {
  value: V;
  /** Date.now()-based ms after which the entry is not served */
  expiresAt: number;
}

export class Lru<V> {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly #map = new Map<string, Slot<V>>();
  /** entries dropped to stay within maxEntries */
  evictions = 0;

  constructor(maxEntries: number, ttlMs: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be an integer >= 1');
    if (!(ttlMs > 0)) throw new RangeError('ttlMs must be > 0');
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The live value of key (made the most recently used), or undefined; an expired entry is dropped. */
  get(key: string, nowMs: number): V | undefined {
    const s = this.#map.get(key);
    if (s === undefined) return undefined;
    this.#map.delete(key);
    if (s.expiresAt <= nowMs) return undefined;
    this.#map.set(key, s);
    return s.value;
  }

  set(key: string, value: V, nowMs: number): void {
    const map = this.#map;
    if (!map.delete(key) && map.size >= this.maxEntries) {
      map.delete(map.keys().next().value as string);
      this.evictions++;
    }
    map.set(key, { value, expiresAt: nowMs + this.ttlMs });
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}

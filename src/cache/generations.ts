// Per-entity generation counters: how a cached answer knows that a newer event for one of
// its entities has been applied since it was computed.
//
// Each (entity table, id) maps to one slot of a fixed Uint32Array by the store's own id hash
// (hashIds: the hash the native tables key rows by, and the one binary frames and log replay
// hand taps). The ingest tap bumps the slot of every id of every applied batch; an answer
// records the slots' values when it is computed (before the store is read, or before a
// predict is submitted) and is served only while they are unchanged. Two entities that share
// a slot only cost each other extra misses, never a stale answer, so the table needs no
// index of entity -> cached keys, no removal, and a fixed amount of memory.
import type { Binding } from '../native/binding.js';
import { hashIds } from '../native/binding.js';

/** The slots of an answer's entities and their generations when it was computed. */
export interface Stamp {
  slots: number[];
  gens: number[];
}

export class Generations {
  readonly #gen: Uint32Array;
  readonly #mask: number;
  /** slot bumps (one per id per applied event) */
  bumps = 0;

  /** slots: a power of two */
  constructor(slots: number) {
    if (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError('slots must be a power of two');
    this.#gen = new Uint32Array(slots);
    this.#mask = slots - 1;
  }

  get slots(): number {
    return this.#gen.length;
  }

  /** The slot of a hashed id (its two 32-bit halves) in an entity table. */
  #slot(table: number, lo: number, hi: number): number {
    return ((lo ^ Math.imul(hi, 0x9e3779b1) ^ Math.imul(table + 1, 0x85ebca6b)) >>> 0) & this.#mask;
  }

  /** The current stamp of ids (ids[i] in tables[i]): one native hash call for all. */
  stamp(tables: readonly number[], ids: readonly string[]): Stamp {
    const h = hashIds(ids as string[]);
    const w = new Uint32Array(h.buffer, h.byteOffset, h.length * 2);
    const slots = new Array<number>(ids.length);
    const gens = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const s = this.#slot(tables[i], w[2 * i], w[2 * i + 1]);
      slots[i] = s;
      gens[i] = this.#gen[s];
    }
    return { slots, gens };
  }

  /** true while no entity of the stamp has had an event since it was taken */
  current(s: Stamp): boolean {
    for (let i = 0; i < s.slots.length; i++) if (this.#gen[s.slots[i]] !== s.gens[i]) return false;
    return true;
  }

  /** Bumps every id of a key column of an applied batch (strings from JSON, hashes otherwise). */
  bumpColumn(table: number, ids: Binding.KeyColumn, n: number): void {
    const h = ids instanceof BigUint64Array ? ids : hashIds(n === ids.length ? ids : ids.slice(0, n));
    const w = new Uint32Array(h.buffer, h.byteOffset, n * 2);
    const gen = this.#gen;
    for (let i = 0; i < n; i++) {
      const s = this.#slot(table, w[2 * i], w[2 * i + 1]);
      gen[s] = (gen[s] + 1) >>> 0;
    }
    this.bumps += n;
  }
}

// Sticky assignment: a unit's place in an experiment is a pure function of the unit id, the
// experiment's salt, its split and its current share, so no table of assignments is kept
// and every process (and the metric tap, on replayed events that carry only the id's hash)
// computes the same place.
//
// The unit id is hashed by the store's own 64-bit id hash (native/core/hash.h HashBytes,
// through hashIds): replayed log records carry ids as that hash, so events replayed at
// start are attributed exactly as they were live. From it and the salt's hash come two
// independent buckets in [0, 10000) (splitmix64's finaliser, Mix64, as in hash.h):
//   entry   = Mix64(unit ^ salt)           mod 10000: holdout, then the ramp
//   variant = Mix64(entry hash + golden)   mod 10000: which variant, by the weights
// entry < holdout·10000 holds the unit out. The others are in the experiment when
// entry − H < share·(10000 − H): a larger share only adds units. The variant bucket is
// cut by the cumulative weights, which never change while the experiment runs. So ramping
// up adds units and never moves one from a variant to another; ramping down (by hand) takes
// units out (they get control's target, uncounted) and, ramped up again, puts them back in
// the variant they had.
import { hashIds } from '../native/binding.js';

export const BUCKETS = 10_000;

const M64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;

/** splitmix64's finaliser (native/core/hash.h Mix64). */
export function mix64(x: bigint): bigint {
  x ^= x >> 30n;
  x = (x * 0xbf58476d1ce4e5b9n) & M64;
  x ^= x >> 27n;
  x = (x * 0x94d049bb133111ebn) & M64;
  x ^= x >> 31n;
  return x;
}

/** The store's hash of a unit id (the hash replayed events carry). */
export function unitHash(unit: string): bigint {
  return hashIds([unit])[0];
}

/** Where a unit falls: its entry and variant buckets, and the salted hash the unit sets key on. */
export interface Buckets {
  entry: number;
  variant: number;
  key: bigint;
}

export class Splitter {
  readonly saltHash: bigint;
  /** holdout buckets: entry < holdBuckets is held out */
  readonly holdBuckets: number;
  /** cumulative variant bucket bounds: variant i takes [bounds[i-1], bounds[i]) */
  readonly bounds: Int32Array;

  constructor(salt: string, holdout: number, weights: readonly number[]) {
    this.saltHash = unitHash(salt);
    this.holdBuckets = Math.round(holdout * BUCKETS);
    this.bounds = new Int32Array(weights.length);
    let acc = 0;
    weights.forEach((w, i) => {
      acc += w;
      this.bounds[i] = i === weights.length - 1 ? BUCKETS : Math.round(acc * BUCKETS);
    });
  }

  buckets(unit: bigint): Buckets {
    const key = mix64(unit ^ this.saltHash);
    const v = mix64((key + GOLDEN) & M64);
    return { entry: Number(key % BUCKETS_N), variant: Number(v % BUCKETS_N), key };
  }

  /** the variant a variant bucket belongs to */
  variantOf(bucket: number): number {
    let i = 0;
    while (bucket >= this.bounds[i]) i++;
    return i;
  }

  held(entry: number): boolean {
    return entry < this.holdBuckets;
  }

  /** in the experiment at this share (0..1 of the units not held out) */
  admitted(entry: number, share: number): boolean {
    if (entry < this.holdBuckets) return false;
    return entry - this.holdBuckets < Math.floor(share * (BUCKETS - this.holdBuckets) + 1e-9);
  }
}

const BUCKETS_N = BigInt(BUCKETS);

/**
 * A fixed-size set of units (a Bloom filter over their salted hash): which units were
 * exposed, which converted. Memory is fixed by the capacity (about 9.6 bits per unit for a
 * 1 % false-positive rate at capacity, 7 probes); past capacity the false-positive rate
 * grows and a few first exposures are taken for repeats (undercounted), a few events of
 * units never exposed are attributed. docs/experiments.md states the approximation.
 */
export class UnitSet {
  readonly bits: Uint32Array;
  readonly #m: number;
  static readonly PROBES = 7;

  constructor(capacity: number, bits?: Uint32Array) {
    const m = Math.ceil((capacity * 9.6) / 32) * 32;
    this.#m = m;
    this.bits = bits && bits.length === m / 32 ? bits : new Uint32Array(m / 32);
  }

  /** Adds the unit; false when it was (probably) there already. */
  add(key: bigint): boolean {
    const lo = Number(key & 0xffffffffn);
    const hi = Number(key >> 32n) | 1;
    let fresh = false;
    for (let i = 0; i < UnitSet.PROBES; i++) {
      const b = (lo + Math.imul(i, hi)) >>> 0;
      const at = b % this.#m;
      const w = at >>> 5;
      const mask = 1 << (at & 31);
      if ((this.bits[w] & mask) === 0) {
        fresh = true;
        this.bits[w] |= mask;
      }
    }
    return fresh;
  }

  has(key: bigint): boolean {
    const lo = Number(key & 0xffffffffn);
    const hi = Number(key >> 32n) | 1;
    for (let i = 0; i < UnitSet.PROBES; i++) {
      const at = ((lo + Math.imul(i, hi)) >>> 0) % this.#m;
      if ((this.bits[at >>> 5] & (1 << (at & 31))) === 0) return false;
    }
    return true;
  }
}

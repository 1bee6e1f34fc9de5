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
// The arithmetic is on 32-bit halves in plain numbers (a BigInt version cost 1-2 µs per
// unit); ids in a batch arrive as the store's hashes in a BigUint64Array, read as (lo, hi)
// word pairs through a Uint32Array view of the same memory (little-endian, as every
// platform Node runs on here). The test checks the halves against a BigInt Mix64 and the
// id hash against the addon's.
import { hashIds } from '../native/binding.js';

export const BUCKETS = 10_000;
/** 2^32 mod BUCKETS: (hi·2^32 + lo) mod B = ((hi mod B)·(2^32 mod B) + lo) mod B, exact in doubles */
const TWO32_MOD = 4294967296 % BUCKETS;

/** The low 64 bits of (aHi:aLo)·(bHi:bLo), as halves in r[0] (lo) and r[1] (hi). */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number, r: Uint32Array): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  r[0] = ((mid & 0xffff) << 16) | (p00 & 0xffff);
  r[1] = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(aHi, bLo) + Math.imul(aLo, bHi);
}

/**
 * splitmix64's finaliser (native/core/hash.h Mix64) on the halves in r (r[0] lo, r[1] hi),
 * in place: x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27; x *= 0x94d049bb133111eb;
 * x ^= x >> 31.
 */
export function mix64Halves(r: Uint32Array): void {
  let lo = r[0];
  let hi = r[1];
  lo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
  hi = (hi ^ (hi >>> 30)) >>> 0;
  mul64(hi, lo, 0xbf58476d, 0x1ce4e5b9, r);
  lo = r[0];
  hi = r[1];
  lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
  hi = (hi ^ (hi >>> 27)) >>> 0;
  mul64(hi, lo, 0x94d049bb, 0x133111eb, r);
  lo = r[0];
  hi = r[1];
  r[0] = (lo ^ ((lo >>> 31) | (hi << 1))) >>> 0;
  r[1] = (hi ^ (hi >>> 31)) >>> 0;
}

const GOLDEN_LO = 0x7f4a7c15;
const GOLDEN_HI = 0x9e3779b9;
const encoder = new TextEncoder();
let utf8 = new Uint8Array(1024);
let utf8View = new DataView(utf8.buffer);
const hr = new Uint32Array(2);

/**
 * The store's hash of a unit id (native/core/hash.h HashBytes over its UTF-8 bytes: the
 * hash the store keys rows by and replayed events carry ids as), as (lo, hi) words, written
 * here on 32-bit halves so that a request needs no native call. The unit test checks it
 * against the addon's hashIds on ids of every length up to the id limit.
 */
export function unitHash(unit: string): Uint32Array {
  if (unit.length * 3 > utf8.length) {
    utf8 = new Uint8Array(unit.length * 3);
    utf8View = new DataView(utf8.buffer);
  }
  const total = encoder.encodeInto(unit, utf8).written;
  // h = golden ^ (n * 0xff51afd7ed558ccd)
  mul64(0, total, 0xff51afd7, 0xed558ccd, hr);
  let lo = (hr[0] ^ GOLDEN_LO) >>> 0;
  let hi = (hr[1] ^ GOLDEN_HI) >>> 0;
  let at = 0;
  let n = total;
  while (n >= 8) {
    hr[0] = lo ^ utf8View.getUint32(at, true);
    hr[1] = hi ^ utf8View.getUint32(at + 4, true);
    mix64Halves(hr);
    // + golden, with the carry
    lo = (hr[0] + GOLDEN_LO) >>> 0;
    hi = (hr[1] + GOLDEN_HI + (lo < hr[0] ? 1 : 0)) >>> 0;
    at += 8;
    n -= 8;
  }
  let tLo = 0;
  let tHi = 0;
  for (let i = 0; i < n; i++) {
    if (i < 4) tLo |= utf8[at + i] << (8 * i);
    else tHi |= utf8[at + i] << (8 * (i - 4));
  }
  hr[0] = lo ^ tLo;
  hr[1] = hi ^ tHi ^ (n << 24);
  mix64Halves(hr);
  return Uint32Array.of(hr[0], hr[1]);
}

/** The addon's hash of one id (hashIds), as (lo, hi) words: the reference unitHash must equal. */
export function nativeUnitHash(unit: string): Uint32Array {
  const h = hashIds([unit]);
  return new Uint32Array(h.buffer, h.byteOffset, 2);
}

/** A BigUint64Array of hashes as (lo, hi) word pairs. */
export const words = (h: BigUint64Array): Uint32Array => new Uint32Array(h.buffer, h.byteOffset, h.length * 2);

export class Splitter {
  /** the salt's hash (lo, hi) */
  readonly #salt: Uint32Array;
  /** holdout buckets: entry < holdBuckets is held out */
  readonly holdBuckets: number;
  /** cumulative variant bucket bounds: variant i takes [bounds[i-1], bounds[i]) */
  readonly bounds: Int32Array;
  // the last buckets() call's results (no object per unit)
  entry = 0;
  variant = 0;
  keyLo = 0;
  keyHi = 0;
  readonly #r = new Uint32Array(2);

  constructor(salt: string, holdout: number, weights: readonly number[]) {
    this.#salt = unitHash(salt).slice();
    this.holdBuckets = Math.round(holdout * BUCKETS);
    this.bounds = new Int32Array(weights.length);
    let acc = 0;
    weights.forEach((w, i) => {
      acc += w;
      this.bounds[i] = i === weights.length - 1 ? BUCKETS : Math.round(acc * BUCKETS);
    });
  }

  /**
   * The buckets of the unit whose hash is (lo, hi): entry, variant and the salted key the
   * unit sets use, left in this.entry, this.variant, this.keyLo, this.keyHi.
   */
  buckets(lo: number, hi: number): void {
    const r = this.#r;
    r[0] = lo ^ this.#salt[0];
    r[1] = hi ^ this.#salt[1];
    mix64Halves(r);
    const kLo = r[0];
    const kHi = r[1];
    this.keyLo = kLo;
    this.keyHi = kHi;
    this.entry = ((kHi % BUCKETS) * TWO32_MOD + kLo) % BUCKETS;
    // key + golden ratio (0x9e3779b97f4a7c15), with the carry
    const sLo = (kLo + 0x7f4a7c15) >>> 0;
    r[0] = sLo;
    r[1] = kHi + 0x9e3779b9 + (sLo < kLo ? 1 : 0);
    mix64Halves(r);
    this.variant = ((r[1] % BUCKETS) * TWO32_MOD + r[0]) % BUCKETS;
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

/**
 * A fixed-size set of units (a blocked Bloom filter over their salted key): which units were
 * exposed, which converted. Memory is fixed by the capacity (9.6 bits per unit); the key's
 * low word picks a 512-bit block (one cache line pair), its high word the 7 bits in it, so
 * an add or a lookup touches one block. About 1 % false positives at capacity (measured in
 * the unit test); past capacity the rate grows, a few first exposures are taken for repeats
 * (undercounted) and a few events of units never exposed are attributed.
 * docs/experiments.md states the approximation.
 */
export class UnitSet {
  readonly bits: Uint32Array;
  readonly #blocks: number;
  static readonly PROBES = 7;

  constructor(capacity: number, bits?: Uint32Array) {
    this.#blocks = Math.ceil((capacity * 9.6) / 512);
    const words = this.#blocks * 16;
    this.bits = bits && bits.length === words ? bits : new Uint32Array(words);
  }

  /** Adds the unit (its key's halves); false when it was (probably) there already. */
  add(lo: number, hi: number): boolean {
    const base = (lo % this.#blocks) * 16;
    const h1 = hi & 511;
    const h2 = ((hi >>> 9) & 511) | 1;
    let fresh = false;
    for (let i = 0; i < UnitSet.PROBES; i++) {
      const at = (h1 + i * h2) & 511;
      const w = base + (at >>> 5);
      const mask = 1 << (at & 31);
      if ((this.bits[w] & mask) === 0) {
        fresh = true;
        this.bits[w] |= mask;
      }
    }
    return fresh;
  }

  has(lo: number, hi: number): boolean {
    const base = (lo % this.#blocks) * 16;
    const h1 = hi & 511;
    const h2 = ((hi >>> 9) & 511) | 1;
    for (let i = 0; i < UnitSet.PROBES; i++) {
      const at = (h1 + i * h2) & 511;
      if ((this.bits[base + (at >>> 5)] & (1 << (at & 31))) === 0) return false;
    }
    return true;
  }
}

// The fuzzers' mutation engine: a seeded generator and mutators for bytes, JSON values and
// strings. Coverage-less (no feedback): the seeds are valid requests, so most mutants stay
// close enough to valid to get past the first checks, and the stacked mutations reach the
// odd corners (lengths, types, nesting, encodings). Everything is drawn from one Rng, so a
// seed replays the same sequence on every machine.
//
// Hand-written because npm has no maintained byte/JSON mutation library (fast-check
// generates values from arbitraries but does not mutate seed inputs, and Jazzer.js, the
// coverage-guided option, does not load here: see docs/testing.md).
import { mulberry32 } from '../support/random.js';

export class Rng {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  float(): number {
    return this.#next();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }

  chance(p: number): boolean {
    return this.#next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** An index drawn by weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.#next() * total;
    for (let i = 0; i < weights.length; i++) if ((x -= weights[i]) < 0) return i;
    return weights.length - 1;
  }

  /** A small size, mostly tiny, sometimes large: 0..max with a log-uniform bias. */
  size(max: number): number {
    return Math.min(max, Math.floor(Math.exp(this.#next() * Math.log(max + 1))) - 1 + (this.chance(0.1) ? this.int(2) : 0));
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

export const INTERESTING_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 0.5, -0.5, 2, 10, 63, 64, 65, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, -(2 ** 31), 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63,
  2 ** 64, 1e308, -1e308, 5e-324, 1e21, 8.64e15, 8.64e15 + 1, 1714564800000, Date.now(), Date.now() + 1e9, 3.14159,
];

export const INTERESTING_STRINGS: readonly string[] = [
  '', ' ', 'a', '0', '-0', '01', '1e3', '-1', '42', 'NaN', 'Infinity', 'null', 'true', '__proto__', 'constructor', 'prototype', 'toString',
  '\u0000', '\ud800', '\udfff', '\u{1f600}', '\ufeff', 'é', '\u2028', '%', '%ZZ', '%00', '../', '/', '?', '#', '\\', '"', "'", '\r\n', ':', 'a:b', 'user:',
  'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(129), '2024-05-01T12:00:00Z', '2024-13-45T99:99:99Z', '1714564800000', '9'.repeat(30),
  'user', 'merchant', 'tx', 'amount', 'ts', 'user_id', 'merchant_id', 'country', 'fraud', 'rules', 'leaky', 'features', 'score',
  'FP32', 'FP16', 'BYTES', 'BOOL', 'INT64', 'UINT64', 'FP64',
];

const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x0a, 0x0d, 0x20, 0x30, 0x39, 0x2d, 0xc0, 0xe0, 0xf0, 0xed];

/** One to `max` stacked byte-level mutations of b (b is not changed). */
export function mutateBytes(rng: Rng, b: Uint8Array, max = 4): Buffer {
  let out: Buffer = Buffer.from(b);
  const n = 1 + rng.int(max);
  for (let k = 0; k < n; k++) out = mutateOnce(rng, out);
  return out;
}

function mutateOnce(rng: Rng, b: Buffer): Buffer {
  const at = () => rng.int(b.length + 1);
  switch (rng.int(11)) {
    case 0: { // flip a bit
      if (b.length === 0) return rng.bytes(1);
      const i = rng.int(b.length);
      b[i] ^= 1 << rng.int(8);
      return b;
    }
    case 1: { // set a byte, random or interesting
      if (b.length === 0) return rng.bytes(1);
      b[rng.int(b.length)] = rng.chance(0.5) ? rng.int(256) : rng.pick(INTERESTING_BYTES);
      return b;
    }
    case 2: { // insert random bytes
      const i = at();
      return Buffer.concat([b.subarray(0, i), rng.bytes(1 + rng.size(16)), b.subarray(i)]);
    }
    case 3: { // delete a range
      const i = at();
      return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + rng.size(32)))]);
    }
    case 4: { // duplicate a range
      const i = at();
      const j = Math.min(b.length, i + 1 + rng.size(64));
      const times = 1 + rng.size(8);
      return Buffer.concat([b.subarray(0, j), ...Array.from({ length: times }, () => b.subarray(i, j)), b.subarray(j)]);
    }
    case 5: // truncate
      return b.subarray(0, at());
    case 6: { // overwrite with an interesting little-endian integer (lengths, counts, ids)
      const width = rng.pick([1, 2, 4]);
      if (b.length < width) return b;
      const i = rng.int(b.length - width + 1);
      const v = rng.pick([0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff]);
      for (let w = 0; w < width; w++) b[i + w] = (v >>> (8 * w)) & 0xff;
      return b;
    }
    case 7: { // overwrite with an interesting f64 (values in binary rows and tensors)
      if (b.length < 8) return b;
      const i = rng.int(b.length - 7);
      b.writeDoubleLE(rng.pick([NaN, Infinity, -Infinity, -1, 0, -0, 2 ** 53, 2 ** 53 + 2, 8.64e15 + 1, 1e300, Date.now() + 1e12]), i);
      return b;
    }
    case 8: { // insert an interesting string's bytes
      const i = at();
      return Buffer.concat([b.subarray(0, i), Buffer.from(rng.pick(INTERESTING_STRINGS)), b.subarray(i)]);
    }
    case 9: { // swap two ranges
      if (b.length < 2) return b;
      const i = rng.int(b.length);
      const j = rng.int(b.length);
      const len = Math.min(1 + rng.size(16), b.length - Math.max(i, j));
      const tmp = Buffer.from(b.subarray(i, i + len));
      b.copy(b, i, j, j + len);
      tmp.copy(b, j);
      return b;
    }
    default: { // append random bytes
      return Buffer.concat([b, rng.bytes(1 + rng.size(64))]);
    }
  }
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A random JSON value, nested up to `depth`. */
export function randomJson(rng: Rng, depth = 3): Json {
  switch (rng.int(depth > 0 ? 8 : 5)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.chance(0.5) ? rng.pick(INTERESTING_NUMBERS) : (rng.float() - 0.5) * 10 ** rng.int(12);
    case 3: return rng.pick(INTERESTING_STRINGS);
    case 4: return rng.bytes(rng.size(12)).toString('latin1');
    case 5: case 6: return Array.from({ length: rng.size(6) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, Json> = {};
      for (let i = rng.size(5); i > 0; i--) o[rng.pick(INTERESTING_STRINGS)] = randomJson(rng, depth - 1);
      return o;
    }
  }
}

/** A nesting `depth` deep: [[[...]]] or {"a":{"a":...}}, as text (too deep to build as objects cheaply). */
export function deepJson(rng: Rng, depth: number, leaf = '1'): string {
  return rng.chance(0.5) ? '['.repeat(depth) + leaf + ']'.repeat(depth) : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

// A value nested thousands deep cannot be built and stringified as an object (JSON.stringify
// recurses), so mutateJson leaves a marker string that stringifyJson replaces with the text.
const DEEP = /"\u0000deep:(\d+):([ao])"/g;

/** JSON.stringify, with the deep-nesting markers of mutateJson expanded. */
export function stringifyJson(v: Json): string {
  return (JSON.stringify(v) ?? 'null').replace(DEEP, (_m, n: string, k: string) => (k === 'a' ? '['.repeat(+n) + ']'.repeat(+n) : '{"a":'.repeat(+n) + '1' + '}'.repeat(+n)));
}

/** One to `max` stacked structure-aware mutations of a JSON value (v is not changed). */
export function mutateJson(rng: Rng, v: Json, max = 3): Json {
  let out = structuredClone(v);
  const n = 1 + rng.int(max);
  for (let k = 0; k < n; k++) out = mutateJsonOnce(rng, out, 0);
  return out;
}

function mutateJsonOnce(rng: Rng, v: Json, depth: number): Json {
  // Descend into a container most of the time, so that mutations land at every level.
  if (v !== null && typeof v === 'object' && depth < 8 && rng.chance(0.7)) {
    if (Array.isArray(v)) {
      if (v.length > 0 && rng.chance(0.8)) {
        const i = rng.int(v.length);
        v[i] = mutateJsonOnce(rng, v[i], depth + 1);
        return v;
      }
    } else {
      const keys = Object.keys(v);
      if (keys.length > 0 && rng.chance(0.8)) {
        const k = rng.pick(keys);
        v[k] = mutateJsonOnce(rng, v[k], depth + 1);
        return v;
      }
    }
  }
  switch (rng.int(11)) {
    case 10: // nested thousands deep (see stringifyJson)
      return `\u0000deep:${rng.pick([100, 3000, 6000, 10000])}:${rng.pick(['a', 'o'])}`;
    case 0: return randomJson(rng, 2); // replace with anything
    case 1: // change the type, keeping something of the value
      return typeof v === 'number' ? String(v) : typeof v === 'string' ? (Number(v) || rng.pick(INTERESTING_NUMBERS)) : Array.isArray(v) ? (v[0] ?? null) : [v];
    case 2: // an interesting number
      return rng.pick(INTERESTING_NUMBERS);
    case 3: // an interesting string
      return rng.pick(INTERESTING_STRINGS);
    case 4: { // arrays: grow, shrink, duplicate; objects: drop a key
      if (Array.isArray(v)) {
        if (v.length > 0 && rng.chance(0.3)) return v.slice(0, rng.int(v.length));
        const times = rng.size(rng.chance(0.1) ? 5000 : 8);
        const src = v.length > 0 ? v : [randomJson(rng, 1)];
        return v.concat(Array.from({ length: times }, (_, i) => structuredClone(src[i % src.length])));
      }
      if (v !== null && typeof v === 'object') {
        const keys = Object.keys(v);
        if (keys.length > 0) delete v[rng.pick(keys)];
      }
      return v;
    }
    case 5: { // objects: add or rename a key
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        if (keys.length > 0 && rng.chance(0.5)) {
          const k = rng.pick(keys);
          const val = v[k];
          delete v[k];
          v[rng.pick(INTERESTING_STRINGS)] = val;
        } else v[rng.pick(INTERESTING_STRINGS)] = randomJson(rng, 1);
      }
      return v;
    }
    case 6: return null;
    case 7: return {};
    case 8: return [];
    default: // wrap
      return rng.chance(0.5) ? [v] : { [rng.pick(INTERESTING_STRINGS)]: v };
  }
}

/** Text-level JSON mutations that a JSON value cannot express: duplicate keys, deep nesting, junk. */
export function mutateJsonText(rng: Rng, text: string): string {
  switch (rng.int(6)) {
    case 0: return text.replace(/^\{/, `{"${rng.pick(['user_id', 'entities', 'inputs', 'features', 'id', '__proto__'])}":${JSON.stringify(randomJson(rng, 1))},`);
    case 1: { // a deep nesting for one scalar value (or the whole text)
      const deep = deepJson(rng, rng.pick([64, 1000, 5000, 20000]));
      const values = [...text.matchAll(/:("(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null)/g)];
      if (values.length === 0) return deep;
      const m = rng.pick(values);
      return `${text.slice(0, m.index + 1)}${deep}${text.slice(m.index + m[0].length)}`;
    }
    case 2: return `${text}${rng.pick(['', ',', '}', ']', '\n{}', ' garbage', '\u0000'])}`;
    case 3: return text.replace(/\d+(\.\d+)?/, () => rng.pick(['1e999', '-1e999', '0x10', '01', '.5', '1.', '-', '1e', '9'.repeat(400)]));
    case 4: return text.slice(0, rng.int(text.length + 1));
    default: return `\ufeff${text}`;
  }
}

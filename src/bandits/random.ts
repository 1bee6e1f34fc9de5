// The bandits' seeded generator, shared by the server's policies and the simulation
// (bench/bandits-sim.ts). xoshiro128** (Blackman & Vigna 2018): four 32-bit words of state,
// period 2^128 - 1, 32-bit integer arithmetic only (Math.imul), so it is fast in V8 and the
// same sequence for a seed on every machine. mulberry32 (src/bench/random.ts) has a period
// of 2^32, which one simulation run of Thompson sampling over 100 arms (10^8 Beta draws,
// each several uniforms) would pass; and its closure hides the state a snapshot must keep.
//
// On top: uniforms in (0, 1) (never 0: logs of them are finite), normals (the ziggurat), Gamma(shape) by Marsaglia & Tsang (2000)
// with Stuart's boost below shape 1, and Beta(a, b) as X / (X + Y) of two Gammas.

const TWO_32 = 4294967296;
const INV_TWO_32 = 1 / TWO_32;

// The ziggurat's tables (Marsaglia & Tsang 2000, RNOR with 128 layers): for layer i, KN the
// bound under which |hz| lies inside the layer's rectangle, WN the scale of hz to x, FN the
// density at the layer's edge.
const ZIG_R = 3.442619855899;
const KN = new Float64Array(128);
const WN = new Float64Array(128);
const FN = new Float64Array(128);
{
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = ZIG_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  KN[0] = Math.floor((dn / q) * m1);
  KN[1] = 0;
  WN[0] = q / m1;
  WN[127] = dn / m1;
  FN[0] = 1;
  FN[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / m1;
  }
}

export class Rng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Restarts the sequence of `seed` (any number; its low 32 bits and the rest mixed by splitmix32). */
  seed(seed: number): void {
    let x = (seed >>> 0) ^ Math.floor(seed / TWO_32);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return z ^ (z >>> 16); // int32: the state words stay small integers to V8 (a uint32 above 2^31 would make them doubles, 5x slower)
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1; // the one state it never leaves
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextU32(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform on (0, 1): (k + 0.5) / 2^32. */
  uniform(): number {
    return (this.nextU32() + 0.5) * INV_TWO_32; // exact: a power of two
  }

  /** Uniform integer in [0, n) (n < 2^32; the bias is below n / 2^32). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /**
   * Standard normal: Marsaglia & Tsang's ziggurat (2000, 128 layers). Most draws are one
   * 32-bit integer, a table compare and a multiply; the wedges and the tail (about 2 %)
   * take the exact rejection steps.
   */
  normal(): number {
    const hz = this.nextU32() | 0;
    const iz = hz & 127;
    if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
    return this.#normalSlow(hz, iz);
  }

  #normalSlow(hz: number, iz: number): number {
    for (;;) {
      const x = hz * WN[iz];
      if (iz === 0) {
        // the tail beyond R: Marsaglia's exponential method
        let t: number;
        let y: number;
        do {
          t = -Math.log(this.uniform()) / ZIG_R;
          y = -Math.log(this.uniform());
        } while (y + y < t * t);
        return hz > 0 ? ZIG_R + t : -ZIG_R - t;
      }
      if (FN[iz] + this.uniform() * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = this.nextU32() | 0;
      iz = hz & 127;
      if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
    }
  }

  /** Gamma(shape, 1), shape > 0 (Marsaglia & Tsang; shape < 1 by Gamma(shape + 1) * U^(1/shape)). */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.uniform(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return d * v; // the squeeze: most draws stop here
      if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b), a, b > 0. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    return x / (x + this.gamma(b));
  }

  /** The state (for snapshots): the four words. */
  state(): number[] {
    return [this.#s0 >>> 0, this.#s1 >>> 0, this.#s2 >>> 0, this.#s3 >>> 0];
  }

  restore(s: readonly number[]): void {
    if (s.length !== 4 || !s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_32)) throw new Error('not a generator state');
    this.#s0 = s[0] | 0;
    this.#s1 = s[1] | 0;
    this.#s2 = s[2] | 0;
    this.#s3 = s[3] | 0;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// Normal tail probabilities for the detectors. JavaScript has no erfc, and NAB's
// windowed Gaussian lives at the far tail (its threshold ends up at scores that round to
// 1.0), so erfc needs relative accuracy out to z ≈ 9, not just absolute accuracy.

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erfc(x) for any x. Below |x| = 2: 1 - erf(x) by its Maclaurin series (absolute error
 * ~1e-16, and erfc(2) = 0.0047, so relative error stays < 1e-13). From 2 up: the
 * continued fraction erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))),
 * evaluated by modified Lentz, which converges fast there and keeps relative accuracy.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - TWO_OVER_SQRT_PI * sum;
  }
  if (x > 27) return 0; // exp(-x²) underflows
  // f = x + a1/(x + a2/(x + ...)), a_k = k/2
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? tiny : d;
    c = x + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Q(z) = P(Z > z) for a standard normal Z. */
export const normalTail = (z: number): number => 0.5 * erfc(z / Math.SQRT2);

// The native detectors (src/native/detectors.ts) as NAB stream detectors, for bench/nab.ts.
// They live here, not in src/eval/nab: the NAB code stands alone and imports nothing of
// hotpath's (test/unit/layers.test.ts), while the bench may import both.
//
// NAB's rule: a detector learns from the stream only (no per-file tuning, no look at the
// file's min/max or length). So:
//   - robust_z and ew give |x − centre|/scale; mapped to [0, 1] by 1 − 2Q(z/3), as the TS
//     prototypes do (zScale 3);
//   - hst needs its features in known limits: each value is min-max normalised by the
//     running min and max of the values seen *before* it (0.5 while that range is empty),
//     clamped to [0, 1]; the trees' limits are then [0, 1]. A new extreme lands at 0 or 1.
//   - each also "+lik": the TS anomaly likelihood (nupic's defaults) over its [0, 1] score,
//     and "+lik+spatial": then Numenta's spatial rule, the winner's two post-processings.
import type { StreamDetector } from '../src/eval/nab/run.js';
import { Likelihood } from '../src/eval/nab/detectors/likelihood.js';
import { Spatial } from '../src/eval/nab/detectors/spatial.js';
import { normalTail } from '../src/eval/nab/stats.js';
import { AnomalyDetector, type LikelihoodOptions } from '../src/native/detectors.js';

/** The native `likelihood` kind, one point per call (as a server stream would feed it). */
export const nativeLikelihood = (opts: LikelihoodOptions = {}): StreamDetector => {
  const d = new AnomalyDetector('likelihood', opts);
  return { score: (_t, x) => d.scoreLearn(x) };
};

/** A native z-score detector (robust_z or ew), z mapped to 1 − 2Q(z/3). */
const zDetector = (d: AnomalyDetector): StreamDetector => ({
  score: (_t, x) => {
    const z = d.scoreLearn(x);
    return z === Infinity ? 1 : 1 - 2 * normalTail(z / 3);
  },
});

/** Half-Space Trees over the value min-max normalised by the range seen before it. */
const hstStream = (): StreamDetector => {
  const d = new AnomalyDetector('hst', {}); // River's defaults: 10 trees, height 8, window 250
  let lo = Infinity;
  let hi = -Infinity;
  return {
    score: (_t, x) => {
      const u = hi > lo ? Math.min(1, Math.max(0, (x - lo) / (hi - lo))) : 0.5;
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      return d.scoreLearn(u);
    },
  };
};

const robustZ = (): StreamDetector => zDetector(new AnomalyDetector('robust_z', { window: 1000, minCount: 10 }));
// alpha 0.001 as the winner's EW (its own warm-up differs: a fixed alpha from the first point).
const ew = (): StreamDetector => zDetector(new AnomalyDetector('ew', { alpha: 0.001, warmup: 10 }));
const lik = (make: () => StreamDetector) => () => new Likelihood(make());
const likSpatial = (make: () => StreamDetector) => () => new Spatial(new Likelihood(make()), 0.05);

export const NATIVE_DETECTORS: Record<string, { about: string; make: () => StreamDetector }> = {
  'native-likelihood': { about: "native kind 'likelihood' (defaults): the ported ew-likelihood", make: () => nativeLikelihood() },
  'native-hst': { about: "native HST (River's defaults) over the running min-max", make: hstStream },
  'native-hst-lik': { about: 'native HST (as above) + likelihood', make: lik(hstStream) },
  'native-hst-lik-spatial': { about: 'native HST (as above) + likelihood + spatial', make: likSpatial(hstStream) },
  'native-robust-z': { about: 'native robust_z 1000 (minCount 10), 1 − 2Q(z/3)', make: robustZ },
  'native-robust-z-lik': { about: 'native robust_z (as above) + likelihood', make: lik(robustZ) },
  'native-robust-z-lik-spatial': { about: 'native robust_z (as above) + likelihood + spatial', make: likSpatial(robustZ) },
  'native-ew': { about: 'native ew alpha 0.001 (warmup 10), 1 − 2Q(z/3)', make: ew },
  'native-ew-lik': { about: 'native ew (as above) + likelihood', make: lik(ew) },
  'native-ew-lik-spatial': { about: 'native ew (as above) + likelihood + spatial', make: likSpatial(ew) },
};

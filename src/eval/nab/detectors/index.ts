// The detectors bench/nab.ts can run, by name, each with the one parameter set used for
// the whole corpus. docs/nab.md has their scores.
import type { StreamDetector } from '../run.js';
import { Diff, MaxOf } from './combine.js';
import { ewLikelihood } from './ew-likelihood.js';
import { EwZ } from './ew-z.js';
import { Likelihood } from './likelihood.js';
import { RobustZ } from './robust-z.js';
import { Spatial } from './spatial.js';
import { WindowedGaussian } from './windowed-gaussian.js';

export const DETECTORS: Record<string, { about: string; make: () => StreamDetector; digits?: number }> = {
  'windowed-gaussian': { about: "NAB's windowed Gaussian (6400/100), scores at 12 digits as NAB's CSVs", make: () => new WindowedGaussian(), digits: 12 },
  'windowed-gaussian-full': { about: 'the same, full-precision scores', make: () => new WindowedGaussian() },
  'spatial-only': { about: "Numenta's spatial rule alone (1 beyond the range seen ±5%, else 0.0301)", make: () => new Spatial(new Likelihood({ score: () => 0 })) },
  'robust-z': { about: 'robust z (median/MAD of last 1000), raw 1-2Q(z)', make: () => new RobustZ({ window: 1000 }) },
  'robust-z-lik': { about: 'robust z 1000, zScale 3, + likelihood', make: () => new Likelihood(new RobustZ({ window: 1000, zScale: 3 })) },
  'robust-z-lik-spatial': { about: 'robust z 1000, zScale 3, + likelihood + spatial', make: () => new Spatial(new Likelihood(new RobustZ({ window: 1000, zScale: 3 }))) },
  'robust-z-diff-lik-spatial': { about: 'robust z of first differences 1000/3 + likelihood + spatial', make: () => new Spatial(new Likelihood(new Diff(new RobustZ({ window: 1000, zScale: 3 })))) },
  'ew-z-lik': { about: 'EW z (alpha 0.001, zScale 3) + likelihood', make: () => new Likelihood(new EwZ(0.001, 3)) },
  'ew-likelihood': { about: 'EW z (alpha 0.001, zScale 3) + likelihood + spatial: the best', make: () => ewLikelihood() },
  // Two timescales, fixed before scoring: the likelihood over a slow EW z (1000 rows) and
  // over a fast one (100 rows, ~8 h of 5-minute data), the larger wins.
  'ew2-likelihood': { about: 'max(likelihood over EW z 0.001/3, over EW z 0.01/3) + spatial (tried: worse)', make: () => new Spatial(new MaxOf([new Likelihood(new EwZ(0.001, 3)), new Likelihood(new EwZ(0.01, 3))])) },
  'max-ew-rz-lik-spatial': { about: 'max(EW z 0.001/3, robust z 3000/3) + likelihood + spatial', make: () => new Spatial(new Likelihood(new MaxOf([new EwZ(0.001, 3), new RobustZ({ window: 3000, zScale: 3 })]))) },
};

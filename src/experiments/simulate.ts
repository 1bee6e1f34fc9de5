// The sequential tests under continuous peeking, simulated: the core of
// bench/experiments-sim.ts (and of the test that checks the false-positive rate). Each run
// streams units into a two-variant experiment, 50/50 by coin flip, and looks after every
// batch of units up to a horizon, through Experiment.evaluate (the running always-valid
// p-values, Bonferroni, min_samples), with the variants' sufficient statistics set from the
// simulated units (the assignment hash is tested on its own and would only slow 1,000 runs).
// At each look four rules: mSPRT p < α, confidence sequence p < α, the z-test p < α (naive
// peeking), and the z-test once at the horizon (the fixed-horizon reference).
import { type ExperimentDef, loadConfigText } from '../config/load.js';
import { mulberry32 } from '../bench/random.js';
import { Experiment } from './experiment.js';

export interface SimOptions {
  runs: number;
  /** units per look */
  batch: number;
  seed: number;
  alpha: number;
  minSamples: number;
}

function def(kind: 'conversion' | 'mean', alpha: number, minSamples: number): ExperimentDef {
  return loadConfigText(`
streams:
  s: { keys: { user: user_id }, fields: { value: number } }
entities:
  user: { features: { n: { agg: count, window: 1h } } }
models:
  m: { learner: { algorithm: sgd }, inputs: [{ feature: user.n }] }
experiments:
  sim:
    variants: { a: { weight: 50, model: m }, b: { weight: 50, model: m } }
    metric: { stream: s, unit: user, kind: ${kind}${kind === 'mean' ? ', field: value' : ''} }
    test: { alpha: ${alpha}, min_samples: ${minSamples} }
    max_units: 1000
`).experiments[0];
}

export interface Scenario {
  name: string;
  kind: 'conversion' | 'mean';
  /** conversion: the two rates; mean: the two means (σ = 1) */
  a: number;
  b: number;
  /** units in all (both arms) at the horizon */
  horizon: number;
}

export interface Outcome {
  rejected: number;
  /** units at the first rejecting look, per rejecting run */
  at: number[];
}

function gaussian(rand: () => number): () => number {
  return () => {
    const u = 1 - rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

export function simulate(s: Scenario, o: SimOptions): Record<'msprt' | 'cs' | 'z' | 'once', Outcome> {
  const { runs: RUNS, batch: BATCH, alpha: ALPHA, minSamples: MIN_SAMPLES } = o;
  const d = def(s.kind, ALPHA, MIN_SAMPLES);
  const out = { msprt: { rejected: 0, at: [] as number[] }, cs: { rejected: 0, at: [] as number[] }, z: { rejected: 0, at: [] as number[] }, once: { rejected: 0, at: [] as number[] } };
  for (let run = 0; run < RUNS; run++) {
    const rand = mulberry32(o.seed * 1_000_003 + run);
    const normal = gaussian(rand);
    const x = new Experiment(d, 0);
    const [va, vb] = x.variants;
    const done = { msprt: false, cs: false, z: false };
    for (let seen = 0; seen < s.horizon; ) {
      for (let i = 0; i < BATCH; i++) {
        const arm = rand() < 0.5 ? va : vb;
        const p = arm === va ? s.a : s.b;
        if (s.kind === 'conversion') {
          arm.exposures++;
          if (rand() < p) arm.moments.sum++;
        } else {
          const y = p + normal();
          arm.exposures++;
          arm.moments.n++;
          arm.moments.sum += y;
          arm.moments.sumSq += y * y;
        }
      }
      seen += BATCH;
      const r = x.evaluate(seen)[1].vs_control;
      if (!r) continue;
      const enough = va.exposures >= MIN_SAMPLES && vb.exposures >= MIN_SAMPLES;
      const hits = { msprt: enough && r.msprt.p < ALPHA, cs: enough && r.cs.p < ALPHA, z: enough && r.z.p < ALPHA };
      for (const k of ['msprt', 'cs', 'z'] as const)
        if (!done[k] && hits[k]) {
          done[k] = true;
          out[k].rejected++;
          out[k].at.push(seen);
        }
      if (seen >= s.horizon && r.z.p < ALPHA) {
        // the fixed-horizon reference: one look, at the horizon
        out.once.rejected++;
        out.once.at.push(seen);
      }
    }
  }
  return out;
}


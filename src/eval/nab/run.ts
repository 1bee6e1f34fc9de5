// Runs a streaming detector over the NAB corpus and scores it as NAB does. Each file gets
// a fresh detector (NAB runs one detector instance per file); each row is scored before
// the detector sees the next, so a detector can only learn from the past.
import { loadCorpus, type NabFile } from './corpus.js';
import type { ProfileName } from './profiles.js';
import { type Counts, type ProfileResult, scoreCorpus } from './score.js';
import { sweepFile } from './sweeper.js';

export interface StreamDetector {
  /** The anomaly score of this point, in [0, 1], computed before the point is learned. */
  score(timestampMs: number, value: number): number;
}

export interface RunNabOptions {
  /** the NAB corpus root (holds data/ and labels/); default /work/shared/data/nab or $NAB_ROOT */
  root?: string;
  /** the corpus already loaded (wins over root) */
  files?: NabFile[];
  /**
   * Round each score to this many significant digits before scoring, as a CSV round trip
   * does: NAB's published results were written by Python 2's str() (12 digits), which
   * matters for detectors whose scores crowd just below 1. Default: no rounding.
   */
  digits?: number;
  onProgress?: (done: number, total: number, file: string) => void;
}

export type NabRun = Record<ProfileName, ProfileResult> & {
  perFile: Array<{ name: string } & Record<ProfileName, Counts>>;
  /** each file's anomaly scores, in file order (to ensemble or inspect) */
  scores: Float64Array[];
};

export const DEFAULT_NAB_ROOT = process.env.NAB_ROOT ?? '/work/shared/data/nab';

export function runNab(makeDetector: () => StreamDetector, opts: RunNabOptions = {}): NabRun {
  const files = opts.files ?? loadCorpus(opts.root ?? DEFAULT_NAB_ROOT);
  const scores = files.map((f, k) => {
    const s = detectFile(makeDetector(), f, opts.digits);
    opts.onProgress?.(k + 1, files.length, f.name);
    return s;
  });
  return { ...scoreScores(files, scores), scores };
}

/** Scores already computed (one array per file, in file order) → NAB's three profiles. */
export function scoreScores(files: readonly NabFile[], scores: readonly Float64Array[]): Omit<NabRun, 'scores'> {
  const r = scoreCorpus(files.map((f, k) => ({ swept: sweepFile(f.name, f.timestamps.length, f.windows), scores: scores[k] })));
  return { ...r.profiles, perFile: r.perFile };
}

export function detectFile(d: StreamDetector, f: NabFile, digits?: number): Float64Array {
  const out = new Float64Array(f.values.length);
  for (let i = 0; i < out.length; i++) {
    const s = d.score(f.timestamps[i], f.values[i]);
    // NAB's base detector refuses a score outside [0, 1] the same way.
    if (!(s >= 0 && s <= 1)) throw new Error(`${f.name}: row ${i}: anomaly score ${s} is not in [0, 1]`);
    out[i] = digits ? Number(s.toPrecision(digits)) : s;
  }
  return out;
}

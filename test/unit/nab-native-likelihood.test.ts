// The native `likelihood` kind (native/core/likelihood.h) against the TypeScript prototype
// it was ported from (src/eval/nab/detectors/ew-likelihood.ts), row by row on real NAB
// files: the port must be exact, since its NAB score is the prototype's. Files chosen for
// their shapes: nyc_taxi and Twitter_volume_AAPL are longer than the 8640-row history
// (the ring wraps), the others have level shifts, flat stretches and quantised values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseDataCsv } from '../../src/eval/nab/corpus.js';
import { ewLikelihood } from '../../src/eval/nab/detectors/ew-likelihood.js';
import { DEFAULT_NAB_ROOT } from '../../src/eval/nab/run.js';
import { AnomalyDetector } from '../../src/native/detectors.js';

const FILES = [
  'realKnownCause/nyc_taxi.csv',
  'realTweets/Twitter_volume_AAPL.csv',
  'realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv',
  'artificialWithAnomaly/art_daily_jumpsup.csv',
  'realKnownCause/machine_temperature_system_failure.csv',
];
const NATIVE_INVALID = { code: 'HP_ERR_NATIVE_INVALID_ARG' };

const load = (name: string) => parseDataCsv(readFileSync(join(DEFAULT_NAB_ROOT, 'data', name), 'utf8'), name);

describe('native likelihood detector', () => {
  it.each(FILES)('scores %s as the TypeScript prototype does, row by row', (name) => {
    const { timestamps, values } = load(name);
    const proto = ewLikelihood();
    const native = new AnomalyDetector('likelihood');
    let worst = 0;
    for (let i = 0; i < values.length; i++) {
      const want = proto.score(timestamps[i], values[i]);
      const got = native.scoreLearn(values[i]);
      worst = Math.max(worst, Math.abs(got - want));
    }
    expect(worst).toBeLessThanOrEqual(1e-9);
    expect(native.seen).toBe(values.length);
  });

  it('gives the same scores one at a time, in a batch, and across a serialize/deserialize', () => {
    const { values } = load(FILES[0]);
    const one = new AnomalyDetector('likelihood');
    const each = Float64Array.from(values, (x) => one.scoreLearn(x));
    const batch = new AnomalyDetector('likelihood').scoreLearnMany(values, values.length, new Float64Array(values.length));
    expect(batch).toEqual(each);
    const cut = 9000; // past the history ring's first wrap
    const a = new AnomalyDetector('likelihood');
    a.scoreLearnMany(values.subarray(0, cut), cut, new Float64Array(cut));
    const b = new AnomalyDetector('likelihood', { history: 10 });
    b.deserialize(a.serialize());
    const rest = values.subarray(cut);
    const out = b.scoreLearnMany(rest, rest.length, new Float64Array(rest.length));
    expect(out).toEqual(each.subarray(cut));
  });

  it('refuses NaN with its state unchanged, and bad options before they cross', () => {
    const d = new AnomalyDetector('likelihood', { learning: 5, estimation: 5 });
    for (let i = 0; i < 50; i++) d.scoreLearn(Math.sin(i));
    const before = d.serialize();
    expect(() => d.scoreLearn(NaN)).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => d.scoreLearnMany(new Float64Array([1, NaN]), 2, new Float64Array(2))).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(d.serialize()).toEqual(before);
    expect(d.seen).toBe(50);
    expect(() => new AnomalyDetector('likelihood', { averaging: 0 })).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => new AnomalyDetector('likelihood', { window: 5 } as never)).toThrow(expect.objectContaining(NATIVE_INVALID));
    expect(() => new AnomalyDetector('likelihood', { tolerance: -1 })).toThrow(expect.objectContaining(NATIVE_INVALID));
  });
});

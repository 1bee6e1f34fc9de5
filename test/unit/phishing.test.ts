// River's published progressive-validation figures on the Phishing dataset, reproduced by
// the native learner: StandardScaler | LogisticRegression(optimizer=SGD(lr)), rows in file
// order, each predicted (class = p > 0.5) before it is learned.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { progressive, readNumericCsv } from '../../src/learn/progressive.js';
import { type LearnerOptions, NativeLearner } from '../../src/native/learner.js';

const CSV = readFileSync(new URL('../fixtures/phishing.csv', import.meta.url), 'utf8');
const { columns, rows, y } = readNumericCsv(CSV, 'is_phishing');

const run = (o: Omit<LearnerOptions, 'dim'>) => progressive(new NativeLearner({ dim: columns.length, ...o }), rows, y);

describe('phishing, progressive validation (River reference figures)', () => {
  it('reads 1,250 rows of 9 features', () => {
    expect(rows.length).toBe(1250);
    expect(columns.length).toBe(9);
  });

  it('SGD lr 0.005: accuracy 0.8872 (River)', () => {
    const r = run({ lr: 0.005 });
    expect(r.refused).toBe(0);
    expect(Math.abs(r.accuracy - 0.8872)).toBeLessThanOrEqual(0.002);
  });

  it('SGD lr 0.01 (River default): accuracy 0.8928 (River)', () => {
    expect(Math.abs(run({ lr: 0.01 }).accuracy - 0.8928)).toBeLessThanOrEqual(0.002);
  });

  it('SGD lr 0.1: accuracy 0.8896 (River LogisticRegression docstring)', () => {
    expect(Math.abs(run({ lr: 0.1 }).accuracy - 0.8896)).toBeLessThanOrEqual(0.002);
  });

  it('FTRL-Proximal (alpha 0.05, beta 1, l1 0, l2 1) learns the stream as well', () => {
    const r = run({ optimizer: 'ftrl' });
    // River's FTRLProximal docstring gives F1 0.8756 for its variant, whose weights lag one
    // update; McMahan's (ours) scores accuracy 0.8912 here. Pinned loosely: a regression guard.
    expect(r.accuracy).toBeGreaterThan(0.88);
    expect(r.rocAuc).toBeGreaterThan(0.94);
  });
});

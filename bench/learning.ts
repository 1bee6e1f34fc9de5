// Streaming ML's cost on ingest (`npm run bench -- --only learning`): binary WebSocket
// ingest of labelled events (the demo stream with nine more numbers and a label) into a
// fresh server per trial, in alternating rounds:
//   A  no learner, no detector (the same stream and frames);
//   B  a learner tap: an SGD logistic regression on ten inputs that learns every event
//      (labels join: event), with progressive validation;
//   C  detector taps: a robust z-score per user on the amount, Half-Space Trees on two
//      fields, ADWIN on the amount.
// The learner's and detectors' per-call rates are bench/learner-micro.ts and
// bench/detector-micro.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { mdTable, ratioOf, startHotpath } from '../src/bench/harness.js';
import { LABELLED_FIELDS } from '../src/bench/scenarios.js';
import { median } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { eventsPerS, INGEST_BATCH, INGEST_CONNECTIONS, ours } from './measure.js';

const PORT = 18560;
type Variant = 'none' | 'learner' | 'detectors';
const VARIANTS: Variant[] = ['none', 'learner', 'detectors'];

const LEARNER = `
  fraud_online:
    learner: { algorithm: sgd, learning_rate: 0.01, labels: { stream: transactions, field: is_fraud, join: event } }
    inputs:
      - { field: amount, transform: log1p }
${LABELLED_FIELDS.filter((f) => f !== 'is_fraud').map((f) => `      - { field: ${f} }`).join('\n')}
`;
const DETECTORS = `
detectors:
  amount_user: { kind: robust_z, stream: transactions, fields: [amount], per_entity: user, window: 64 }
  amount_hst:  { kind: hst, stream: transactions, fields: [amount, x1], limits: [[0, 100], [0, 1]] }
  amount_adwin: { kind: adwin, stream: transactions, fields: [amount] }
`;

/** The shipped hotpath.yaml with the labelled fields on the demo stream, plus the variant's part. */
function configFor(ctx: Context, dir: string, v: Variant): string {
  let text = readFileSync(join(ctx.root, 'hotpath.yaml'), 'utf8').replace(/repository: models\//g, `repository: ${ctx.root}models/`);
  const fields = LABELLED_FIELDS.map((f) => `      ${f}: number`).join('\n');
  text = text.replace(/(      user_id: category[^\n]*\n)/, `$1${fields}\n`);
  if (v === 'learner') text = text.replace(/^models:\n/m, `models:${LEARNER}`);
  if (v === 'detectors') text += DETECTORS;
  const path = join(dir, `hotpath-${v}.yaml`);
  writeFileSync(path, text);
  return path;
}

export async function runLearning(ctx: Context): Promise<Section> {
  const work = mkdtempSync(join(tmpdir(), 'hotpath-bench-learning-'));
  try {
    const eps: Record<Variant, number[]> = { none: [], learner: [], detectors: [] };
    const learned: number[] = [];
    for (let round = 0; round < ctx.rounds; round++) {
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const v of order) {
        const hp = await startHotpath(ctx.root, PORT, { cpus: ctx.pin?.server, config: configFor(ctx, work, v) });
        try {
          const run = await ours(ctx, hp.url, hp.pid, 'ws-events', { connections: INGEST_CONNECTIONS, batch: INGEST_BATCH, labelled: true });
          eps[v].push(eventsPerS(run.r));
          if (v === 'learner') {
            const m = await (await fetch(`${hp.url}/metrics`)).text();
            const line = m.split('\n').find((l) => l.startsWith('hotpath_learner_updates_total{model="fraud_online"}'));
            learned.push(Number(line?.split(' ').pop() ?? 0));
          }
        } finally {
          await hp.stop();
        }
      }
    }
    const ratio = (v: Variant) => eps[v].map((x, i) => x / eps.none[i]);
    const rows = VARIANTS.map((v) => [
      v === 'none' ? 'A: no learner, no detector' : v === 'learner' ? 'B: a learner tap (10 inputs, every event learned)' : 'C: detector taps (robust z per user, HST, ADWIN)',
      `${(median(eps[v]) / 1e6).toFixed(2)} M events/s`,
      eps[v].map((x) => (x / 1e6).toFixed(2)).join(', '),
      v === 'none' ? '' : `${ratioOf(median(ratio(v)), 2)} (${ratio(v).map((x) => x.toFixed(2)).join(', ')})`,
      v === 'learner' ? 'cost <= 15 % (>= 0.85×)' : '',
    ]);
    const md = [
      `Our generator, ${INGEST_CONNECTIONS} connections, binary frames of ${INGEST_BATCH} labelled events (the demo stream plus x1..x9 and is_fraud), a fresh server per trial, variants in alternating order. The learner learned ${learned.map((n) => n.toLocaleString('en')).join(', ')} events in its rounds (every event, warm-up included).`,
      '',
      mdTable(['variant', 'median', 'rounds', 'vs A (rounds)', 'target'], rows),
    ].join('\n');
    return {
      key: 'learning',
      title: 'Streaming ML: the cost of learner and detector taps on ingest',
      md,
      json: { eventsPerS: eps, learned },
      tables: [{ caption: 'Learner and detector taps on binary WebSocket ingest', head: ['variant', 'median', 'rounds', 'vs A', 'target'], rows }],
      plots: [],
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

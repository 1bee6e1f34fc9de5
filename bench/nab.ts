// The Numenta Anomaly Benchmark for hotpath's streaming detectors (src/eval/nab):
//   node --import tsx bench/nab.ts --detector ew-likelihood[,native-likelihood,...|all]
//     [--root /work/shared/data/nab] [--out bench/results/2026-12-06-nab.md]
// Prints the three NAB profile scores per detector next to NAB's published board, and
// writes the same table as markdown with the command, machine and method.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { loadCorpus } from '../src/eval/nab/corpus.js';
import { DETECTORS as TS_DETECTORS } from '../src/eval/nab/detectors/index.js';
import { PROFILE_NAMES } from '../src/eval/nab/profiles.js';
import { readFinalResults } from '../src/eval/nab/published.js';
import { DEFAULT_NAB_ROOT, runNab } from '../src/eval/nab/run.js';
import { NATIVE_DETECTORS } from './nab-native.js';

// The TS research detectors, and the native ones through adapters (nab-native.ts).
const DETECTORS: Record<string, { about: string; make: typeof TS_DETECTORS[string]['make']; digits?: number }> = { ...TS_DETECTORS, ...NATIVE_DETECTORS };

const { values: args } = parseArgs({
  options: {
    detector: { type: 'string', default: 'ew-likelihood' },
    root: { type: 'string', default: DEFAULT_NAB_ROOT },
    out: { type: 'string', default: 'bench/results/2026-12-06-nab.md' },
  },
});
const names = args.detector === 'all' ? Object.keys(DETECTORS) : args.detector.split(',');
for (const n of names) if (!DETECTORS[n]) throw new Error(`unknown detector ${n}; known: ${Object.keys(DETECTORS).join(', ')}`);

const files = loadCorpus(args.root);
const rows: string[][] = [];
for (const name of names) {
  const { make, digits, about } = DETECTORS[name];
  const t0 = performance.now();
  const r = runNab(make, { files, digits, onProgress: (done, total) => process.stderr.write(`\r${name}: ${done}/${total} files`) });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  process.stderr.write('\n');
  rows.push([name, ...PROFILE_NAMES.map((p) => r[p].normalized.toFixed(2)), r.standard.threshold.toPrecision(6), s, about]);
}
const board = readFinalResults(join(args.root, 'results/final_results.json'));
const published = Object.entries(board)
  .sort(([, a], [, b]) => b.standard - a.standard)
  .map(([d, p]) => [`${d} (published)`, ...PROFILE_NAMES.map((n) => p[n].toFixed(2)), '', '', "NAB's final_results.json"]);

const header = ['detector', ...PROFILE_NAMES, 'threshold (standard)', 'seconds', 'what'];
const table = [header, header.map(() => '---'), ...rows, ...published].map((r) => `| ${r.join(' | ')} |`).join('\n');
console.log(table);

const command = `node --import tsx bench/nab.ts ${process.argv.slice(2).join(' ')}`.trim();
const md = `# NAB scores of hotpath's streaming detectors

Command: \`${command}\`
Date: ${new Date().toISOString()}; Node ${process.version}; ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores, shared).
Corpus: ${args.root} (NAB v1.1, ${files.length} files, ${files.reduce((n, f) => n + f.windows.length, 0)} windows).

Method: each file gets a fresh detector; each row is scored before it is learned. Scoring is
NAB's (src/eval/nab, docs/nab.md): probationary period 15% (max 750 rows), the threshold
swept over the whole corpus per profile, score = 100·(raw − null)/(perfect − null). One
parameter set for the corpus. Scores are deterministic (no randomness), so there is no
run-to-run noise to measure; seconds are wall time on a shared box, indicative only.

${table}
`;
writeFileSync(args.out, md);
console.log(`\nwritten ${args.out}`);

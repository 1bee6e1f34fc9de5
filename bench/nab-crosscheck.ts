// Checks our NAB scorer against NAB's own published results: each detector's per-row
// anomaly scores (results/<detector>/<category>/<detector>_<file>.csv in github:numenta/NAB,
// not in the shared data copy) scored by src/eval/nab must give final_results.json.
//   git --git-dir <NAB mirror> archive HEAD results | tar x -C /tmp/nab
//   node --import tsx bench/nab-crosscheck.ts --results /tmp/nab/results
// Two numbers per profile: ours at NAB's own threshold (read from its _scores.csv; this
// checks the sweep, weighting and normalisation) and ours with our threshold search (this
// checks the optimiser; NAB's older optimiser sometimes stopped short of the best).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { loadCorpus } from '../src/eval/nab/corpus.js';
import { PROFILE_NAMES, PROFILES } from '../src/eval/nab/profiles.js';
import { readFinalResults, readPublishedScores } from '../src/eval/nab/published.js';
import { scoreCorpus, scoreFile } from '../src/eval/nab/score.js';
import { DEFAULT_NAB_ROOT } from '../src/eval/nab/run.js';
import { sweepFile } from '../src/eval/nab/sweeper.js';

const { values: args } = parseArgs({
  options: {
    results: { type: 'string', default: '/tmp/nab/results' },
    root: { type: 'string', default: DEFAULT_NAB_ROOT },
    out: { type: 'string', default: 'bench/results/2026-12-06-nab-crosscheck.md' },
  },
});
const corpus = loadCorpus(args.root);
const board = readFinalResults(`${args.results}/final_results.json`);
const lines = ['| detector | profile | published | ours at NAB threshold | ours, our threshold |', '| --- | --- | --- | --- | --- |'];
let worst = 0;
for (const det of Object.keys(board).sort()) {
  const files = corpus.map((f) => ({ swept: sweepFile(f.name, f.timestamps.length, f.windows), scores: readPublishedScores(args.results, det, f) }));
  const ours = scoreCorpus(files);
  for (const p of PROFILE_NAMES) {
    const rows = readFileSync(`${args.results}/${det}/${det}_${p}_scores.csv`, 'utf8').trim().split('\n');
    const threshold = Number(rows[1].split(',')[3]);
    const raw = files.reduce((s, f) => s + scoreFile(f, PROFILES[p], threshold).score, 0);
    const { null: nul, perfect } = ours.profiles[p];
    const atNab = (100 * (raw - nul)) / (perfect - nul);
    worst = Math.max(worst, Math.abs(atNab - board[det][p]));
    lines.push(`| ${det} | ${p} | ${board[det][p].toFixed(3)} | ${atNab.toFixed(3)} | ${ours.profiles[p].normalized.toFixed(3)} |`);
  }
}
const md = `# NAB scorer cross-check against NAB's published results

Command: \`node --import tsx bench/nab-crosscheck.ts ${process.argv.slice(2).join(' ')}\`
Results from github:numenta/NAB ea702d7 (per-row anomaly scores of every published detector).
Largest |published − ours at NAB's threshold|: ${worst.toExponential(2)} (normalised points).

${lines.join('\n')}
`;
console.log(md);
writeFileSync(args.out, md);

// NAB's published per-row results (results/<detector>/<category>/<detector>_<file>.csv,
// columns timestamp,value,anomaly_score,...), read so that our scorer can be checked on
// exactly the anomaly scores NAB scored. NAB pairs a results row with the data row of the
// same index (the scorer takes timestamps from the labels, scores from the results), so we
// check the row count only: randomCutForest's machine_temperature file has shifted
// timestamps from row 10140 on and NAB still scored it by position.
import { readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

import type { NabFile } from './corpus.js';

export function readPublishedScores(resultsDir: string, detector: string, file: NabFile): Float64Array {
  const path = join(resultsDir, detector, dirname(file.name), `${detector}_${basename(file.name)}`);
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const header = lines[0].split(',');
  const col = header.indexOf('anomaly_score');
  if (col < 0 || lines.length - 1 !== file.timestamps.length) throw new Error(`${path}: no anomaly_score column or ${lines.length - 1} rows for ${file.timestamps.length}`);
  const out = new Float64Array(lines.length - 1);
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',');
    out[i - 1] = Number(cells[col]);
  }
  return out;
}

/** results/final_results.json: detector → profile → normalised score. */
export function readFinalResults(path: string): Record<string, Record<string, number>> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, number>>;
}

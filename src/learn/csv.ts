// CSV streams for evaluation (hotpath eval, the phishing reproduction): a header row, then
// one example per row. Quotes are honoured (no newline inside a field).
import { readFileSync } from 'node:fs';

import { HotpathError } from '../errors.js';

/** A CSV file: the header, and each row's cells. Quotes are honoured (no newline inside). */
export function readCsv(path: string): { header: string[]; rows: string[][] } {
  return parseCsv(readFileSync(path, 'utf8'), path);
}

/** CSV text (`what` names it in the error): the header, and each row's cells. */
export function parseCsv(text: string, what = 'the CSV'): { header: string[]; rows: string[][] } {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `${what}: the file is empty`);
  return { header: splitCsv(lines[0]), rows: lines.slice(1).map(splitCsv) };
}

function splitCsv(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}

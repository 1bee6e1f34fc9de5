// The NAB corpus as the scorer needs it: each data file's timestamps and values, and its
// labelled anomaly windows turned into row indices. NAB (nab/labeler.py) requires every
// window edge to be a timestamp of the file; we check the same and fail loudly, since a
// window that silently missed would change every score.
//
// This is offline evaluation tooling, not the server: errors are plain `Error`s with the
// file named, not HP_ERR codes (nothing here answers HTTP).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NabFile {
  /** relative path as NAB names it, e.g. `realKnownCause/nyc_taxi.csv` */
  name: string;
  /** ms since the epoch, timestamps read as UTC (NAB's are naive; only equality matters) */
  timestamps: Float64Array;
  values: Float64Array;
  /** [first, last] row index of each window, inclusive both ends, in time order */
  windows: Array<[number, number]>;
}

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` → ms, as UTC. NaN when it is not that shape. */
export function parseTimestamp(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(s.trim());
  if (!m) return NaN;
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms);
}

/** A `timestamp,value` CSV with a header line. */
export function parseDataCsv(text: string, name: string): { timestamps: Float64Array; values: Float64Array } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const n = lines.length - 1;
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const line = lines[i + 1];
    const comma = line.indexOf(',');
    timestamps[i] = parseTimestamp(line.slice(0, comma));
    values[i] = Number(line.slice(comma + 1));
    if (Number.isNaN(timestamps[i]) || Number.isNaN(values[i])) throw new Error(`${name}: row ${i + 2} is not timestamp,value: ${line}`);
  }
  return { timestamps, values };
}

/** Window edges (timestamps) → row indices of the file; throws when an edge is not a row. */
export function windowIndices(name: string, timestamps: Float64Array, edges: Array<[string, string]>): Array<[number, number]> {
  const index = new Map<number, number>();
  timestamps.forEach((t, i) => index.set(t, i));
  return edges.map(([a, b]) => {
    const lo = index.get(parseTimestamp(a));
    const hi = index.get(parseTimestamp(b));
    if (lo === undefined || hi === undefined) throw new Error(`${name}: window [${a}, ${b}] edge is not a timestamp of the file`);
    return [lo, hi];
  });
}

/**
 * Every file named in the windows JSON (NAB scores exactly those), sorted by name so
 * that runs are repeatable. `root` holds `data/` and `labels/` as NAB lays them out.
 */
export function loadCorpus(root: string, windowsFile = 'labels/combined_windows.json'): NabFile[] {
  const labels = JSON.parse(readFileSync(join(root, windowsFile), 'utf8')) as Record<string, Array<[string, string]>>;
  return Object.keys(labels)
    .sort()
    .map((name) => {
      const { timestamps, values } = parseDataCsv(readFileSync(join(root, 'data', name), 'utf8'), name);
      return { name, timestamps, values, windows: windowIndices(name, timestamps, labels[name]) };
    });
}

/** The data files under `root/data` (to check that the labels cover the corpus). */
export function listDataFiles(root: string): string[] {
  const out: string[] = [];
  for (const dir of readdirSync(join(root, 'data')).sort())
    for (const f of readdirSync(join(root, 'data', dir)).sort()) if (f.endsWith('.csv')) out.push(`${dir}/${f}`);
  return out;
}

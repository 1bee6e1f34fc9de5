// What one detection at each row of a file would be worth, before any threshold: NAB's
// Sweeper.calcSweepScore (nab/sweeper.py), rewritten. The profile only scales these
// values (tp by tpWeight / maxTP, fp by fpWeight), so a file is swept once and scored
// under all three profiles.
import { PROBATIONARY_PERCENT } from './profiles.js';

/**
 * NAB's scaled sigmoid of a position relative to a window's right edge: -1 is the left
 * edge (0.98661, the most a TP earns), 0 the right edge (0), positive positions are past
 * the window (FPs, down to -0.98661 at one window width, -1 beyond 3).
 */
export function scaledSigmoid(position: number): number {
  if (position > 3.0) return -1.0;
  return 2 / (1 + Math.exp(5 * position)) - 1.0;
}

/** The largest TP value, at the left edge: detections are divided by it so a perfect TP is 1. */
export const MAX_TP = scaledSigmoid(-1.0);

/** Rows before this index are not scored (NAB util.getProbationPeriod; may be fractional: 750.0). */
export function probationaryLength(rows: number, percent = PROBATIONARY_PERCENT): number {
  return Math.min(Math.floor(percent * rows), percent * 5000);
}

/** The scorable rows of one file: the rows after the probationary period. */
export interface SweptFile {
  name: string;
  /** index of the first scorable row in the file */
  first: number;
  /** per scorable row: the scaled sigmoid value, not yet weighted by a profile */
  unweighted: Float64Array;
  /** per scorable row: the window (index into the file's windows) it is in, or -1 */
  window: Int32Array;
  /** how many of the file's windows have scorable rows (each costs fnWeight if missed) */
  scorableWindows: number;
  /** how many windows the file has in all (the perfect detector's count) */
  windows: number;
}

/**
 * Inside a window a row is valued by its position, -(right - i + 1) / width, so the
 * first row is -1 and the last -1/width. Outside, a row is an FP valued by its distance
 * past the previous window's right edge in units of (that window's width - 1); with no
 * window before it, it is a full FP (-1). A window's rows in the probationary period are
 * dropped like any other probationary row.
 */
export function sweepFile(name: string, rows: number, windows: ReadonlyArray<readonly [number, number]>, probationPercent = PROBATIONARY_PERCENT): SweptFile {
  const probation = probationaryLength(rows, probationPercent);
  const first = Math.max(0, Math.ceil(probation));
  const n = Math.max(0, rows - first);
  const unweighted = new Float64Array(n);
  const window = new Int32Array(n).fill(-1);
  const scorable = new Set<number>();
  let w = 0; // the next window not yet left behind
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < rows; i++) {
    while (w < windows.length && windows[w][1] < i) {
      prevRight = windows[w][1];
      prevWidth = windows[w][1] - windows[w][0] + 1;
      w++;
    }
    const inWindow = w < windows.length && windows[w][0] <= i;
    let value: number;
    if (inWindow) {
      const width = windows[w][1] - windows[w][0] + 1;
      value = scaledSigmoid(-(windows[w][1] - i + 1) / width);
    } else if (prevRight < 0) {
      value = -1.0;
    } else {
      // A one-row window would divide by zero here; NAB's Python would raise. None exist.
      value = scaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1));
    }
    if (i < first) continue;
    unweighted[i - first] = value;
    if (inWindow) {
      window[i - first] = w;
      scorable.add(w);
    }
  }
  return { name, first, unweighted, window, scorableWindows: scorable.size, windows: windows.length };
}

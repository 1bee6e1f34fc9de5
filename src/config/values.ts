// Values of hotpath.yaml shared by the config compiler's parts: durations, sizes, and the
// config error (HP_ERR_CONFIG_INVALID with the path of the field at fault).
import { HotpathError } from '../errors.js';
import { DURATION_RE, SIZE_RE } from './schema.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** "10s", "5m", "1h", "7d", "250ms" or a number of ms, as whole milliseconds. */
export function parseDuration(v: number | string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  const m = typeof v === 'string' ? DURATION_RE.exec(v) : null;
  if (!m) throw new HotpathError('HP_ERR_CONFIG_INVALID', `not a duration: ${JSON.stringify(v)} (use e.g. "250ms", "10s", "5m", "1h", "7d")`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]]);
}

/** "64MiB", "1GiB", "512KB" or a number of bytes, as whole bytes. */
export function parseSize(v: number | string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 1) return Math.floor(v);
  const m = typeof v === 'string' ? SIZE_RE.exec(v) : null;
  if (!m) throw new HotpathError('HP_ERR_CONFIG_INVALID', `not a size: ${JSON.stringify(v)} (use e.g. "64MiB", "1GiB", or bytes)`);
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2]]);
}

/** Throws HP_ERR_CONFIG_INVALID for the field at `path` (a JSON pointer into the config). */
export function fail(path: string, message: string): never {
  throw new HotpathError('HP_ERR_CONFIG_INVALID', `${path}: ${message}`, { path });
}

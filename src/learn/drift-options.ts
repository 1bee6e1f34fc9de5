// Config values as the native detectors' options: the names the engine takes, and no
// undefined keys (an absent key takes the engine's default).
import type { DriftParams } from '../config/load.js';

/** A learner's or a stream's drift parameters as the engine's options. */
export function driftOptions(p: DriftParams): Record<string, number> {
  // defined() dropped the undefined keys
  return defined({ delta: p.delta, clock: p.clock, threshold: p.threshold, alpha: p.alpha, minInstances: p.minInstances }) as Record<string, number>;
}

export function defined<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

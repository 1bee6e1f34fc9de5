// NAB's three application profiles (config/profiles.json). A TP is worth up to tpWeight
// (scaled by how early in its window it came), each FP costs up to fpWeight (scaled by
// how far it is from the window before it), each window with no detection costs fnWeight.
// tnWeight is 1 in every profile and unused by the scorer, so it is left out.

export interface CostMatrix {
  tpWeight: number;
  fpWeight: number;
  fnWeight: number;
}

export const PROFILES = {
  standard: { tpWeight: 1.0, fpWeight: 0.11, fnWeight: 1.0 },
  reward_low_FP_rate: { tpWeight: 1.0, fpWeight: 0.22, fnWeight: 1.0 },
  reward_low_FN_rate: { tpWeight: 1.0, fpWeight: 0.11, fnWeight: 2.0 },
} as const satisfies Record<string, CostMatrix>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

/** NAB's probationary period: the first 15% of a file, never more than 750 rows. */
export const PROBATIONARY_PERCENT = 0.15;

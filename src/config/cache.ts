// The top-level `cache:` section of hotpath.yaml: the L1 answer caches (src/cache/,
// docs/cache.md). Off without the section; each of `features` and `predict` is on when it
// is present. The refusals name the field at fault.
import { fail, parseDuration } from './values.js';

export { cacheSchema } from './cache-schema.js';

export interface RawCacheLevel {
  max_entries?: number;
  ttl?: number | string;
}

export interface RawCache {
  features?: RawCacheLevel | null;
  predict?: RawCacheLevel | null;
  generation_slots?: number;
}

export interface CacheLevelDef {
  maxEntries: number;
  ttlMs: number;
}

export interface CacheDef {
  /** null: feature reads are not cached */
  features: CacheLevelDef | null;
  /** null: predict answers are not cached */
  predict: CacheLevelDef | null;
  /** slots of the per-entity generation table (a power of two) */
  generationSlots: number;
}

export const CACHE_DEFAULTS = {
  maxEntries: 100_000,
  /** how long an answer may be served while no event arrives for its entities (windows age meanwhile) */
  featuresTtlMs: 1000,
  predictTtlMs: 1000,
  maxMaxEntries: 10_000_000,
  maxTtlMs: 3_600_000,
  /** at least this many generation slots per cached entry (fewer shared slots) */
  slotsPerEntry: 4,
  minSlots: 1 << 12,
  maxSlots: 1 << 26,
} as const;

function level(raw: RawCacheLevel | null | undefined, path: string, ttlDefault: number): CacheLevelDef | null {
  if (raw === undefined) return null;
  const r = raw ?? {};
  const maxEntries = r.max_entries ?? CACHE_DEFAULTS.maxEntries;
  if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > CACHE_DEFAULTS.maxMaxEntries)
    fail(`${path}/max_entries`, `must be an integer between 1 and ${CACHE_DEFAULTS.maxMaxEntries}, got ${JSON.stringify(r.max_entries)}`);
  let ttlMs = ttlDefault;
  if (r.ttl !== undefined) {
    try {
      ttlMs = parseDuration(r.ttl);
    } catch {
      fail(`${path}/ttl`, `not a duration: ${JSON.stringify(r.ttl)} (use e.g. "250ms", "1s")`);
    }
    if (ttlMs < 1 || ttlMs > CACHE_DEFAULTS.maxTtlMs) fail(`${path}/ttl`, `must be between 1ms and 1h, got ${ttlMs} ms`);
  }
  return { maxEntries, ttlMs };
}

/** The section after schema validation. */
export function compileCache(raw: RawCache | undefined): CacheDef {
  const features = level(raw?.features, '/cache/features', CACHE_DEFAULTS.featuresTtlMs);
  const predict = level(raw?.predict, '/cache/predict', CACHE_DEFAULTS.predictTtlMs);
  let generationSlots: number;
  if (raw?.generation_slots !== undefined) {
    const s = raw.generation_slots;
    if (!Number.isInteger(s) || s < CACHE_DEFAULTS.minSlots || s > CACHE_DEFAULTS.maxSlots || (s & (s - 1)) !== 0)
      fail('/cache/generation_slots', `must be a power of two between ${CACHE_DEFAULTS.minSlots} and ${CACHE_DEFAULTS.maxSlots}, got ${JSON.stringify(s)}`);
    generationSlots = s;
  } else {
    const want = CACHE_DEFAULTS.slotsPerEntry * ((features?.maxEntries ?? 0) + (predict?.maxEntries ?? 0));
    generationSlots = CACHE_DEFAULTS.minSlots;
    while (generationSlots < want && generationSlots < CACHE_DEFAULTS.maxSlots) generationSlots *= 2;
  }
  return { features, predict, generationSlots };
}

// Deployment profiles: `hotpath serve --profile NAME` (compileConfig's `profile` option).
// A profile is a set of defaults for the config, filled in before the config is validated
// and compiled: a value the config sets itself always wins. `default` changes nothing.
//
// `edge` (docs/edge.md): a small machine, one or two cores, little memory, no GPU.
//   server.workers: 0        inference on the main thread (src/runtime/inline-worker.ts): a
//                            worker thread costs a Node environment and a V8 heap (10-16
//                            MB) and buys no parallelism on one core
//   server.ring_bytes: 64KiB the rings of that one executor (1 MiB by default): a KServe
//                            infer request still takes up to 32 KiB of input
//   server.wait_queue: 1024  requests waiting for room in the ring (4096 by default)
//   store.huge_pages: false  commit the store's memory 4 KiB at a time as rows arrive
//                            (a huge page commits 2 MiB at the first touch of a shard's
//                            index or rows: with the shipped config, 1,000 users cost
//                            about 125 MB more)
// The tables' memory budgets are left alone: they are reserved, not committed, so without
// huge pages a larger budget costs almost nothing resident (only its hash index, 32 bytes
// per entity of capacity, as ids touch it), and a smaller one would evict sooner. Shards
// too: the data directory's layout records them (durability/layout.ts), so state written
// under one profile restores under the other.
//
// The process-wide part of the edge profile (V8's heap) is not config: the CLI applies
// PROFILES.edge.v8Flags before it loads the rest of hotpath (src/cli/main.ts). Measured,
// part by part: bench/results/2026-12-06-edge.md.
import { HotpathError } from '../errors.js';

export interface Profile {
  /** one line for --help */
  readonly about: string;
  readonly server: Readonly<Record<string, number | string>>;
  readonly store: Readonly<Record<string, boolean | number | string>>;
  /**
   * V8 flags the CLI sets at run time (v8.setFlagsFromString) before the heavy modules
   * load: only flags V8 reads when it uses them, not once at start. Each is left out when
   * the process was started (node's flags or NODE_OPTIONS) with one of `unless`.
   */
  readonly v8Flags: readonly { readonly flag: string; readonly unless: readonly string[] }[];
}

export const PROFILES = {
  default: { about: 'the config as written, with the documented defaults', server: {}, store: {}, v8Flags: [] },
  edge: {
    about: 'a small machine: inference on the main thread, small rings, no huge pages, V8 sized for memory',
    server: { workers: 0, ring_bytes: '64KiB', wait_queue: 1024 },
    store: { huge_pages: false },
    v8Flags: [
      // The young generation stays at its initial 1 MiB semi-spaces instead of growing to
      // 16 MiB ones under allocation (and keeping them): what --max-semi-space-size=1 does,
      // which V8 reads only when it sets the heap up.
      { flag: '--semi-space-growth-factor=1', unless: ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size', '--max-heap-size'] },
      // V8's heuristics for small memory (the old generation grows less before it is
      // collected): with the line above, 16 MB less resident while serving, for about 17 %
      // more CPU per predict.
      { flag: '--optimize-for-size', unless: ['--optimize-for-size', '--no-optimize-for-size'] },
    ],
  },
} as const satisfies Record<string, Profile>;

export type ProfileName = keyof typeof PROFILES;

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

/** The profile called `name`; HP_ERR_CONFIG_INVALID naming `flag` (where the name came from) when there is none. */
export function profileNamed(name: string, flag = '--profile'): ProfileName {
  if (Object.hasOwn(PROFILES, name)) return name as ProfileName;
  throw new HotpathError('HP_ERR_CONFIG_INVALID', `${flag}: unknown profile '${name}' (profiles: ${PROFILE_NAMES.join(', ')})`, { flag });
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fills `into[key]` for each key of `defaults` that `into` does not set. */
function fill(into: Obj, defaults: Readonly<Record<string, unknown>>): void {
  for (const [k, v] of Object.entries(defaults)) if (into[k] === undefined) into[k] = v;
}

/**
 * The raw config (parsed YAML) with the profile's defaults filled in where it sets nothing;
 * `raw` itself is not changed. A config whose sections have the wrong shape is returned as
 * it is, for the schema to refuse with the field's path.
 */
export function applyProfile(raw: unknown, name: ProfileName): unknown {
  const p: Profile = PROFILES[name];
  if (!isObj(raw) || name === 'default') return raw;
  const out: Obj = { ...raw };
  for (const section of ['server', 'store'] as const) {
    const defaults = p[section];
    if (Object.keys(defaults).length === 0) continue;
    if (out[section] !== undefined && !isObj(out[section])) continue;
    const s: Obj = { ...((out[section] as Obj | undefined) ?? {}) };
    fill(s, defaults);
    out[section] = s;
  }
  return out;
}

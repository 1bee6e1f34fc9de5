// What the state on disk depends on: the store's row layout (entities, their features and
// shards, the row-layout version of the native engine, max_future, which sizes tile rings)
// and what log records mean (streams, their entity keys and fields, in order). A snapshot
// and the data directory carry this description; a config whose description differs is
// refused with the first difference named by its config path. TTLs, memory budgets and
// lateness are not part of it: a snapshot restores under new ones.
import type { Config } from '../config/load.js';
import { crc32c, ROW_LAYOUT_VERSION } from '../native/binding.js';

export interface StateLayout {
  rowLayoutVersion: number;
  maxFutureMs: number;
  streams: { name: string; keys: string[]; fields: string[] }[];
  entities: { name: string; shards: number; features: Record<string, string | number>[] }[];
}

export function describeLayout(c: Config): StateLayout {
  return {
    rowLayoutVersion: ROW_LAYOUT_VERSION,
    maxFutureMs: c.store.maxFutureMs,
    streams: c.streams.map((s) => ({
      name: s.name,
      keys: s.tables.map((t) => c.entities[t].name),
      fields: s.fields.map((f) => `${f.name}:${f.type}`),
    })),
    entities: c.entities.map((e) => ({
      name: e.name,
      shards: e.shards,
      features: e.features.map((f) => {
        const out: Record<string, string | number> = { name: f.name, agg: f.agg, stream: f.stream };
        if (f.field !== undefined) out.field = f.field;
        if (f.windowMs !== undefined) out.window_ms = f.windowMs;
        if (f.tileMs !== undefined) out.tile_ms = f.tileMs;
        if (f.n !== undefined) out.n = f.n;
        if (f.halfLifeMs !== undefined) out.half_life_ms = f.halfLifeMs;
        if (f.precision !== undefined) out.precision = f.precision;
        return out;
      }),
    })),
  };
}

/** A fingerprint of the layout, carried in every log segment's header. */
export function layoutCrc(l: StateLayout): number {
  return crc32c(Buffer.from(JSON.stringify(l)));
}

const list = (xs: readonly string[]) => `[${xs.join(', ')}]`;
const attrs = (f: Record<string, string | number>) =>
  Object.entries(f)
    .filter(([k]) => k !== 'name')
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** The first difference between the layout the state was made with and the config's, or undefined. */
export function layoutDifference(then: StateLayout, now: StateLayout): string | undefined {
  if (then.rowLayoutVersion !== now.rowLayoutVersion)
    return `the native row layout version: ${then.rowLayoutVersion} then, ${now.rowLayoutVersion} in this build`;
  if (then.maxFutureMs !== now.maxFutureMs) return `/store/max_future: ${then.maxFutureMs} ms then, ${now.maxFutureMs} ms now`;
  const sNames = (l: StateLayout) => l.streams.map((s) => s.name);
  if (list(sNames(then)) !== list(sNames(now))) return `/streams: ${list(sNames(then))} then, ${list(sNames(now))} now`;
  for (let i = 0; i < now.streams.length; i++) {
    const a = then.streams[i];
    const b = now.streams[i];
    if (list(a.keys) !== list(b.keys)) return `/streams/${b.name}/keys: entities ${list(a.keys)} then, ${list(b.keys)} now`;
    if (list(a.fields) !== list(b.fields)) return `/streams/${b.name}/fields: ${list(a.fields)} then, ${list(b.fields)} now`;
  }
  const eNames = (l: StateLayout) => l.entities.map((e) => e.name);
  if (list(eNames(then)) !== list(eNames(now))) return `/entities: ${list(eNames(then))} then, ${list(eNames(now))} now`;
  for (let i = 0; i < now.entities.length; i++) {
    const a = then.entities[i];
    const b = now.entities[i];
    const path = `/entities/${b.name}`;
    if (a.shards !== b.shards) return `${path}/shards: ${a.shards} then, ${b.shards} now`;
    const fa = a.features.map((f) => String(f.name));
    const fb = b.features.map((f) => String(f.name));
    if (list(fa) !== list(fb)) return `${path}/features: ${list(fa)} then, ${list(fb)} now`;
    for (let j = 0; j < b.features.length; j++)
      if (attrs(a.features[j]) !== attrs(b.features[j])) return `${path}/features/${fb[j]}: ${attrs(a.features[j])} then; ${attrs(b.features[j])} now`;
  }
  return undefined;
}

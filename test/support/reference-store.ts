// A plain, deliberately naive model of the native feature store, for differential tests.
//
// It keeps every accepted event of every entity (no tiles, no rings, no sketches) and
// computes each feature at read time straight from those events, following the engine's
// documented semantics:
//
// - Events of a stream are applied in order. The stream watermark W starts at -Infinity;
//   an event with ts < W - lateness is late (counted, not applied); otherwise
//   W = max(W, min(ts, nowMs)) (the watermark never passes the ingest call's wall clock)
//   and the event is applied to every table keyed by the stream.
// - Windowed aggregates (count, sum, mean, min, max, stddev, distinct), window W ms, tile
//   T: reading at `now`, cur = floor(now / T), ntiles = W / T; the window holds events
//   whose epoch e = floor(ts / T) is in [cur - ntiles + 1, cur]. The engine's tile ring
//   only retains epochs [head - R + 1, head], where head is the largest epoch of any event
//   applied to the entity for that (stream, tile) group and R the largest ntiles of the
//   table's windowed non-distinct features in that group plus F = ceil(maxFutureMs / T)
//   tiles (for distinct: the feature's own ntiles + F, and its own head). An event is
//   included iff its epoch is in the window, in [head_final - R + 1, head_final], and it
//   was not dropped when it arrived (e <= head_at_arrival - R).
// - count (0 if none), sum (0 if none), mean / min / max (null if none), stddev =
//   population standard deviation (null if none), distinct = exact number of distinct
//   values (-0 and 0 are one value).
// - last: value of the event with the largest ts, ties to the later-applied one.
// - last_n: the n events with the largest (ts, applied order), newest first.
// - ewm (half-life H): sum(x_i 2^((t_i - tmax) / H)) / sum(2^((t_i - tmax) / H)).
// - TTL and memory-budget eviction are not modelled.
//
// Output mirrors the engine's read: a Float64Array of the table's width (one slot per
// feature, n slots for last_n), with NaN standing for null.
import { HotpathError } from '../../src/errors.js';
import type { AggName, Binding } from '../../src/native/binding.js';
import { AGG_NAMES, constants } from '../../src/native/binding.js';

const WINDOWED: ReadonlySet<AggName> = new Set(['count', 'sum', 'mean', 'min', 'max', 'stddev', 'distinct']);

export interface RefFeature {
  name: string;
  agg: AggName;
  stream: number;
  field: number;
  windowMs: number;
  tileMs: number;
  ntiles: number;
  param: number;
  /** index into the table's rings (windowed aggregates only) */
  ring: number;
  outOff: number;
  width: number;
}

/** A retention ring: a (stream, tile) group of windowed features, or one distinct feature. */
interface Ring {
  stream: number;
  tileMs: number;
  /** number of tiles retained */
  size: number;
  /** a distinct feature's own ring (never shared) */
  distinct: boolean;
}

interface RefEvent {
  stream: number;
  ts: number;
  values: number[];
  /** global applied order */
  order: number;
  /** per ring of the table: the event was stored (not dropped on arrival) */
  kept: boolean[];
}

interface RefEntity {
  events: RefEvent[];
  /** per ring: largest epoch of any applied event of the ring's stream; -Infinity if none */
  heads: number[];
  newestTs: number;
}

interface RefTable {
  spec: Binding.TableSpec;
  features: RefFeature[];
  rings: Ring[];
  width: number;
  entities: Map<string, RefEntity>;
  updates: number;
  watermarkMs: number;
}

export interface RefReadResult {
  found: boolean;
  /** now - newest event ts of the entity; NaN when absent */
  ageMs: number;
  out: Float64Array;
}

export type RefId = string | bigint;

function idKey(id: RefId): string {
  return typeof id === 'bigint' ? `#${id}` : `s:${id}`;
}

function invalid(message: string): never {
  throw new HotpathError('HP_ERR_NATIVE_INVALID_ARG', message);
}

const epochOf = (ts: number, tileMs: number): number => Math.floor(ts / tileMs);

export class ReferenceStore {
  readonly spec: Binding.StoreSpec;
  readonly #tables: RefTable[];
  readonly #watermarks: number[];
  #order = 0;

  constructor(spec: Binding.StoreSpec) {
    this.spec = spec;
    const names = new Map<number, AggName>(AGG_NAMES.map((n) => [constants.aggs[n], n]));
    this.#tables = spec.tables.map((t) => {
      const rings: Ring[] = [];
      const features: RefFeature[] = [];
      let out = 0;
      for (const f of t.features) {
        const agg = names.get(f.agg);
        if (!agg) invalid(`unknown aggregate ${f.agg}`);
        const windowed = WINDOWED.has(agg);
        const ntiles = windowed ? f.windowMs / f.tileMs : 0;
        if (windowed && !(Number.isInteger(ntiles) && ntiles >= 1)) invalid(`feature ${f.name}: bad window`);
        // Rings also keep the tiles that max_future spans, so that an accepted event from
        // a clock running ahead does not push tiles still inside a window out.
        const futureTiles = windowed ? Math.ceil(spec.maxFutureMs / f.tileMs) : 0;
        let ring = -1;
        if (agg === 'distinct') {
          rings.push({ stream: f.stream, tileMs: f.tileMs, size: ntiles + futureTiles, distinct: true });
          ring = rings.length - 1;
        } else if (windowed) {
          // Shared with every other non-distinct windowed feature of the same stream and tile.
          ring = rings.findIndex((r) => !r.distinct && r.stream === f.stream && r.tileMs === f.tileMs);
          if (ring < 0) {
            rings.push({ stream: f.stream, tileMs: f.tileMs, size: 0, distinct: false });
            ring = rings.length - 1;
          }
          rings[ring].size = Math.max(rings[ring].size, ntiles + futureTiles);
        }
        const width = agg === 'last_n' ? f.param : 1;
        features.push({
          name: f.name,
          agg,
          stream: f.stream,
          field: f.field,
          windowMs: f.windowMs,
          tileMs: f.tileMs,
          ntiles,
          param: f.param,
          ring,
          outOff: out,
          width,
        });
        out += width;
      }
      return { spec: t, features, rings, width: out, entities: new Map(), updates: 0, watermarkMs: 0 };
    });
    this.#watermarks = spec.streams.map(() => -Infinity);
  }

  width(table: number): number {
    return this.#tables[table].width;
  }

  features(table: number): readonly RefFeature[] {
    return this.#tables[table].features;
  }

  /** Stream watermark (-Infinity before the first applied event). */
  watermark(stream: number): number {
    return this.#watermarks[stream];
  }

  /** Engine's TableStats.updates and watermarkMs (table's newest applied event, 0 initially). */
  tableStats(table: number): { live: number; updates: number; watermarkMs: number } {
    const t = this.#tables[table];
    return { live: t.entities.size, updates: t.updates, watermarkMs: t.watermarkMs };
  }

  /**
   * Applies a batch of one stream. keys[k][i] is event i's id for the stream's k-th table;
   * values is events x fields, row-major. All-or-nothing: an invalid batch throws
   * HP_ERR_NATIVE_INVALID_ARG and changes nothing.
   */
  ingest(
    stream: number,
    keys: readonly (readonly RefId[])[],
    ts: ArrayLike<number>,
    values: ArrayLike<number>,
    nowMs: number,
  ): { accepted: number; late: number } {
    const st = this.spec.streams[stream];
    if (!st) invalid('unknown stream');
    const n = ts.length;
    const nf = st.fields;
    if (values.length !== n * nf) invalid('values length must be events x fields');
    if (keys.length !== st.tables.length) invalid(`stream '${st.name}' needs ${st.tables.length} key columns`);
    for (const col of keys) if (col.length !== n) invalid('key column length must match events');
    const maxTs = nowMs + this.spec.maxFutureMs;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(ts[i]) || ts[i] < 0) invalid(`event ${i}: timestamp is not a finite time >= 0`);
      if (ts[i] > maxTs) invalid(`event ${i}: timestamp is too far in the future`);
      for (let j = 0; j < nf; j++) if (!Number.isFinite(values[i * nf + j])) invalid(`event ${i}: field ${j} is not finite`);
    }
    let accepted = 0;
    let late = 0;
    for (let i = 0; i < n; i++) {
      const t = ts[i];
      if (t < this.#watermarks[stream] - st.latenessMs) {
        late++;
        continue;
      }
      this.#watermarks[stream] = Math.max(this.#watermarks[stream], Math.min(t, nowMs));
      const row = Array.from({ length: nf }, (_, j) => values[i * nf + j]);
      const order = this.#order++;
      st.tables.forEach((ti, k) => this.#apply(ti, keys[k][i], stream, t, row, order));
      accepted++;
    }
    return { accepted, late };
  }

  #apply(ti: number, id: RefId, stream: number, ts: number, values: number[], order: number): void {
    const table = this.#tables[ti];
    const key = idKey(id);
    let ent = table.entities.get(key);
    if (!ent) {
      ent = { events: [], heads: table.rings.map(() => -Infinity), newestTs: -Infinity };
      table.entities.set(key, ent);
    }
    const kept = table.rings.map((ring, r) => {
      if (ring.stream !== stream) return false;
      const e = epochOf(ts, ring.tileMs);
      const head = ent.heads[r];
      if (head === -Infinity || e > head) {
        ent.heads[r] = e;
        return true;
      }
      return e > head - ring.size;
    });
    ent.events.push({ stream, ts, values, order, kept });
    ent.newestTs = Math.max(ent.newestTs, ts);
    table.updates++;
    table.watermarkMs = Math.max(table.watermarkMs, ts);
  }

  /** The feature vector of one entity at nowMs, as the engine's read would return it. */
  read(table: number, id: RefId, nowMs: number): RefReadResult {
    const t = this.#tables[table];
    const ent = t.entities.get(idKey(id));
    const out = new Float64Array(t.width);
    for (const f of t.features) {
      const slot = out.subarray(f.outOff, f.outOff + f.width);
      const events = ent ? ent.events.filter((e) => e.stream === f.stream) : [];
      computeFeature(f, f.ring >= 0 ? t.rings[f.ring] : undefined, ent, events, nowMs, slot);
    }
    return ent ? { found: true, ageMs: nowMs - ent.newestTs, out } : { found: false, ageMs: NaN, out };
  }

  /**
   * The retention head of a windowed feature for an entity: the largest tile epoch of any
   * event applied to it for the feature's ring; -Infinity when none.
   */
  head(table: number, id: RefId, feature: number): number {
    const t = this.#tables[table];
    const f = t.features[feature];
    const ent = t.entities.get(idKey(id));
    return f.ring >= 0 && ent ? ent.heads[f.ring] : -Infinity;
  }

  /**
   * The values a windowed feature aggregates when read at nowMs (1 per event for count),
   * in applied order.
   */
  windowValues(table: number, id: RefId, feature: number, nowMs: number): number[] {
    const t = this.#tables[table];
    const f = t.features[feature];
    if (f.ring < 0) throw new Error(`reference: ${f.name} is not windowed`);
    return inWindow(f, t.rings[f.ring], t.entities.get(idKey(id)), nowMs);
  }

  /** Ids (as given to ingest) of the entities of a table. */
  ids(table: number): string[] {
    return [...this.#tables[table].entities.keys()].filter((k) => k.startsWith('s:')).map((k) => k.slice(2));
  }
}

function computeFeature(
  f: RefFeature,
  ring: Ring | undefined,
  ent: RefEntity | undefined,
  events: RefEvent[],
  nowMs: number,
  out: Float64Array,
): void {
  if (ring) {
    out[0] = windowed(f.agg, inWindow(f, ring, ent, nowMs));
    return;
  }
  const x = (ev: RefEvent): number => ev.values[f.field];
  const newerFirst = (a: RefEvent, b: RefEvent): number => b.ts - a.ts || b.order - a.order;
  switch (f.agg) {
    case 'last': {
      out[0] = events.length ? x([...events].sort(newerFirst)[0]) : NaN;
      return;
    }
    case 'last_n': {
      const top = [...events].sort(newerFirst).slice(0, f.width);
      for (let i = 0; i < f.width; i++) out[i] = i < top.length ? x(top[i]) : NaN;
      return;
    }
    case 'ewm': {
      if (!events.length) {
        out[0] = NaN;
        return;
      }
      const tmax = Math.max(...events.map((e) => e.ts));
      let num = 0;
      let den = 0;
      for (const ev of events) {
        const w = 2 ** ((ev.ts - tmax) / f.param);
        num += x(ev) * w;
        den += w;
      }
      out[0] = num / den;
      return;
    }
    default:
      throw new Error(`reference: unhandled aggregate ${f.agg}`);
  }
}

/** Values (1 for count) of the entity's events that a windowed feature covers at nowMs. */
function inWindow(f: RefFeature, ring: Ring, ent: RefEntity | undefined, nowMs: number): number[] {
  if (!ent) return [];
  const head = ent.heads[f.ring];
  const cur = epochOf(nowMs, f.tileMs);
  const lo = cur - f.ntiles + 1;
  const xs: number[] = [];
  for (const ev of ent.events) {
    if (ev.stream !== f.stream) continue;
    const e = epochOf(ev.ts, f.tileMs);
    if (!ev.kept[f.ring]) continue; // dropped from the ring on arrival
    if (e < lo || e > cur) continue; // outside the read window
    if (e < head - ring.size + 1 || e > head) continue; // cleared from the ring since
    xs.push(f.field >= 0 ? ev.values[f.field] : 1);
  }
  return xs;
}

function windowed(agg: AggName, xs: number[]): number {
  const n = xs.length;
  switch (agg) {
    case 'count':
      return n;
    case 'sum':
      return xs.reduce((a, b) => a + b, 0);
    case 'mean':
      return n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
    case 'min':
      return n ? Math.min(...xs) : NaN;
    case 'max':
      return n ? Math.max(...xs) : NaN;
    case 'stddev': {
      if (!n) return NaN;
      const mean = xs.reduce((a, b) => a + b, 0) / n;
      return Math.sqrt(xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n);
    }
    case 'distinct':
      return new Set(xs).size; // SameValueZero: -0 and 0 are one value, as the engine hashes them
    default:
      throw new Error(`reference: ${agg} is not windowed`);
  }
}

// The benchmark's baseline: the same feature set as bench/store-micro.ts's hotpath config,
// written the way a Node developer would write it without a native engine. A Map from
// entity id to a plain object; the 1-minute windows share one ring of 60 lazily created
// tile objects per entity (slot = epoch % 60, a slot whose tile holds an older epoch is
// reset and reused); distinct merchants is exact: one Set of merchant values per tile,
// unioned at read time. No typed-array packing, no object pooling beyond reusing a ring
// slot's tile, no hand-inlining: idiomatic code, left to V8's JIT.
//
// Features, in the hotpath layout's output order (width 14):
//   0 count_10m  1 count_1h  2 amount_sum_1h  3 amount_mean_1h  4 amount_max_1h
//   5 amount_std_1h  6 merchants_1h (distinct)  7 last_amount  8..12 last_5_merchants
//   (newest first, NaN-padded)  13 amount_ewm_10m
//
// Semantics follow native/core/windows.h (tile rings and aggregate updates) at the level of "same work": a window of W
// minutes covers the tile holding the read time and the W - 1 tiles before it; stddev is
// the population standard deviation (here from per-tile sum and sum of squares, not
// Welford M2); ewm is sum(x_i w_i) / sum(w_i) with w_i = 2^((t_i - t_ref) / half-life);
// last_n keeps the 5 newest by event time.

export const TILE_MS = 60_000;
export const RING = 60; // 1 h of 1-minute tiles
export const SHORT_TILES = 10; // count_10m
export const LAST_N = 5;
export const EWM_HALF_LIFE_MS = 600_000;
export const WIDTH = 9 + LAST_N;

export interface Tile {
  epoch: number;
  count: number;
  sum: number;
  sumSq: number;
  max: number;
  merchants: Set<number>;
}

export interface EntityState {
  lastEventTs: number;
  tiles: (Tile | undefined)[];
  lastAmountTs: number;
  lastAmount: number;
  recentMerchants: { ts: number; merchant: number }[]; // oldest first, at most LAST_N
  ewmTs: number;
  ewmSum: number;
  ewmWeight: number;
}

function newEntity(): EntityState {
  return {
    lastEventTs: -Infinity,
    tiles: new Array<Tile | undefined>(RING),
    lastAmountTs: -Infinity,
    lastAmount: NaN,
    recentMerchants: [],
    ewmTs: -Infinity,
    ewmSum: 0,
    ewmWeight: 0,
  };
}

export class TsFeatureStore {
  readonly entities = new Map<string, EntityState>();

  /** Applies a batch: ids[i], ts[i], and values[2i] = amount, values[2i+1] = merchant. */
  ingest(ids: string[], ts: Float64Array, values: Float64Array): number {
    for (let i = 0; i < ids.length; i++) {
      this.apply(ids[i], ts[i], values[2 * i], values[2 * i + 1]);
    }
    return ids.length;
  }

  apply(id: string, ts: number, amount: number, merchant: number): void {
    let e = this.entities.get(id);
    if (e === undefined) {
      e = newEntity();
      this.entities.set(id, e);
    }
    if (ts > e.lastEventTs) e.lastEventTs = ts;

    // Tiles.
    const epoch = Math.floor(ts / TILE_MS);
    const slot = epoch % RING;
    let tile = e.tiles[slot];
    if (tile === undefined) {
      tile = { epoch, count: 0, sum: 0, sumSq: 0, max: -Infinity, merchants: new Set() };
      e.tiles[slot] = tile;
    } else if (tile.epoch < epoch) {
      tile.epoch = epoch;
      tile.count = 0;
      tile.sum = 0;
      tile.sumSq = 0;
      tile.max = -Infinity;
      tile.merchants.clear();
    } else if (tile.epoch > epoch) {
      tile = undefined; // older than the ring: only the non-windowed features see it
    }
    if (tile !== undefined) {
      tile.count++;
      tile.sum += amount;
      tile.sumSq += amount * amount;
      if (amount > tile.max) tile.max = amount;
      tile.merchants.add(merchant);
    }

    // last
    if (ts >= e.lastAmountTs) {
      e.lastAmountTs = ts;
      e.lastAmount = amount;
    }

    // last_n, kept sorted by event time
    const recent = e.recentMerchants;
    if (recent.length < LAST_N || ts >= recent[0].ts) {
      let pos = recent.length;
      while (pos > 0 && recent[pos - 1].ts > ts) pos--;
      recent.splice(pos, 0, { ts, merchant });
      if (recent.length > LAST_N) recent.shift();
    }

    // ewm
    if (e.ewmTs === -Infinity) {
      e.ewmTs = ts;
      e.ewmSum = amount;
      e.ewmWeight = 1;
    } else if (ts >= e.ewmTs) {
      const d = Math.pow(2, -(ts - e.ewmTs) / EWM_HALF_LIFE_MS);
      e.ewmSum = e.ewmSum * d + amount;
      e.ewmWeight = e.ewmWeight * d + 1;
      e.ewmTs = ts;
    } else {
      const d = Math.pow(2, -(e.ewmTs - ts) / EWM_HALF_LIFE_MS);
      e.ewmSum += amount * d;
      e.ewmWeight += d;
    }
  }

  /** Writes WIDTH values at out[offset..]; returns now - newest event time, NaN when absent. */
  read(id: string, nowMs: number, out: Float64Array, offset = 0): number {
    const e = this.entities.get(id);
    if (e === undefined) {
      out[offset] = 0;
      out[offset + 1] = 0;
      out[offset + 2] = 0;
      out[offset + 3] = NaN;
      out[offset + 4] = NaN;
      out[offset + 5] = NaN;
      out[offset + 6] = 0;
      out[offset + 7] = NaN;
      for (let i = 0; i < LAST_N; i++) out[offset + 8 + i] = NaN;
      out[offset + 8 + LAST_N] = NaN;
      return NaN;
    }
    const cur = Math.floor(nowMs / TILE_MS);
    let count10 = 0;
    let count = 0;
    let sum = 0;
    let sumSq = 0;
    let max = -Infinity;
    const merchants = new Set<number>();
    for (const tile of e.tiles) {
      if (tile === undefined || tile.epoch > cur || tile.epoch <= cur - RING) continue;
      if (tile.epoch > cur - SHORT_TILES) count10 += tile.count;
      count += tile.count;
      sum += tile.sum;
      sumSq += tile.sumSq;
      if (tile.max > max) max = tile.max;
      for (const m of tile.merchants) merchants.add(m);
    }
    const mean = count > 0 ? sum / count : NaN;
    out[offset] = count10;
    out[offset + 1] = count;
    out[offset + 2] = sum;
    out[offset + 3] = mean;
    out[offset + 4] = count > 0 ? max : NaN;
    out[offset + 5] = count > 0 ? Math.sqrt(Math.max(0, sumSq / count - mean * mean)) : NaN;
    out[offset + 6] = merchants.size;
    out[offset + 7] = e.lastAmount;
    const recent = e.recentMerchants;
    for (let i = 0; i < LAST_N; i++) {
      out[offset + 8 + i] = i < recent.length ? recent[recent.length - 1 - i].merchant : NaN;
    }
    out[offset + 8 + LAST_N] = e.ewmWeight > 0 ? e.ewmSum / e.ewmWeight : NaN;
    return nowMs - e.lastEventTs;
  }

  /** Reads many entities: out is ids x WIDTH; returns how many exist. */
  readMany(ids: string[], nowMs: number, out: Float64Array, ages: Float64Array): number {
    let found = 0;
    for (let i = 0; i < ids.length; i++) {
      const age = this.read(ids[i], nowMs, out, i * WIDTH);
      ages[i] = age;
      if (age === age) found++;
    }
    return found;
  }

  get size(): number {
    return this.entities.size;
  }
}

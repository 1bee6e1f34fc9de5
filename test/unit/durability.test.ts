// The durability pieces one at a time, on real files: the log's group commit and ordered
// acknowledgements, its reading back (a corrupt record in the middle cuts the log there
// and counts what followed), the layout check, and snapshots that fall back to an older
// one when the newest is damaged.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { compileConfig } from '../../src/config/load.js';
import { describeLayout, layoutCrc, layoutDifference } from '../../src/durability/layout.js';
import { Snapshots } from '../../src/durability/snapshots.js';
import { Wal } from '../../src/durability/wal.js';
import { replayLog } from '../../src/durability/wal-read.js';
import { FeatureStore, walRecordBytes } from '../../src/native/binding.js';

const raw = () => ({
  streams: { tx: { keys: { user: 'user' }, fields: { amount: 'number' } } },
  entities: { user: { memory: '4MiB', shards: 4, features: { n: { agg: 'count', window: '1h' }, s: { agg: 'sum', field: 'amount', window: '1h' } } } },
});
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hotpath-unit-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const config = compileConfig(raw());
const layout = describeLayout(config);
const tick = () => new Promise((r) => setImmediate(r));

/** Ingests n events for user u through the log; returns the record's seq. */
function ingest(store: FeatureStore, wal: Wal, u: string, n: number, now: number): number {
  const bytes = walRecordBytes(n, 1, 1);
  store.ingest(0, [Array.from({ length: n }, () => u)], new Float64Array(n).fill(now), new Float64Array(n).fill(2), now, wal.slot(bytes));
  return wal.commit(bytes);
}

describe('the write-ahead log', () => {
  it('commits a turn of records with one write, acknowledges in seq order, and reads them back', async () => {
    const dir = tmp();
    const wal = new Wal({ dir, fsync: 'always', fsyncIntervalMs: 10, segmentBytes: 1 << 20, layoutCrc: layoutCrc(layout), log: () => {} }, 1);
    const store = FeatureStore.create(config.storeSpec);
    const now = Date.now();
    const acked: number[] = [];
    for (let k = 0; k < 10; k++) {
      const seq = ingest(store, wal, `u${k % 3}`, k + 1, now);
      wal.whenDurable(seq, (err) => (err ? acked.push(-seq) : acked.push(seq)));
    }
    expect(acked).toEqual([]); // nothing is durable before the end of the turn
    expect(wal.waiting).toBe(10);
    while (wal.waiting > 0) await tick();
    expect(acked).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(wal.stats.writes).toBe(1); // group commit
    expect(wal.stats.records).toBe(10);
    expect(wal.durableSeq).toBe(10);
    await wal.close();

    const fresh = FeatureStore.create(config.storeSpec);
    const seen: number[] = [];
    const r = await replayLog(dir, {
      after: 3, layoutCrc: layoutCrc(layout), log: () => {},
      apply: (buf, rec) => {
        seen.push(rec.seq);
        const keys = [new BigUint64Array(buf.buffer, buf.byteOffset + rec.keysAt, rec.n)];
        fresh.ingest(rec.stream, keys, new Float64Array(buf.buffer, buf.byteOffset + rec.tsAt, rec.n), new Float64Array(buf.buffer, buf.byteOffset + rec.valuesAt, rec.n), rec.nowMs);
      },
    });
    expect(seen).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(r).toMatchObject({ lastSeq: 10, records: 7, events: 4 + 5 + 6 + 7 + 8 + 9 + 10, droppedRecords: 0 });
  });

  it('cuts the log at a corrupt record in the middle and counts the records after it', async () => {
    const dir = tmp();
    const wal = new Wal({ dir, fsync: 'interval', fsyncIntervalMs: 5, segmentBytes: 1 << 20, layoutCrc: 7, log: () => {} }, 1);
    const store = FeatureStore.create(config.storeSpec);
    for (let k = 0; k < 20; k++) ingest(store, wal, 'x', 3, Date.now());
    await wal.close();
    const seg = join(dir, readdirSync(dir)[0]);
    const bytes = readFileSync(seg);
    const recordBytes = walRecordBytes(3, 1, 1);
    bytes[32 + 12 * recordBytes + 40] ^= 0x10; // a bit of record 13's payload
    writeFileSync(seg, bytes);
    const lines: string[] = [];
    const r = await replayLog(dir, { after: 0, layoutCrc: 7, log: (l) => lines.push(l), apply: () => {} });
    expect(r).toMatchObject({ records: 12, lastSeq: 12, droppedRecords: 8, droppedBytes: 8 * recordBytes });
    expect(lines.join('\n')).toMatch(/a corrupt record at byte \d+; the log is cut there: 8 record\(s\), \d+ bytes dropped/);
    // Another layout fingerprint is refused.
    await expect(replayLog(dir, { after: 0, layoutCrc: 8, log: () => {}, apply: () => {} })).rejects.toMatchObject({ code: 'HP_ERR_STATE_LAYOUT' });
  });
});

describe('the layout check', () => {
  it('names the first difference by its config path, and ignores TTL, memory and lateness', () => {
    const other = raw();
    (other.entities.user as Record<string, unknown>).ttl = '1d';
    other.entities.user.memory = '8MiB';
    expect(layoutDifference(layout, describeLayout(compileConfig(other)))).toBeUndefined();
    const window = raw();
    window.entities.user.features.n.window = '2h';
    expect(layoutDifference(layout, describeLayout(compileConfig(window)))).toMatch(/^\/entities\/user\/features\/n: agg count, stream tx, window_ms 3600000, tile_ms 60000 then; agg count, stream tx, window_ms 7200000, tile_ms 120000 now$/);
    const fields = raw();
    (fields.streams.tx.fields as Record<string, string>).country = 'category';
    expect(layoutDifference(layout, describeLayout(compileConfig(fields)))).toBe('/streams/tx/fields: [amount:number] then, [amount:number, country:category] now');
    const shards = raw();
    shards.entities.user.shards = 8;
    expect(layoutDifference(layout, describeLayout(compileConfig(shards)))).toBe('/entities/user/shards: 4 then, 8 now');
  });
});

describe('snapshots', () => {
  it('restore the newest one that checks out, falling back past a damaged one', async () => {
    const dir = tmp();
    let state = 'first';
    const restored: string[] = [];
    const snaps = new Snapshots(dir, 3, () => {});
    snaps.register({ name: 'thing', capture: () => Buffer.from(state), restore: ({ bytes }) => void restored.push(Buffer.from(bytes!).toString()) });
    await snaps.take(5, layout);
    state = 'second';
    await snaps.take(9, layout);
    expect(snaps.list().map((s) => s.seq)).toEqual([9, 5]);
    // Damage the newest part: the older one is restored, and the log line says why.
    writeFileSync(join(dir, 'snap-00000000000000000009', 'thing.snap'), 'secoNd');
    const lines: string[] = [];
    const again = new Snapshots(dir, 3, (l) => lines.push(l));
    again.register({ name: 'thing', capture: () => Buffer.from(''), restore: ({ bytes }) => void restored.push(Buffer.from(bytes!).toString()) });
    expect(await again.restoreNewest(layout)).toMatchObject({ seq: 5 });
    expect(restored).toEqual(['first']);
    expect(lines.join('\n')).toMatch(/snap-00000000000000000009 is damaged \(part 'thing' fails its checksum\); trying an older one/);
    // A second snapshot while one is being written is refused.
    const slow = new Snapshots(tmp(), 1, () => {});
    let finish: (v: Record<string, number>) => void = () => {};
    slow.register({ name: 'slow', capture: () => new Promise((r) => (finish = r)), restore: () => {} });
    const first = slow.take(1, layout);
    await expect(slow.take(2, layout)).rejects.toMatchObject({ code: 'HP_ERR_SNAPSHOT_IN_PROGRESS' });
    finish({ bytes: 0 });
    await first;
    expect(slow.list().map((s) => s.seq)).toEqual([1]);
  });
});

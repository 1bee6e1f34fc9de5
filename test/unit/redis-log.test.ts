// The pieces of the shared ingest log that need no Redis: the entry codec (round trip,
// refusals, ids hashed as the store hashes them), the dedup window (horizon and cap), the
// applied-ids file (which ids a recovered state holds), and ingest.redis_streams in the
// config (defaults, and a bad value named by its field).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { hashIds } from '../../src/native/binding.js';
import { AppliedFile } from '../../src/redis/applied-file.js';
import { BATCH_HEADER_BYTES, batchBytes, decodeBatch, encodeBatch } from '../../src/redis/codec.js';
import { DedupWindow } from '../../src/redis/dedup.js';

const BASE = `
streams:
  tx: { keys: { user: user_id, merchant: merchant_id }, time_field: ts, fields: { amount: number, country: category } }
entities:
  user: { features: { n: { agg: count, window: 1h } } }
  merchant: { features: { n: { agg: count, window: 1h } } }
`;
const config = loadConfigText(BASE);
const stream = config.streams[0];

function refusal(fn: () => unknown): HotpathError {
  try {
    fn();
  } catch (err) {
    return err as HotpathError;
  }
  throw new Error('expected a refusal');
}

describe('shared-log entry codec', () => {
  it('round-trips a batch; string ids come back hashed as the store hashes them', () => {
    const keys = [['u1', 'u2', 'u3'], hashIds(['m1', 'm1', 'm2'])];
    const ts = new Float64Array([1, 2, 3]);
    const values = new Float64Array([10, 1, 20, 2, 30, 3]);
    const buf = encodeBatch(stream, keys, ts, values, 12345.5, 0xdeadbeef);
    expect(buf.length).toBe(batchBytes(3, 2, 2));
    const b = decodeBatch(buf, 0xdeadbeef);
    expect(b.stream).toBe(0);
    expect(b.nowMs).toBe(12345.5);
    expect([...b.keys[0]]).toEqual([...hashIds(['u1', 'u2', 'u3'])]);
    expect([...b.keys[1]]).toEqual([...hashIds(['m1', 'm1', 'm2'])]);
    expect([...b.ts]).toEqual([1, 2, 3]);
    expect([...b.values]).toEqual([10, 1, 20, 2, 30, 3]);
  });

  it('reads a batch at any byte offset (a socket buffer need not be aligned)', () => {
    const buf = encodeBatch(stream, [['a'], ['b']], new Float64Array([7]), new Float64Array([1, 2]), 1, 5);
    const shifted = Buffer.alloc(buf.length + 3);
    buf.copy(shifted, 3);
    const b = decodeBatch(shifted.subarray(3), 5);
    expect([...b.ts]).toEqual([7]);
    expect([...b.values]).toEqual([1, 2]);
  });

  it('refuses bytes that are not a batch of this layout', () => {
    const buf = encodeBatch(stream, [['a'], ['b']], new Float64Array([7]), new Float64Array([1, 2]), 1, 5);
    expect(refusal(() => decodeBatch(buf, 6)).message).toMatch(/another feature layout/);
    expect(refusal(() => decodeBatch(buf.subarray(0, BATCH_HEADER_BYTES - 1), 5)).message).toMatch(/shorter than a batch header/);
    expect(refusal(() => decodeBatch(buf.subarray(0, buf.length - 8), 5)).message).toMatch(/bytes for 1 events/);
    const v2 = Buffer.from(buf);
    v2[0] = 2;
    expect(refusal(() => decodeBatch(v2, 5)).message).toMatch(/version 2/);
    expect(refusal(() => decodeBatch(buf, 6)).code).toBe('HP_ERR_EVENT_INVALID');
  });
});

describe('dedup window', () => {
  it('remembers ids for the horizon, then forgets the oldest first', () => {
    const d = new DedupWindow(1000, 100);
    d.add('a', 1, 0);
    d.add('b', 2, 500);
    expect(d.has('a') && d.has('b')).toBe(true);
    expect(d.seqOf('b')).toBe(2);
    d.add('c', 3, 1200); // a is older than 1000 ms now
    expect(d.has('a')).toBe(false);
    expect(d.has('b') && d.has('c')).toBe(true);
    d.expire(1600);
    expect(d.has('b')).toBe(false);
    expect(d.size).toBe(1);
  });

  it('holds at most max ids, evicting the oldest, across ring growth', () => {
    const d = new DedupWindow(1e12, 3000);
    for (let i = 0; i < 10_000; i++) d.add(`id${i}`, i, i);
    expect(d.size).toBe(3000);
    expect(d.has('id6999')).toBe(false);
    expect(d.has('id7000')).toBe(true);
    expect(d.evicted).toBe(7000);
    const all = [...d.entries()];
    expect(all[0]).toEqual(['id7000', 7000, 7000]);
    expect(all[2999]).toEqual(['id9999', 9999, 9999]);
    // the horizon still applies after the ring wrapped
    d.expire(1e12 + 8000); // older than the horizon: applied before 8000
    expect(d.size).toBe(2000);
    expect(d.has('id7999')).toBe(false);
    expect(d.has('id8000')).toBe(true);
  });

  it('adding an id it holds changes nothing', () => {
    const d = new DedupWindow(1000, 10);
    d.add('a', 1, 0);
    d.add('a', 9, 900);
    expect(d.seqOf('a')).toBe(1);
    expect(d.size).toBe(1);
  });
});

describe('applied-ids file', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'hotpath-applied-'));
    dirs.push(d);
    return d;
  };

  it('counts the ids whose record is in the recovered log, not those past it, voided, or out of the horizon', () => {
    const d = dir();
    const f = new AppliedFile(d, () => {});
    const now = 1_000_000;
    f.note('old', 3, now - 120_000);
    f.note('in', 5, now);
    f.note('lost', 8, now);
    f.note('lost2', 9, now);
    f.void(8); // records from 8 on were lost by a failed write
    f.note('again', 8, now); // seq 8 given out again, and written
    f.note('edge', 10, now);
    f.note('past', 11, now); // after the last record replayed
    f.flush();
    f.close();
    const dedup = new DedupWindow(60_000, 100);
    const n = new AppliedFile(d, () => {}).load(dedup, 10, now);
    expect(n).toBe(3);
    expect(['in', 'edge', 'again'].every((id) => dedup.has(id))).toBe(true);
    expect(['past', 'old', 'lost', 'lost2'].some((id) => dedup.has(id))).toBe(false);
  });

  it('is written only when flushed (before the log writes its records)', () => {
    const d = dir();
    const f = new AppliedFile(d, () => {});
    f.note('x', 1, 0);
    expect(readFileSync(f.path, 'latin1')).toBe('');
    f.flush();
    expect(readFileSync(f.path, 'latin1')).toBe('a 1 0 x\n');
    f.close();
  });

  it('rewrites itself from the dedup window once past its size, keeping what a restart needs', () => {
    const d = dir();
    const big = `${'a 1 0 filler\n'.repeat(1_400_000)}`; // ~18 MB: past the 16 MiB limit
    writeFileSync(join(d, 'redis-applied.log'), big);
    const f = new AppliedFile(d, () => {});
    const dedup = new DedupWindow(60_000, 100);
    dedup.add('kept', 7, 1000);
    dedup.add('no-log', 0, 1000); // applied without a log record: nothing to keep
    f.note('kept', 7, 1000);
    f.flush(dedup);
    f.close();
    expect(readFileSync(f.path, 'latin1')).toBe('a 7 1000 kept\n');
  });
});

describe('ingest.redis_streams in the config', () => {
  const cfg = (section: string, env: Record<string, string> = {}) => loadConfigText(`${BASE}ingest:\n  redis_streams:\n${section}`, { env });
  const err = (section: string, env: Record<string, string> = {}) => refusal(() => cfg(section, env));

  it('has defaults', () => {
    const d = cfg('    url: redis://127.0.0.1:6379\n    replica: r1\n').ingest.redisStreams!;
    expect(d).toMatchObject({ key: '{hotpath}:events', replica: 'r1', from: 'beginning', maxLen: 100_000, readCount: 512, ackTimeoutMs: 1000, backlogBytes: 64 * 1024 ** 2, onBacklogFull: 'local', dedupHorizonMs: 600_000, claimMinIdleMs: 30_000 });
    expect(loadConfigText(BASE).ingest.redisStreams).toBeNull();
  });

  it('reads the replica name and the password from the environment', () => {
    const d = cfg('    url: redis://h:1\n    replica_env: POD\n    password_env: PW\n', { POD: 'hotpath-2', PW: 's3cret' }).ingest.redisStreams!;
    expect(d.replica).toBe('hotpath-2');
    expect(d.password).toBe('s3cret');
  });

  it('names the field at fault', () => {
    const cases: [string, string, Record<string, string>?][] = [
      ['    replica: r\n', '/ingest/redis_streams: set one of url'],
      ['    url: redis://h:1\n    cluster: ["h:1"]\n', '/ingest/redis_streams: set one of url'],
      ['    url: http://h:1\n', '/ingest/redis_streams/url'],
      ['    url: redis://h:1\n    ack_timeout: soon\n', '/ingest/redis_streams/ack_timeout'],
      ['    url: redis://h:1\n    backlog: lots\n', '/ingest/redis_streams/backlog'],
      ['    url: redis://h:1\n    on_backlog_full: wait\n', '/ingest/redis_streams/on_backlog_full'],
      ['    url: redis://h:1\n    max_len: 10\n', '/ingest/redis_streams/max_len'],
      ['    url: redis://h:1\n    replica: "a b"\n', '/ingest/redis_streams/replica'],
      ['    url: redis://h:1\n    replica_env: NOPE\n', '/ingest/redis_streams/replica_env'],
      ['    url: redis://h:1\n    password_env: NOPE\n', '/ingest/redis_streams/password_env'],
      ['    cluster: ["h:1", "h:2"]\n    key: events\n', '/ingest/redis_streams/key'],
      ['    cluster: ["h:99999"]\n', '/ingest/redis_streams/cluster/0'],
      ['    url: redis://h:1\n    block: 10s\n', '/ingest/redis_streams/block'],
      ['    url: redis://h:1\n    colour: red\n', "/ingest/redis_streams: unknown key 'colour'"],
    ];
    for (const [section, message] of cases) {
      const e = err(section);
      expect(e.code, section).toBe('HP_ERR_CONFIG_INVALID');
      expect(e.message, section).toContain(message);
    }
  });
});

// hotpath.yaml loading: the shipped config, every kind of rejection (each with
// HP_ERR_CONFIG_INVALID and the path of the field at fault), defaults, and the duration and
// size parsers. docs/config.md documents what is checked here.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { compileConfig, loadConfigFile, loadConfigText, parseDuration, parseSize, profileNamed } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';

const SHIPPED = fileURLToPath(new URL('../../hotpath.yaml', import.meta.url));

/** A small valid config; every test gets a fresh copy to break. */
function base(): any {
  return {
    streams: {
      tx: {
        keys: { user: 'user_id' },
        time_field: 'ts',
        fields: { amount: 'number', country: 'category' },
      },
    },
    entities: {
      user: {
        features: {
          n_1h: { agg: 'count', window: '1h' },
        },
      },
    },
  };
}

/** Runs fn, expects HP_ERR_CONFIG_INVALID whose message names `path`; returns the error. */
function rejects(fn: () => unknown, path: string): HotpathError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected the config to be rejected').toBeInstanceOf(HotpathError);
  const err = caught as HotpathError;
  expect(err.code).toBe('HP_ERR_CONFIG_INVALID');
  expect(err.status).toBe(400);
  expect(err.message).toContain(path);
  return err;
}

function withFeature(feature: Record<string, unknown>, name = 'f'): any {
  const c = base();
  c.entities.user.features[name] = feature;
  return c;
}

describe('the shipped hotpath.yaml', () => {
  it('loads', () => {
    const c = loadConfigFile(SHIPPED);
    expect(c.entities.map((e) => e.name)).toEqual(['user', 'merchant']);
    expect(c.streams.map((s) => s.name)).toEqual(['transactions']);
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8080, maxBodyBytes: 1024 ** 2, maxBatch: 10_000 });
    expect(c.store).toEqual({ maxFutureMs: 10_000, sweepIntervalMs: 1000, hugePages: true });
    expect(c.demo).toEqual({ stream: 'transactions', rate: 100, ids: 50000, model: 'fraud' });
    expect(c.models.map((m) => m.name)).toEqual(['fraud', 'fraud_rules']);
    const fraud = c.models[0];
    expect(fraud.repository).toBe(fileURLToPath(new URL('../../models/fraud', import.meta.url)));
    expect(fraud.keys.map((k) => k.entity)).toEqual(['user', 'merchant']);
    expect(fraud.fields).toEqual(['amount']);
    expect(fraud.inputs).toHaveLength(10);
    expect(fraud.fallback).toEqual({ model: 'fraud_rules' });
    const tx = c.streams[0];
    expect(tx.keyFields).toEqual(['user_id', 'merchant_id']);
    expect(tx.latenessMs).toBe(10 * 60_000);
    expect(tx.timeField).toBe('ts');
    const user = c.entities[c.entityIndex.get('user')!];
    expect(user.ttlMs).toBe(7 * 86_400_000);
    expect(user.memoryBytes).toBe(256 * 1024 ** 2);
    const f = (name: string) => user.features[user.featureIndex.get(name)!];
    expect(f('txn_count_10m')).toMatchObject({ agg: 'count', stream: 'transactions', windowMs: 600_000, tileMs: 60_000 });
    expect(f('txn_count_1h')).toMatchObject({ windowMs: 3_600_000, tileMs: 60_000 });
    expect(f('countries_24h')).toMatchObject({ agg: 'distinct', field: 'country', tileMs: 3_600_000, precision: 6 });
    expect(f('last_5_amounts')).toMatchObject({ agg: 'last_n', n: 5 });
    expect(f('amount_ewm_10m')).toMatchObject({ agg: 'ewm', halfLifeMs: 600_000 });
    const merchant = c.entities[c.entityIndex.get('merchant')!];
    expect(merchant.features[merchant.featureIndex.get('users_1h')!]).toMatchObject({ field: 'user_id', precision: 8 });
    // The native spec follows the declaration order.
    expect(c.storeSpec.tables.map((t) => t.name)).toEqual(['user', 'merchant']);
    expect(c.storeSpec.streams[0]).toMatchObject({ name: 'transactions', fields: 4, latenessMs: 600_000, tables: [0, 1] });
  });

  it('reports a missing file as HP_ERR_CONFIG_INVALID', () => {
    rejects(() => loadConfigFile('/nonexistent/hotpath.yaml'), 'cannot read /nonexistent/hotpath.yaml');
  });

  it('prefixes errors from a file with its path', () => {
    // loadConfigFile wraps loadConfigText, so the file name leads the message.
    const err = rejects(() => loadConfigFile(SHIPPED.replace(/hotpath\.yaml$/, 'package.json')), '/');
    expect(err.message.startsWith(SHIPPED.replace(/hotpath\.yaml$/, 'package.json'))).toBe(true);
  });
});

describe('rejections', () => {
  it('the base config used below is valid', () => {
    expect(() => compileConfig(base())).not.toThrow();
  });

  it('unknown top-level key', () => {
    const c = base();
    c.bogus = 1;
    const err = rejects(() => compileConfig(c), "/: unknown key 'bogus'");
    expect(err.details).toEqual({ path: '/' });
  });

  it('unknown key inside a feature', () => {
    const err = rejects(
      () => compileConfig(withFeature({ agg: 'count', windw: '1h' })),
      "/entities/user/features/f: unknown key 'windw'",
    );
    expect(err.details).toEqual({ path: '/entities/user/features/f' });
  });

  it('unknown key in server, store, an entity, a stream', () => {
    for (const [where, mutate] of [
      ['/server', (c: any) => (c.server = { prot: 1 })],
      ['/store', (c: any) => (c.store = { max_futur: '1m' })],
      ['/entities/user', (c: any) => (c.entities.user.tll = '1d')],
      ['/streams/tx', (c: any) => (c.streams.tx.time = 'ts')],
    ] as const) {
      const c = base();
      mutate(c);
      rejects(() => compileConfig(c), `${where}: unknown key`);
    }
  });

  it('bad agg name', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'median', field: 'amount', window: '1h' })), '/entities/user/features/f/agg');
    expect(err.message).toContain('count, sum, mean, min, max, stddev, last, distinct, last_n, ewm');
  });

  it('feature without agg', () => {
    rejects(() => compileConfig(withFeature({ window: '1h' })), "/entities/user/features/f: must have required property 'agg'");
  });

  it('window missing for count', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'count' })), '/entities/user/features/f/window');
    expect(err.message).toContain('required for count');
    expect(err.details).toEqual({ path: '/entities/user/features/f/window' });
  });

  it('window missing for every windowed aggregate', () => {
    for (const agg of ['sum', 'mean', 'min', 'max', 'stddev', 'distinct'])
      rejects(() => compileConfig(withFeature({ agg, field: agg === 'distinct' ? 'country' : 'amount' })), '/entities/user/features/f/window');
  });

  it('window on a non-windowed aggregate', () => {
    rejects(() => compileConfig(withFeature({ agg: 'last', field: 'amount', window: '1h' })), '/entities/user/features/f/window');
    rejects(() => compileConfig(withFeature({ agg: 'ewm', field: 'amount', half_life: '1m', tile: '1s' })), '/entities/user/features/f/tile');
  });

  it('window not a multiple of the tile', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'count', window: '10m', tile: '7s' })), '/entities/user/features/f/tile');
    expect(err.message).toContain('not a multiple of the tile');
  });

  it('window not a multiple of the default tile is reported on the window', () => {
    // 1500 ms is not whole minutes, so the tile defaults to 1 s.
    rejects(() => compileConfig(withFeature({ agg: 'count', window: 1500 })), '/entities/user/features/f/window');
  });

  it('window of zero, too many tiles', () => {
    rejects(() => compileConfig(withFeature({ agg: 'count', window: 0 })), '/entities/user/features/f/window');
    rejects(() => compileConfig(withFeature({ agg: 'count', window: '1d', tile: '1s' })), '/entities/user/features/f/tile');
  });

  it('field missing for sum', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'sum', window: '1h' })), '/entities/user/features/f/field');
    expect(err.message).toContain('required for sum');
  });

  it('field given to count', () => {
    rejects(() => compileConfig(withFeature({ agg: 'count', field: 'amount', window: '1h' })), '/entities/user/features/f/field');
  });

  it('field not in the stream', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'sum', field: 'price', window: '1h' })), '/entities/user/features/f/field');
    expect(err.message).toContain("no field 'price'");
  });

  it('category field used with sum (and the other numeric aggregates)', () => {
    for (const agg of ['sum', 'mean', 'min', 'max', 'stddev']) {
      const err = rejects(() => compileConfig(withFeature({ agg, field: 'country', window: '1h' })), '/entities/user/features/f/field');
      expect(err.message).toContain('is a category');
    }
    rejects(() => compileConfig(withFeature({ agg: 'ewm', field: 'country', half_life: '1m' })), '/entities/user/features/f/field');
  });

  it('category fields are fine for distinct, last and last_n', () => {
    const c = base();
    c.entities.user.features.a = { agg: 'distinct', field: 'country', window: '1h' };
    c.entities.user.features.b = { agg: 'last', field: 'country' };
    c.entities.user.features.c = { agg: 'last_n', field: 'country', n: 3 };
    expect(() => compileConfig(c)).not.toThrow();
  });

  it('stream with a key for an undeclared entity', () => {
    const c = base();
    c.streams.tx.keys.account = 'account_id';
    const err = rejects(() => compileConfig(c), '/streams/tx/keys/account');
    expect(err.message).toContain("no entity 'account'");
  });

  it('a stream keyed by more entities than the store has key columns (16)', () => {
    const keyed = (n: number) => {
      const c = base();
      for (let i = 1; i < n; i++) {
        c.entities[`e${i}`] = { features: { n: { agg: 'count', window: '1h' } } };
        c.streams.tx.keys[`e${i}`] = `e${i}_id`;
      }
      return c;
    };
    expect(Object.keys(keyed(16).streams.tx.keys)).toHaveLength(16);
    expect(compileConfig(keyed(16)).storeSpec.streams[0].tables).toHaveLength(16);
    const err = rejects(() => compileConfig(keyed(17)), '/streams/tx/keys');
    expect(err.message).toContain('at most 16 entity keys per stream');
    expect(err.details).toEqual({ path: '/streams/tx/keys' });
  });

  it('key field declared as a number value field', () => {
    const c = base();
    c.streams.tx.fields.user_id = 'number';
    rejects(() => compileConfig(c), '/streams/tx/fields/user_id');
  });

  it('time_field that is also a value field', () => {
    const c = base();
    c.streams.tx.fields.ts = 'number';
    rejects(() => compileConfig(c), '/streams/tx/time_field');
  });

  it('feature naming an unknown stream', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'count', stream: 'clicks', window: '1h' })), '/entities/user/features/f/stream');
    expect(err.message).toContain("no stream 'clicks'");
  });

  it('feature naming a stream that has no key for its entity', () => {
    const c = base();
    c.entities.merchant = { features: { n: { agg: 'count', window: '1h' } } };
    c.streams.tx.keys.merchant = 'merchant_id';
    c.streams.views = { keys: { merchant: 'merchant_id' } };
    c.entities.user.features.v = { agg: 'count', stream: 'views', window: '1h' };
    const err = rejects(() => compileConfig(c), '/entities/user/features/v/stream');
    expect(err.message).toContain('has no key');
  });

  it('entity keyed by no stream', () => {
    const c = base();
    c.entities.device = { features: { n: { agg: 'count', window: '1h' } } };
    rejects(() => compileConfig(c), '/entities/device/features/n/stream');
  });

  it('last_n without n', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'last_n', field: 'amount' })), '/entities/user/features/f/n');
    expect(err.message).toContain('required for last_n');
  });

  it('n out of range, n on another aggregate', () => {
    rejects(() => compileConfig(withFeature({ agg: 'last_n', field: 'amount', n: 65 })), '/entities/user/features/f/n');
    rejects(() => compileConfig(withFeature({ agg: 'last', field: 'amount', n: 3 })), '/entities/user/features/f/n');
  });

  it('ewm without half_life', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'ewm', field: 'amount' })), '/entities/user/features/f/half_life');
    expect(err.message).toContain('required for ewm');
  });

  it('half_life of zero, half_life on another aggregate', () => {
    rejects(() => compileConfig(withFeature({ agg: 'ewm', field: 'amount', half_life: 0 })), '/entities/user/features/f/half_life');
    rejects(() => compileConfig(withFeature({ agg: 'last', field: 'amount', half_life: '1m' })), '/entities/user/features/f/half_life');
  });

  it('precision out of range, precision on another aggregate', () => {
    rejects(() => compileConfig(withFeature({ agg: 'distinct', field: 'country', window: '1h', precision: 13 })), '/entities/user/features/f/precision');
    rejects(() => compileConfig(withFeature({ agg: 'distinct', field: 'country', window: '1h', precision: 3 })), '/entities/user/features/f/precision');
    rejects(() => compileConfig(withFeature({ agg: 'count', window: '1h', precision: 8 })), '/entities/user/features/f/precision');
  });

  it('bad duration string "10 parsecs"', () => {
    const err = rejects(() => compileConfig(withFeature({ agg: 'count', window: '10 parsecs' })), '/entities/user/features/f/window');
    expect(err.details).toEqual({ path: '/entities/user/features/f/window' });
  });

  it('bad durations elsewhere', () => {
    const c = base();
    c.entities.user.ttl = '7 days';
    rejects(() => compileConfig(c), '/entities/user/ttl');
    const d = base();
    d.store = { max_future: -1 };
    rejects(() => compileConfig(d), '/store/max_future');
  });

  it('bad size', () => {
    const c = base();
    c.entities.user.memory = '64 megs';
    rejects(() => compileConfig(c), '/entities/user/memory');
    const d = base();
    d.server = { max_body_bytes: '1TB' };
    rejects(() => compileConfig(d), '/server/max_body_bytes');
    const e = base();
    e.entities.user.memory = 0;
    rejects(() => compileConfig(e), '/entities/user/memory');
  });

  it('bad names', () => {
    const c = base();
    c.entities.user.features['1st'] = { agg: 'count', window: '1h' };
    rejects(() => compileConfig(c), "bad name '1st'");
  });

  it('demo naming an unknown stream', () => {
    const c = base();
    c.demo = { stream: 'clicks' };
    rejects(() => compileConfig(c), '/demo/stream');
  });

  it('missing entities or streams', () => {
    const c = base();
    delete c.streams;
    rejects(() => compileConfig(c), "/: must have required property 'streams'");
  });

  it('not-YAML text', () => {
    const err = rejects(() => loadConfigText('entities: {user: [1, 2\n'), 'not valid YAML');
    expect(err.details).toEqual({ path: '/' });
  });

  it('a YAML document that is not a mapping', () => {
    rejects(() => loadConfigText('just some text\n'), '/: must be object');
  });

  it('duplicate YAML keys', () => {
    const text = `
streams:
  tx: { keys: { user: user_id } }
entities:
  user:
    features:
      n: { agg: count, window: 1h }
      n: { agg: count, window: 10m }
`;
    const err = rejects(() => loadConfigText(text), 'not valid YAML');
    expect(err.message).toMatch(/unique/i);
  });

  it('reports several schema errors at once', () => {
    const c = base();
    c.bogus = 1;
    c.entities.user.memory = 'lots';
    const err = rejects(() => compileConfig(c), "unknown key 'bogus'");
    expect(err.message).toContain('/entities/user/memory');
  });
});

describe('defaults', () => {
  it('tile is window/60 for whole minutes, 1 s otherwise', () => {
    const c = base();
    const features = c.entities.user.features;
    features.a = { agg: 'count', window: '1h' };
    features.b = { agg: 'count', window: '10m' };
    features.c = { agg: 'count', window: '1d' };
    features.d = { agg: 'count', window: '90s' };
    features.e = { agg: 'count', window: '30s' };
    features.g = { agg: 'count', window: 120_000 };
    features.h = { agg: 'distinct', field: 'country', window: '2m' };
    features.i = { agg: 'count', window: '1h', tile: '5m' };
    const user = compileConfig(c).entities[0];
    const tile = (n: string) => user.features[user.featureIndex.get(n)!].tileMs;
    expect(tile('a')).toBe(60_000);
    expect(tile('b')).toBe(10_000);
    expect(tile('c')).toBe(1_440_000);
    expect(tile('d')).toBe(1000);
    expect(tile('e')).toBe(1000);
    expect(tile('g')).toBe(2000);
    expect(tile('h')).toBe(2000);
    expect(tile('i')).toBe(300_000);
  });

  it('stream is inferred when only one stream keys the entity', () => {
    const c = base();
    c.entities.merchant = { features: { n: { agg: 'count', window: '1h' } } };
    c.streams.views = { keys: { merchant: 'merchant_id' } };
    const cfg = compileConfig(c);
    expect(cfg.entities[0].features[0].stream).toBe('tx');
    expect(cfg.entities[1].features[0].stream).toBe('views');
  });

  it('stream is required when several streams key the entity', () => {
    const c = base();
    c.streams.logins = { keys: { user: 'uid' } };
    const err = rejects(() => compileConfig(c), '/entities/user/features/n_1h/stream');
    expect(err.message).toContain('2 streams');
    c.entities.user.features.n_1h.stream = 'logins';
    expect(compileConfig(c).entities[0].features[0].stream).toBe('logins');
  });

  it('server, store, entity, stream, feature and demo defaults', () => {
    const c = base();
    c.entities.user.features.d = { agg: 'distinct', field: 'country', window: '1h' };
    c.demo = { stream: 'tx' };
    const cfg = compileConfig(c);
    expect(cfg.server).toEqual({
      host: '127.0.0.1', port: 8080, maxBodyBytes: 1024 ** 2, maxBatch: 10_000,
      workers: Math.max(1, availableParallelism() - 1), ringBytes: 1024 ** 2, waitQueue: 4096, queueDelayBudgetMs: 0, faultInjection: false, stageTiming: true, wsMaxBufferedBytes: 16 * 1024 ** 2,
      drainTimeoutMs: 10_000,
    });
    expect(cfg.durability).toEqual({ fsync: 'interval', fsyncIntervalMs: 10, segmentBytes: 64 * 1024 ** 2, snapshotIntervalMs: 300_000, snapshotLogBytes: 1024 ** 3, keepSnapshots: 2 });
    expect(cfg.models).toEqual([]);
    expect(cfg.store).toEqual({ maxFutureMs: 10_000, sweepIntervalMs: 1000, hugePages: true });
    expect(cfg.storeSpec.tables[0].hugePages).toBe(true);
    expect(cfg.profile).toBe('default');
    expect(cfg.entities[0]).toMatchObject({ ttlMs: 0, memoryBytes: 64 * 1024 ** 2, shards: 64 });
    expect(cfg.streams[0]).toMatchObject({ latenessMs: 0, timeField: 'ts' });
    expect(cfg.entities[0].features[1].precision).toBe(6);
    expect(cfg.demo).toEqual({ stream: 'tx', rate: 1000, ids: 1000 });
  });

  it('a stream without fields has none', () => {
    const c = base();
    delete c.streams.tx.fields;
    delete c.streams.tx.time_field;
    const cfg = compileConfig(c);
    expect(cfg.streams[0].fields).toEqual([]);
    expect(cfg.streams[0].timeField).toBeUndefined();
  });

  it('a key field may also be a category value field', () => {
    const c = base();
    c.streams.tx.fields.user_id = 'category';
    c.entities.user.features.u = { agg: 'distinct', field: 'user_id', window: '1h' };
    expect(() => compileConfig(c)).not.toThrow();
  });

  it('compiles the native spec', () => {
    const c = base();
    c.entities.user.features.l = { agg: 'last_n', field: 'country', n: 4 };
    c.entities.user.features.e = { agg: 'ewm', field: 'amount', half_life: '2s' };
    const spec = compileConfig(c).storeSpec;
    expect(spec.maxFutureMs).toBe(10_000);
    expect(spec.tables[0].features).toEqual([
      { name: 'n_1h', agg: 0, stream: 0, field: -1, windowMs: 3_600_000, tileMs: 60_000, param: 0 },
      { name: 'l', agg: 8, stream: 0, field: 1, windowMs: 0, tileMs: 0, param: 4 },
      { name: 'e', agg: 9, stream: 0, field: 0, windowMs: 0, tileMs: 0, param: 2000 },
    ]);
  });
});

describe('profiles', () => {
  it('edge fills its defaults: inference on the main thread, 64 KiB rings, a shorter wait queue, no huge pages', () => {
    const cfg = compileConfig(base(), { profile: 'edge' });
    expect(cfg.profile).toBe('edge');
    expect(cfg.server).toMatchObject({ workers: 0, ringBytes: 64 * 1024, waitQueue: 1024 });
    expect(cfg.store.hugePages).toBe(false);
    expect(cfg.storeSpec.tables.map((t) => t.hugePages)).toEqual([false]);
    // what the profile leaves alone keeps the documented defaults
    expect(cfg.server).toMatchObject({ maxBatch: 10_000, maxBodyBytes: 1024 ** 2 });
    expect(cfg.entities[0]).toMatchObject({ memoryBytes: 64 * 1024 ** 2, shards: 64 });
  });

  it('a value the config sets wins over the profile', () => {
    const c = base();
    c.server = { workers: 3, ring_bytes: '2MiB' };
    c.store = { huge_pages: true };
    const cfg = compileConfig(c, { profile: 'edge' });
    expect(cfg.server).toMatchObject({ workers: 3, ringBytes: 2 * 1024 ** 2, waitQueue: 1024 });
    expect(cfg.store.hugePages).toBe(true);
    expect(c).toEqual({ ...base(), server: { workers: 3, ring_bytes: '2MiB' }, store: { huge_pages: true } }); // the caller's object is not changed
  });

  it('default changes nothing', () => {
    expect(compileConfig(base(), { profile: 'default' })).toEqual(compileConfig(base()));
  });

  it('a config that refuses under one profile refuses under edge, with its own path', () => {
    const c = base();
    c.server = 'small';
    rejects(() => compileConfig(c, { profile: 'edge' }), '/server');
    const d = base();
    d.store = { huge_pages: 'no' };
    rejects(() => compileConfig(d, { profile: 'edge' }), '/store/huge_pages');
  });

  it('a bad profile name is refused, naming the flag and the profiles there are', () => {
    const err = rejects(() => profileNamed('tiny'), "--profile: unknown profile 'tiny'");
    expect(err.message).toContain('default, edge');
    expect(err.details).toEqual({ flag: '--profile' });
    expect(profileNamed('edge')).toBe('edge');
    // names of Object.prototype are not profiles
    rejects(() => profileNamed('toString'), "unknown profile 'toString'");
  });

  it('loadConfigFile takes the profile (as hotpath serve --profile does)', () => {
    const cfg = loadConfigFile(SHIPPED, { profile: 'edge' });
    expect(cfg.server.workers).toBe(0);
    expect(cfg.store.hugePages).toBe(false);
    expect(cfg.entities.map((e) => e.memoryBytes)).toEqual([256 * 1024 ** 2, 64 * 1024 ** 2]); // set by the file: kept
  });

  it('server.workers: 0 is accepted without a profile; a negative count is not', () => {
    const c = base();
    c.server = { workers: 0 };
    expect(compileConfig(c).server.workers).toBe(0);
    c.server.workers = -1;
    rejects(() => compileConfig(c), '/server/workers');
  });
});

// npm run build writes ajv's standalone code for the schemas (scripts/build-validators.mjs);
// dist/ uses it only when it was made from the schema dist/ holds.
const BUILT = fileURLToPath(new URL('../../dist/config/validators.js', import.meta.url));
describe.skipIf(!existsSync(BUILT))('the build\'s validators (dist/config/validators)', () => {
  it('are used when made from this schema, and refuse what ajv compiled now refuses, with the same errors', async () => {
    const { validator, validatorKey } = (await import(BUILT)) as typeof import('../../src/config/validators.js');
    const { configSchema } = (await import(fileURLToPath(new URL('../../dist/config/schema.js', import.meta.url)))) as typeof import('../../src/config/schema.js');
    const built = validator('config', configSchema) as ReturnType<typeof validator> & { key?: string };
    expect(built.key, 'dist/config/validators/config.cjs is missing or stale: npm run build').toBe(validatorKey('config', configSchema));
    const { Ajv } = await import('ajv');
    const fresh = new Ajv({ allErrors: true, strict: true }).compile(configSchema);
    const bad = base();
    bad.entities.user.features.n_1h.windw = '1h';
    bad.server = { workers: -1, ring_bytes: 'lots' };
    for (const c of [base(), bad, { entities: {} }, 'text']) {
      expect(built(c)).toBe(fresh(c));
      expect(built.errors ?? null).toEqual(fresh.errors ?? null);
    }
  });

  it('is not used when the schema is not the one it was made from', async () => {
    const { validator } = (await import(BUILT)) as typeof import('../../src/config/validators.js');
    const { configSchema } = (await import(fileURLToPath(new URL('../../dist/config/schema.js', import.meta.url)))) as typeof import('../../src/config/schema.js');
    const changed = { ...configSchema, properties: { ...configSchema.properties, extra: { type: 'string' } } };
    const v = validator('config', changed) as ReturnType<typeof validator> & { key?: string };
    expect(v.key).toBeUndefined();
    expect(v({ ...base(), extra: 'ok' })).toBe(true);
    expect(v({ ...base(), extra: 1 })).toBe(false);
  });
});

describe('parseDuration', () => {
  it('parses each unit', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('7d')).toBe(604_800_000);
  });

  it('takes decimals, a space before the unit, and plain milliseconds', () => {
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('0.5s')).toBe(500);
    expect(parseDuration('10 s')).toBe(10_000);
    expect(parseDuration(1234)).toBe(1234);
    expect(parseDuration(0)).toBe(0);
  });

  it('rounds a string duration to whole milliseconds', () => {
    expect(parseDuration('1.0004s')).toBe(1000);
    expect(parseDuration('0.0006s')).toBe(1);
  });
});

describe('parseSize', () => {
  it('parses decimal and binary units', () => {
    expect(parseSize('100B')).toBe(100);
    expect(parseSize('512KB')).toBe(512_000);
    expect(parseSize('2MB')).toBe(2_000_000);
    expect(parseSize('1GB')).toBe(1_000_000_000);
    expect(parseSize('512KiB')).toBe(512 * 1024);
    expect(parseSize('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
  });

  it('takes decimals (rounded down), a space before the unit, and plain bytes', () => {
    expect(parseSize('1.5KiB')).toBe(1536);
    expect(parseSize('0.3KB')).toBe(300);
    expect(parseSize('1.0001KB')).toBe(1000);
    expect(parseSize('10 MiB')).toBe(10 * 1024 ** 2);
    expect(parseSize(4096)).toBe(4096);
  });
});

describe('review fixes', () => {
  const base = () => ({
    streams: { s: { keys: { e: 'id' }, fields: { v: 'number' } } },
    entities: { e: { features: { c: { agg: 'count', window: '1m' } } } },
  });
  it("reserves 'stream' as a field, key or time field name", () => {
    const d1 = base();
    (d1.streams.s.fields as Record<string, string>).stream = 'number';
    expect(() => compileConfig(d1)).toThrow(/\/streams\/s\/fields\/stream: 'stream' is reserved/);
    const d2 = base();
    d2.streams.s.keys = { e: 'stream' };
    expect(() => compileConfig(d2)).toThrow(/\/streams\/s\/keys\/e: 'stream' is reserved/);
  });
  it('rounds numeric durations to whole milliseconds', () => {
    expect(parseDuration(1.6)).toBe(2);
    const d = base() as ReturnType<typeof base> & { entities: { e: { ttl?: number } } };
    d.entities.e.ttl = 1500.4;
    expect(compileConfig(d).entities[0].ttlMs).toBe(1500);
  });
  it('parseDuration and parseSize refuse bad input with the config error code', () => {
    expect(() => parseDuration('10 parsecs')).toThrow(expect.objectContaining({ code: 'HP_ERR_CONFIG_INVALID' }));
    expect(() => parseSize('lots')).toThrow(expect.objectContaining({ code: 'HP_ERR_CONFIG_INVALID' }));
  });
  it('names the file once in a YAML error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hp-cfg-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'entities: {user: [1, 2\n');
    expect(() => loadConfigFile(f)).toThrow(new RegExp(`^${f}: not valid YAML`));
  });
});

describe('models', () => {
  const withModels = (models: Record<string, unknown>, demo?: Record<string, unknown>): any => {
    const c = base();
    c.entities.user.features.last3 = { agg: 'last_n', field: 'amount', n: 3 };
    c.entities.user.features.mean_1h = { agg: 'mean', field: 'amount', window: '1h' };
    c.models = models;
    if (demo) c.demo = demo;
    return c;
  };
  const m = (extra: Record<string, unknown> = {}) => ({ repository: 'models/m', inputs: [{ feature: 'user.n_1h' }, { field: 'amount', transform: 'log1p' }], ...extra });

  it('compiles inputs into keys, fields and columns, with defaults', () => {
    const cfg = compileConfig(withModels({ m: m() }), { baseDir: '/srv/hp' });
    const def = cfg.models[0];
    expect(def).toMatchObject({
      name: 'm', repository: '/srv/hp/models/m', version: 'latest', runtime: 'auto', device: 'cpu', timeoutMs: 100,
      batching: { maxBatch: 64, maxQueueDelayUs: 100, preferred: [] }, keys: [{ entity: 'user', table: 0 }], fields: ['amount'],
    });
    expect(def.inputs).toEqual([
      { name: 'user.n_1h', source: 'feature', index: 0, table: 0, feature: 0, transform: 'none', fill: 0 },
      { name: 'amount', source: 'field', index: 0, transform: 'log1p', fill: 0 },
    ]);
    expect(def.fallback).toBeUndefined();
    expect(def.breaker).toBeUndefined();
    const b = compileConfig(withModels({ m: m({ circuit_breaker: {} }) })).models[0].breaker;
    expect(b).toEqual({ errorRate: 0.5, latencyMs: Infinity, windowMs: 10_000, minRequests: 20, openForMs: 5000, halfOpenProbes: 5 });
  });

  it('refuses bad inputs, batching, fallbacks and demo models, naming the field', () => {
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ feature: 'shop.n' }] }) })), '/models/m/inputs/0/feature');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ feature: 'user.nope' }] }) })), '/models/m/inputs/0/feature');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ feature: 'user.last3' }] }) })), '/models/m/inputs/0/feature');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ feature: 'user.n_1h', field: 'amount' }] }) })), '/models/m/inputs/0');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{}] }) })), '/models/m/inputs/0');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ feature: 'n_1h' }] }) })), '/models/m/inputs/0/feature');
    rejects(() => compileConfig(withModels({ m: m({ batching: { max_batch: 8, preferred_batch_sizes: [4, 16] } }) })), '/models/m/batching/preferred_batch_sizes');
    rejects(() => compileConfig(withModels({ m: m({ runtime: 'tensorrt' }) })), '/models/m/runtime');
    rejects(() => compileConfig(withModels({ m: m({ timeout: 0 }) })), '/models/m/timeout');
    rejects(() => compileConfig(withModels({ m: m({ fallback: {} }) })), '/models/m/fallback');
    rejects(() => compileConfig(withModels({ m: m({ fallback: { constant: 1, model: 'x' } }) })), '/models/m/fallback');
    rejects(() => compileConfig(withModels({ m: m({ fallback: { model: 'x' } }) })), '/models/m/fallback/model');
    rejects(() => compileConfig(withModels({ m: m({ fallback: { model: 'm' } }) })), '/models/m/fallback/model');
    rejects(() => compileConfig(withModels({ a: m({ fallback: { model: 'b' } }), b: m({ fallback: { model: 'c' } }), c: m() })), '/models/a/fallback/model');
    // The fallback needs a field the primary's requests do not carry.
    const needsMore = m({ inputs: [{ feature: 'user.n_1h' }, { field: 'tip' }] });
    rejects(() => compileConfig(withModels({ a: m({ fallback: { model: 'b' } }), b: needsMore })), '/models/a/fallback/model');
    const { inputs: _, ...tensorOnly } = m();
    rejects(() => compileConfig(withModels({ a: m({ fallback: { model: 'b' } }), b: tensorOnly })), '/models/a/fallback/model');
    rejects(() => compileConfig(withModels({ m: m() }, { stream: 'tx', model: 'nope' })), '/demo/model');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ field: 'tip' }] }) }, { stream: 'tx', model: 'm' })), '/demo/model');
    rejects(() => compileConfig(withModels({ m: m({ inputs: [{ field: 'country' }] }) }, { stream: 'tx', model: 'm' })), '/demo/model');
    expect(compileConfig(withModels({ m: m() }, { stream: 'tx', model: 'm' })).demo?.model).toBe('m');
  });

  it('takes a queue-delay budget longer than every batch window, and fault injection off unless asked', () => {
    const plain = compileConfig(withModels({ m: m() }));
    expect([plain.server.queueDelayBudgetMs, plain.server.faultInjection]).toEqual([0, false]);
    const c = withModels({ m: m({ batching: { max_queue_delay_us: 2000 } }) });
    c.server = { queue_delay_budget: '5ms', fault_injection: true };
    expect([compileConfig(c).server.queueDelayBudgetMs, compileConfig(c).server.faultInjection]).toEqual([5, true]);
    // At or under a model's batch window (2 ms), requests only being batched would be shed.
    c.server.queue_delay_budget = 2;
    const err = rejects(() => compileConfig(c), '/server/queue_delay_budget');
    expect(err.message).toContain('/models/m/batching/max_queue_delay_us');
    c.server.queue_delay_budget = 'soon';
    rejects(() => compileConfig(c), '/server/queue_delay_budget');
    c.server = { fault_injection: 'yes' };
    rejects(() => compileConfig(c), '/server/fault_injection');
    // 0 is no budget, whatever the windows.
    c.server = { queue_delay_budget: 0 };
    expect(compileConfig(c).server.queueDelayBudgetMs).toBe(0);
  });

  it('compiles adaptive batching with its defaults, and refuses bounds that cannot hold, naming the field', () => {
    const adaptive = (a: Record<string, unknown>, more: Record<string, unknown> = {}) => withModels({ m: m({ batching: { max_batch: 32, ...more, adaptive: a } }) });
    expect(compileConfig(adaptive({ target_p99_us: 3000 })).models[0].batching).toEqual({
      maxBatch: 32, maxQueueDelayUs: 3000, preferred: [], adaptive: { targetP99Us: 3000, minDelayUs: 0, maxDelayUs: 3000 },
    });
    expect(compileConfig(adaptive({ target_p99_us: 3000, min_queue_delay_us: 50, max_queue_delay_us: 1000 })).models[0].batching.adaptive).toEqual({
      targetP99Us: 3000, minDelayUs: 50, maxDelayUs: 1000,
    });
    rejects(() => compileConfig(adaptive({})), '/models/m/batching/adaptive');
    rejects(() => compileConfig(adaptive({ target_p99_us: 0 })), '/models/m/batching/adaptive/target_p99_us');
    rejects(() => compileConfig(adaptive({ target_p99_us: 3000, window: 5 })), '/models/m/batching/adaptive');
    rejects(() => compileConfig(adaptive({ target_p99_us: 3000, min_queue_delay_us: -1 })), '/models/m/batching/adaptive/min_queue_delay_us');
    rejects(() => compileConfig(adaptive({ target_p99_us: 3000 }, { max_queue_delay_us: 500 })), '/models/m/batching/max_queue_delay_us');
    rejects(() => compileConfig(adaptive({ target_p99_us: 3000, min_queue_delay_us: 800, max_queue_delay_us: 500 })), '/models/m/batching/adaptive/max_queue_delay_us');
    rejects(() => compileConfig(adaptive({ target_p99_us: 3000, max_queue_delay_us: 4000 })), '/models/m/batching/adaptive/max_queue_delay_us');
    // No window to tune on the main thread.
    const inline = adaptive({ target_p99_us: 3000 });
    inline.server = { workers: 0 };
    rejects(() => compileConfig(inline), '/models/m/batching/adaptive');
    // The queue-delay budget is checked against the longest window adaptive may choose.
    const budget = adaptive({ target_p99_us: 3000, max_queue_delay_us: 2000 });
    budget.server = { queue_delay_budget: '2ms' };
    expect(rejects(() => compileConfig(budget), '/server/queue_delay_budget').message).toContain('/models/m/batching/adaptive/max_queue_delay_us');
  });
});

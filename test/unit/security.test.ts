// The security parts on their own: scopes, token buckets and their bounded tables, client
// address keys, API key checks, WebSocket subprotocols, the auth/tls/limits config
// sections (every refusal names its field) and `hotpath keys`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it, vi } from 'vitest';

import { keys, sha256Hex } from '../../src/cli/keys.js';
import { compileConfig } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { addressKey, BucketTable, CoarseClock, ConnectionCounter, TokenBucket } from '../../src/server/security/buckets.js';
import { Caller } from '../../src/server/security/caller.js';
import { ApiKeys, looksLikeJwt } from '../../src/server/security/credentials.js';
import { bearerProtocol, classOf, selectProtocol } from '../../src/server/security/policy.js';

describe('Caller', () => {
  it('grants what its scopes say; admin grants everything; predict:* every model', () => {
    const c = new Caller('key:a', 'a', ['features:read', 'predict:fraud', 'unknown:thing']);
    expect(c.allows('features:read', '')).toBe(true);
    expect(c.allows('events:write', '')).toBe(false);
    expect(c.allows('predict:{model}', 'fraud')).toBe(true);
    expect(c.allows('predict:{model}', 'fraud_rules')).toBe(false);
    expect(c.allows('metrics:read', '')).toBe(false);
    expect(c.allows('alerts:read', '')).toBe(false);
    expect(c.allows('admin', '')).toBe(false);
    expect(c.allows('open', '')).toBe(true);
    expect(c.usesWebSocket()).toBe(true);
    expect(new Caller('x', 'x', ['features:read']).usesWebSocket()).toBe(false);
    const all = new Caller('x', 'x', ['predict:*']);
    expect(all.allows('predict:{model}', 'anything')).toBe(true);
    expect(all.allows('features:read', '')).toBe(false);
    const admin = new Caller('x', 'x', ['admin']);
    for (const s of ['open', 'admin', 'events:write', 'features:read', 'metrics:read', 'alerts:read', 'predict:{model}'] as const) expect(admin.allows(s, 'm')).toBe(true);
    const named = new Caller('x', 'x', ['recommend:similar', 'bandits:*']);
    expect(named.allows('recommend:{name}', 'similar')).toBe(true);
    expect(named.allows('recommend:{name}', 'other')).toBe(false);
    expect(named.allows('bandits:{name}', 'anything')).toBe(true);
    expect(named.allows('experiments:{name}', 'similar')).toBe(false);
    expect(named.allows('predict:{model}', 'similar')).toBe(false);
    expect(named.usesWebSocket()).toBe(false);
    const alerts = new Caller('x', 'x', ['alerts:read']);
    expect(alerts.allows('alerts:read', '')).toBe(true);
    expect(alerts.allows('metrics:read', '')).toBe(false);
    expect(alerts.usesWebSocket()).toBe(true); // to subscribe
  });

  it('maps scopes to route classes', () => {
    expect(['open', 'events:write', 'features:read', 'predict:{model}', 'metrics:read', 'admin'].map((s) => classOf(s as never))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(classOf('alerts:read')).toBe(4); // counted with metrics
    for (const s of ['recommend:{name}', 'bandits:{name}', 'experiments:{name}'] as const) expect(classOf(s)).toBe(3); // counted with predicts
  });
});

describe('TokenBucket', () => {
  it('admits a burst, then one per 1/rate, and says how long to wait', () => {
    const b = new TokenBucket({ rate: 10, burst: 3 }, 1000);
    expect([b.take(1000), b.take(1000), b.take(1000)]).toEqual([0, 0, 0]);
    expect(b.take(1000)).toBe(100);
    expect(b.take(1050)).toBe(50);
    expect(b.take(1100)).toBe(0);
    expect(b.full(1100)).toBe(false);
    expect(b.full(1400)).toBe(true);
    expect(b.take(900)).toBe(100); // a clock that steps back refills nothing and breaks nothing
    expect(b.take(10_000)).toBe(0);
  });

  it('reads the time from a clock a timer refreshes', async () => {
    const c = new CoarseClock(2);
    const t0 = c.now;
    expect(Math.abs(t0 - Date.now())).toBeLessThan(50);
    await new Promise((r) => setTimeout(r, 30));
    expect(c.now).toBeGreaterThan(t0);
    c.close();
    const stopped = c.now;
    await new Promise((r) => setTimeout(r, 20));
    expect(c.now).toBe(stopped);
    expect(c.ticking).toBe(false);
  });

  it('stops its timer when nobody reads it, and reads the time afresh when read again', async () => {
    const c = new CoarseClock(1);
    expect(c.ticking).toBe(true);
    // 200 ticks of 1 ms with no read (timers fire at most every ms; allow for a slow box)
    const deadline = Date.now() + 5000;
    while (c.ticking && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(c.ticking).toBe(false);
    await new Promise((r) => setTimeout(r, 30));
    const before = Date.now();
    const t = c.now; // starts it again with the current time, not the time it stopped at
    expect(t).toBeGreaterThanOrEqual(before);
    expect(c.ticking).toBe(true);
    // read now and then, it keeps ticking
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 40));
      expect(c.now).toBeGreaterThan(t);
      expect(c.ticking).toBe(true);
    }
    c.close();
  });

  it('keeps a bounded table, forgetting full buckets first', () => {
    const t = new BucketTable<number>([undefined, { rate: 1, burst: 1 }], 4);
    expect(t.limits(0)).toBe(false);
    expect(t.limits(1)).toBe(true);
    for (let k = 0; k < 4; k++) expect(t.take(k, 1, 0)).toBe(0);
    expect(t.take(0, 1, 0)).toBe(1000); // key 0 is empty now
    // A fifth key: keys 1..3 are still empty at t=500, so the oldest tenth (one key) goes.
    expect(t.take(9, 1, 500)).toBe(0);
    expect(t.size).toBe(4);
    // Later every bucket is full again: they are all forgotten to make room.
    expect(t.take(10, 1, 5000)).toBe(0);
    expect(t.size).toBe(1);
  });
});

describe('addressKey', () => {
  const buf = (bytes: number[]) => new Uint8Array(bytes).buffer;
  it('keys IPv4 (and IPv4-mapped IPv6) by the number, IPv6 by its /64', () => {
    expect(addressKey(buf([127, 0, 0, 1]))).toBe(0x7f000001);
    expect(addressKey(buf([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]))).toBe(0x0a010203);
    const a = addressKey(buf([0x20, 1, 0xd, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
    const b = addressKey(buf([0x20, 1, 0xd, 0xb8, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9]));
    expect(a).toBe('20010db800000001');
    expect(b).toBe(a);
  });

  it('counts connections per address', () => {
    const c = new ConnectionCounter(2);
    expect([c.add(1), c.add(1), c.add(1), c.add(2)]).toEqual([true, true, false, true]);
    c.remove(1);
    expect(c.add(1)).toBe(true);
    c.remove(2);
    expect(c.count(2)).toBe(0);
  });
});

describe('API keys and credentials', () => {
  const def = (list: { name: string; key: string; scopes: string[] }[]) =>
    ({ keys: list.map((k) => ({ name: k.name, sha256: Buffer.from(sha256Hex(k.key), 'hex'), scopes: k.scopes })) }) as never;

  it('admits a key by its SHA-256; a reload keeps unchanged keys and revokes the rest', () => {
    const first = new ApiKeys(def([{ name: 'a', key: 'hp_a', scopes: ['admin'] }, { name: 'b', key: 'hp_b', scopes: ['features:read'] }]));
    const a = first.verify('hp_a')!;
    const b = first.verify('hp_b')!;
    expect(a.id).toBe('key:a');
    expect(first.verify('hp_c')).toBeUndefined();
    expect(first.verify('hp_a ')).toBeUndefined();
    const second = new ApiKeys(def([{ name: 'a', key: 'hp_a', scopes: ['admin'] }, { name: 'b', key: 'hp_b', scopes: ['events:write'] }]), first);
    expect(second.verify('hp_a')).toBe(a);
    expect(a.revoked).toBe(false);
    expect(b.revoked).toBe(true); // its scopes changed: a new Caller
    expect(second.verify('hp_b')!.allows('events:write', '')).toBe(true);
  });

  it('tells JWTs from API keys, and reads WebSocket subprotocol offers', () => {
    expect(looksLikeJwt('eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln')).toBe(true);
    expect(looksLikeJwt('hp_abc-def_ghi')).toBe(false);
    expect(looksLikeJwt('eyJ..x')).toBe(false);
    expect(bearerProtocol('hotpath, bearer.hp_key')).toBe('hp_key');
    expect(bearerProtocol('hotpath')).toBe('');
    expect(selectProtocol('bearer.hp_key, hotpath')).toBe('hotpath');
    expect(selectProtocol('bearer.hp_key')).toBe('');
    expect(selectProtocol('a, b')).toBe('a');
    expect(selectProtocol('')).toBe('');
  });
});

describe('config: auth, tls, limits', () => {
  const base = () => ({ streams: { tx: { keys: { user: 'uid' } } }, entities: { user: { features: { n: { agg: 'count', window: '1h' } } } } }) as any;
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-seccfg-'));
  const compile = (extra: object, env: Record<string, string> = {}) => compileConfig({ ...base(), ...extra }, { baseDir: dir, env });
  const rejects = (extra: object, path: string, text?: string, env: Record<string, string> = {}) => {
    let err: unknown;
    try {
      compile(extra, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HotpathError);
    expect((err as HotpathError).code).toBe('HP_ERR_CONFIG_INVALID');
    expect((err as HotpathError).message).toContain(path);
    if (text) expect((err as HotpathError).message).toContain(text);
  };

  it('has safe defaults: auth and tls off, loopback, limits on', () => {
    const c = compile({});
    expect(c.auth).toBeNull();
    expect(c.tls).toBeNull();
    expect(c.server.host).toBe('127.0.0.1');
    expect(c.limits).toEqual({
      idBytes: 256, featuresPerRequest: 1024, wsFrameBytes: 1024 ** 2, wsMessages: { rate: 10_000, burst: 10_000 }, wsConnectionsPerAddress: 1024,
      rate: { perCredential: {}, perAddress: {}, perAddressAuthenticated: false, maxAddresses: 100_000 },
    });
  });

  it('reads keys from a file and a variable, and a JWT secret from a variable', () => {
    writeFileSync(join(dir, 'keys.yaml'), `- { name: a, sha256: ${sha256Hex('hp_a')}, scopes: [admin] }\n`);
    const env = { KEYS: JSON.stringify({ keys: [{ name: 'b', sha256: sha256Hex('hp_b'), scopes: ['predict:fraud'] }] }), SECRET: 'x'.repeat(32) };
    const c = compile({ auth: { keys_file: 'keys.yaml', keys_env: 'KEYS', jwt: { secret_env: 'SECRET', issuer: 'i', audience: ['a', 'b'], clock_skew: '1m' } } }, env);
    expect(c.auth!.keys.map((k) => [k.name, k.scopes])).toEqual([['a', ['admin']], ['b', ['predict:fraud']]]);
    expect(c.auth!.jwt).toMatchObject({ algorithms: ['HS256'], issuer: 'i', audience: ['a', 'b'], clockSkewS: 60, scopeClaim: 'scope' });
    expect(c.auth!.metrics).toBe('protected');
    expect(compile({ auth: { enabled: false, keys_file: 'nope.yaml' } }).auth).toBeNull();
  });

  it('refuses what cannot work, naming the field', () => {
    rejects({ auth: {} }, '/auth', 'no credential can pass');
    rejects({ auth: { keys_file: 'missing.yaml' } }, '/auth/keys_file', 'cannot read');
    writeFileSync(join(dir, 'bad.yaml'), '- { name: a, sha256: 1234, scopes: [admin] }\n');
    rejects({ auth: { keys_file: 'bad.yaml' } }, '/auth/keys_file', '/0/sha256');
    writeFileSync(join(dir, 'scope.yaml'), `- { name: a, sha256: ${sha256Hex('k')}, scopes: [root] }\n`);
    rejects({ auth: { keys_file: 'scope.yaml' } }, '/auth/keys_file', '/0/scopes/0');
    writeFileSync(join(dir, 'twice.yaml'), `- { name: a, sha256: ${sha256Hex('k')}, scopes: [admin] }\n- { name: b, sha256: ${sha256Hex('k')}, scopes: [admin] }\n`);
    rejects({ auth: { keys_file: 'twice.yaml' } }, '/auth/keys_file', 'same hash');
    rejects({ auth: { keys_env: 'NOPE' } }, '/auth/keys_env', 'not set');
    rejects({ auth: { jwt: { secret_env: 'S', issuer: 'i', audience: 'a' } } }, '/auth/jwt/secret_env', 'at least 32', { S: 'short' });
    rejects({ auth: { jwt: { secret_env: 'S', issuer: 'i' } } }, '/auth/jwt', "must have required property 'audience'", { S: 'x'.repeat(32) });
    rejects({ auth: { jwt: { secret_env: 'S', issuer: 'i', audience: 'a', algorithms: ['RS256'] } } }, '/auth/jwt/algorithms', 'jwks_file', { S: 'x'.repeat(32) });
    rejects({ auth: { jwt: { secret_env: 'S', issuer: 'i', audience: 'a', algorithms: ['none'] } } }, '/auth/jwt/algorithms/0', undefined, { S: 'x'.repeat(32) });
    writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] }));
    rejects({ auth: { jwt: { jwks_file: 'private.json', issuer: 'i', audience: 'a' } } }, '/auth/jwt/jwks_file', 'private');
    rejects({ auth: { keys_file: 'keys.yaml', metrics: 'public' } }, '/auth/metrics');
    rejects({ tls: { cert_file: 'no.crt', key_file: 'no.key' } }, '/tls/cert_file', 'cannot read');
    rejects({ tls: { cert_file: 'keys.yaml' } }, '/tls', "must have required property 'key_file'");
    rejects({ limits: { id_bytes: 300 } }, '/limits/id_bytes');
    rejects({ limits: { rate: { per_address: { feature: { rate: 1 } } } } }, '/limits/rate/per_address', "unknown key 'feature'");
    rejects({ limits: { rate: { per_credential: { predict: { rate: 0 } } } } }, '/limits/rate/per_credential/predict/rate');
  });
});

describe('hotpath keys', () => {
  it('makes a key and the keys-file entry with its hash, and hashes a given key', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      await keys(['new', '--name', 'scorer', '--scopes', 'predict:fraud,features:read']);
      await keys(['hash', 'hp_abc']);
      await expect(keys(['new', '--name', 'x', '--scopes', 'root'])).rejects.toThrow(/not a scope/);
    } finally {
      spy.mockRestore();
    }
    const [made, hashed] = out;
    const key = /\n {2}(hp_\S+)\n/.exec(made)![1];
    expect(made).toContain(`- { name: scorer, sha256: ${sha256Hex(key)}, scopes: [predict:fraud, features:read] }`);
    expect(looksLikeJwt(key)).toBe(false);
    expect(hashed).toBe(`${sha256Hex('hp_abc')}\n`);
  });
});

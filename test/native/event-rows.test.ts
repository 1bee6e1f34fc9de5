// Binary events frames go to the native row decoder (Ingestor.rows); the JSON and object path
// (decodeClientFrame + Ingestor.events) is the reference. Random frames, some with one planted
// fault, must give the same answer both ways: the same counts and the same feature rows, or
// the same error code for the same event.
import { describe, expect, it } from 'vitest';

import { compileConfig, type Config } from '../../src/config/load.js';
import type { FeatureStore } from '../../src/native/binding.js';
import { createStore } from '../../src/server/app.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import type { WsEventsHeader } from '../../src/server/ws-protocol.js';

const ingestFrame = (store: FeatureStore, config: Config, h: WsEventsHeader, now: number) => new Ingestor(store, config).rows(h, 'ws', now);
const ingestEvents = (store: FeatureStore, config: Config, events: unknown[], now: number, stream?: string) => new Ingestor(store, config).events(events, 'ws', now, stream);
import { decodeClientFrame, decodeEventsHeader, encodeEvents } from '../../src/server/ws-protocol.js';
import { toHotpathError } from '../../src/errors.js';
import { mulberry32 } from '../support/random.js';

const config = compileConfig({
  store: { max_future: '10s' },
  streams: {
    s: {
      keys: { user: 'uid', merchant: 'mid' },
      time_field: 'ts',
      allowed_lateness: '1s',
      fields: { uid: 'category', amount: 'number', country: 'category', flag: 'category' },
    },
  },
  entities: {
    user: {
      features: {
        n: { agg: 'count', window: '1h' },
        total: { agg: 'sum', field: 'amount', window: '1h' },
        country: { agg: 'last', field: 'country' },
        flags: { agg: 'last_n', field: 'flag', n: 3 },
      },
    },
    merchant: {
      features: {
        users: { agg: 'distinct', field: 'uid', window: '1h' },
        last_user: { agg: 'last', field: 'uid' },
        amount: { agg: 'max', field: 'amount', window: '1h' },
      },
    },
  },
});
const user = config.entities.find((e) => e.name === 'user')!;
const merchant = config.entities.find((e) => e.name === 'merchant')!;

const NOW = 1_700_000_000_000;
const IDS = ['u1', 'u2', 'é', 'x'.repeat(256), '\uFEFFbom', '😀', '42', '-7', '042', 'Ωmega'];
const CATEGORIES = ['FR', 'DE', '', '42', '-0', '0', '9007199254740991', '9007199254740992', 'ü', '😀x', '\uFEFF'];

type Column = { name: string; type: 'number' | 'string' };
type Fault = { column: string; value: number | string } | 'truncate' | 'trail' | 'utf8';

function randomFrame(rnd: () => number): { frame: Uint8Array; fault?: Fault; stringIds: string[] } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const uidNumeric = rnd() < 0.3;
  const countryNumeric = rnd() < 0.2;
  const columns: Column[] = [
    { name: 'uid', type: uidNumeric ? 'number' : 'string' },
    { name: 'mid', type: 'string' },
    { name: 'amount', type: 'number' },
    { name: 'country', type: countryNumeric ? 'number' : 'string' },
    { name: 'flag', type: rnd() < 0.5 ? 'number' : 'string' },
  ];
  if (rnd() < 0.7) columns.push({ name: 'ts', type: 'number' });
  if (rnd() < 0.4) columns.push({ name: 'extra', type: rnd() < 0.5 ? 'number' : 'string' });
  for (let i = columns.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [columns[i], columns[j]] = [columns[j], columns[i]];
  }
  const n = 1 + Math.floor(rnd() * 40);
  const rows: (number | string)[][] = [];
  const stringIds: string[] = [];
  for (let e = 0; e < n; e++) {
    const ev: Record<string, number | string> = {
      uid: uidNumeric ? Math.floor(rnd() * 20) - 5 : pick(IDS),
      mid: `m${Math.floor(rnd() * 5)}`,
      amount: Math.round(rnd() * 1e4) / 100,
      country: countryNumeric ? Math.floor(rnd() * 1e6) : pick(CATEGORIES),
      flag: Math.floor(rnd() * 4),
      ts: NOW - Math.floor(rnd() * 5000),
      extra: rnd() < 0.5 ? 'anything' : 1.25,
    };
    stringIds.push(String(ev.uid), String(ev.mid));
    rows.push(columns.map((c) => (c.type === 'string' ? String(ev[c.name]) : typeof ev[c.name] === 'number' ? (ev[c.name] as number) : 3)));
  }
  let fault: Fault | undefined;
  if (rnd() < 0.4) {
    const e = Math.floor(rnd() * n);
    const set = (name: string, value: number | string): Fault | undefined => {
      const c = columns.findIndex((x) => x.name === name);
      if (c < 0 || (typeof value === 'string') !== (columns[c].type === 'string')) return undefined;
      rows[e][c] = value;
      return { column: name, value };
    };
    const options: (() => Fault | undefined)[] = [
      () => set('uid', ''),
      () => set('uid', 'y'.repeat(257)),
      () => set('uid', 1.5),
      () => set('mid', 'é'.repeat(129)),
      () => set('amount', NaN),
      () => set('amount', Infinity),
      () => set('country', 2.5),
      () => set('flag', -Infinity),
      () => set('ts', -1),
      () => set('ts', NOW + 60_000),
      () => set('ts', 8.64e15 + 10),
      () => set('ts', NaN),
      () => 'truncate',
      () => 'trail',
      () => (set('mid', 'ZZ') ? 'utf8' : undefined),
    ];
    fault = pick(options)();
  }
  let frame = encodeEvents(7, 's', columns, rows);
  if (fault === 'truncate') frame = frame.subarray(0, frame.length - 1 - Math.floor(rnd() * 3));
  if (fault === 'trail') frame = Uint8Array.from([...frame, 0]);
  if (fault === 'utf8') {
    const at = Buffer.from(frame).indexOf(Buffer.from([2, 0, 0x5a, 0x5a]));
    frame[at + 2] = 0xc0; // an overlong '/': not UTF-8
    frame[at + 3] = 0xaf;
  }
  return { frame, fault, stringIds };
}

function outcome(fn: () => { accepted: number; late: number } | undefined): string {
  try {
    const r = fn();
    return r ? `ok ${r.accepted} ${r.late}` : 'left to the object path';
  } catch (err) {
    const e = toHotpathError(err);
    return `${e.code}${typeof e.details?.index === 'number' ? ` at ${e.details.index}` : ''}`;
  }
}

function rows(store: FeatureStore, ids: string[]): number[][] {
  const out: number[][] = [];
  for (const [entity, table] of [[user, user.index], [merchant, merchant.index]] as const) {
    const buf = new Float64Array(store.layout(table).width);
    for (const id of ids) {
      buf.fill(-1);
      const r = store.read(entity.index, id, NOW, buf);
      out.push([r.found ? 1 : 0, r.ageMs, ...buf]);
    }
  }
  return out;
}

describe('binary events frames through the native row decoder', () => {
  it('agree with the object path on 400 random frames, faults included', () => {
    const rnd = mulberry32(20261126);
    const native = createStore(config);
    const reference = createStore(config);
    const touched = new Set<string>();
    let faults = 0;
    let applied = 0;
    for (let k = 0; k < 400; k++) {
      const { frame, fault, stringIds } = randomFrame(rnd);
      const a = outcome(() => ingestFrame(native, config, decodeEventsHeader(frame), NOW));
      const b = outcome(() => {
        const f = decodeClientFrame(frame);
        if (f.op !== 'events') throw new Error('not events');
        return ingestEvents(reference, config, f.events, NOW, f.stream);
      });
      // A malformed frame is refused whole by the object path's decoder, which names no
      // event; the native decoder names the one it stopped at. The code is the same.
      if (b === 'HP_ERR_WS_FRAME_INVALID') expect(a.split(' ')[0], `frame ${k}, fault ${JSON.stringify(fault)}`).toBe(b);
      else expect(a, `frame ${k}, fault ${JSON.stringify(fault)}`).toBe(b);
      if (fault) faults++;
      if (a.startsWith('ok')) {
        applied++;
        for (const id of stringIds) touched.add(id);
      }
    }
    expect(faults).toBeGreaterThan(100);
    expect(applied).toBeGreaterThan(200);
    expect(rows(native, [...touched])).toEqual(rows(reference, [...touched]));
  });

  it('says which field is missing, and leaves string times to the object path', () => {
    const store = createStore(config);
    const frame = encodeEvents(1, 's', [{ name: 'uid', type: 'string' }, { name: 'mid', type: 'string' }], [['u', 'm']]);
    expect(() => ingestFrame(store, config, decodeEventsHeader(frame), NOW)).toThrow(expect.objectContaining({ code: 'HP_ERR_EVENT_INVALID', message: "event 0: missing field 'amount'" }));
    const iso = encodeEvents(2, 's', [
      { name: 'uid', type: 'string' }, { name: 'mid', type: 'string' }, { name: 'amount', type: 'number' },
      { name: 'country', type: 'string' }, { name: 'flag', type: 'number' }, { name: 'ts', type: 'string' },
    ], [['u', 'm', 1, 'FR', 0, new Date(NOW).toISOString()]]);
    expect(ingestFrame(store, config, decodeEventsHeader(iso), NOW)).toBeUndefined();
    expect(() => ingestFrame(store, config, decodeEventsHeader(encodeEvents(3, 'nope', [{ name: 'uid', type: 'string' }], [['u']])), NOW)).toThrow(expect.objectContaining({ code: 'HP_ERR_STREAM_UNKNOWN' }));
    // A count the bytes cannot hold is refused before anything is sized by it.
    const plan = Int32Array.from([0, 2, 1, 0, 0, 2, 4, 0, 1, 2, 1, 1, 2, 1, 3, 1, 3, 2, 4, 2, 4, 1, 4, 3]);
    expect(store.ingestRows(0, new Uint8Array(64), 0, 40, plan, NOW)).toEqual({ error: 'TRUNCATED', event: 0, column: 0 });
  });
});

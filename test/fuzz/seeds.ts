// The fuzzer's seeds: valid requests for every route in ROUTES and every frame kind of the
// WebSocket route, keyed as `hotpath routes` prints them ("POST /v1/predict/:model").
// http-fuzz.test.ts fails when a route has no entry here, so a new route is fuzzed from
// the day it is added: give it a few valid requests (params, query, headers, body) and a
// weight. Seeds are functions of the Rng so that ids, amounts and times vary.
import { encodeEvents, encodePredict } from '../../src/server/ws-protocol.js';
import { MAX_BATCH, MODELS } from './config.js';
import { type Json, type Rng } from './mutate.js';

export type SeedBody =
  | { kind: 'json'; value: Json; contentType?: string }
  | { kind: 'ndjson'; lines: Json[] }
  /** KServe binary tensors: the JSON header, then the tensor bytes */
  | { kind: 'kserve'; header: Json; tensors: Buffer }
  | { kind: 'raw'; bytes: Buffer };

export interface HttpSeed {
  /** only for the catch-all route: the method and path to send */
  method?: string;
  path?: string;
  /** values of the route pattern's :params, by name */
  params?: Record<string, string>;
  query?: string;
  headers?: [string, string][];
  body?: SeedBody;
}

export interface RouteSeeds {
  /** relative share of the requests this route gets */
  weight: number;
  /**
   * true when a valid request is answered after the handler returns (it waits on a worker
   * or a promise): such requests are never pipelined (see http-conn.ts)
   */
  async?: boolean;
  seeds(rng: Rng): HttpSeed[];
}

const now = () => Date.now();
const user = (rng: Rng) => (rng.chance(0.8) ? `u${rng.int(50)}` : String(rng.int(1000)));
const merchant = (rng: Rng) => `m${rng.int(20)}`;

function event(rng: Rng): Record<string, Json> {
  const e: Record<string, Json> = { user_id: user(rng), merchant_id: merchant(rng), amount: Math.round(rng.float() * 50000) / 100, country: rng.pick(['FR', 'DE', 'US', 'GB']) };
  if (rng.chance(0.7)) e.ts = now() - rng.int(3_600_000);
  else if (rng.chance(0.5)) e.ts = new Date(now() - rng.int(60_000)).toISOString();
  if (rng.chance(0.2)) e.stream = 'tx';
  return e;
}

const predictBody = (rng: Rng): Json => ({ entities: { user: user(rng), merchant: merchant(rng) }, fields: { amount: rng.float() * 500 } });

function floats(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => Math.round((rng.float() * 4 - 1) * 1000) / 1000);
}

/** KServe infer seeds for a model of width d: JSON tensors, binary tensors, binary outputs. */
function inferSeeds(rng: Rng, model: keyof typeof MODELS, version?: string): HttpSeed[] {
  const { inDim: d, input: name, output } = MODELS[model];
  const rows = 1 + rng.int(4);
  const params: Record<string, string> = version ? { model, version } : { model };
  const data = floats(rng, rows * d);
  const bin = Buffer.from(Float32Array.from(data).buffer);
  return [
    { params, body: { kind: 'json', value: { inputs: [{ name, datatype: 'FP32', shape: [rows, d], data }] } } },
    { params, body: { kind: 'json', value: { id: `r${rng.int(100)}`, inputs: [{ name, datatype: 'FP32', shape: [rows, d], data: chunk(data, d) }], outputs: [{ name: output }] } } },
    { params, body: { kind: 'kserve', header: { inputs: [{ name, datatype: 'FP32', shape: [rows, d], parameters: { binary_data_size: bin.length } }] }, tensors: bin } },
    {
      params,
      body: {
        kind: 'kserve',
        header: { id: 'b', inputs: [{ name, datatype: 'FP32', shape: [rows, d], parameters: { binary_data_size: bin.length } }], outputs: [{ name: output, parameters: { binary_data: true } }] },
        tensors: bin,
      },
    },
    { params, body: { kind: 'kserve', header: { parameters: { binary_data_output: true }, inputs: [{ name, datatype: 'FP32', shape: [rows, d], parameters: { binary_data_size: bin.length } }] }, tensors: bin } },
    // Other datatypes, binary and JSON: refused by the model, but parsed first.
    { params, body: { kind: 'kserve', header: { inputs: [{ name, datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 11 } }] }, tensors: Buffer.from([2, 0, 0, 0, 104, 105, 1, 0, 0, 0, 33]) } },
    { params, body: { kind: 'json', value: { inputs: [{ name, datatype: rng.pick(['INT64', 'UINT8', 'BOOL', 'FP16', 'FP64', 'BYTES']), shape: [1, 2], data: [1, 0] }] } } },
  ];
}

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

const model = (rng: Rng) => rng.pick(['fraud', 'rules', 'leaky', 'online'] as const);
const learner = (rng: Rng) => rng.pick(['online', 'online', 'fraud', 'no_such_model'] as const);

/** Seeds for every route of ROUTES, by "METHOD /path" as `hotpath routes` prints them. */
export const HTTP_SEEDS: Record<string, RouteSeeds> = {
  'POST /v1/events': {
    weight: 3,
    async: true, // answered once the batch's log record is durable (the fuzz server has a data directory)
    seeds: (rng): HttpSeed[] => [
      { body: { kind: 'json', value: event(rng) } },
      { body: { kind: 'json', value: Array.from({ length: 1 + rng.int(8) }, () => event(rng)) } },
      { query: 'stream=tx', headers: [['content-type', 'application/x-ndjson']], body: { kind: 'ndjson', lines: Array.from({ length: 1 + rng.int(5) }, () => event(rng)) } },
      { query: 'stream=tx', body: { kind: 'json', value: { ...event(rng), user_id: rng.int(1e6) } } },
    ],
  },
  'GET /v1/features/:entity/:id': {
    weight: 2,
    seeds: (rng): HttpSeed[] => [
      { params: { entity: 'user', id: user(rng) } },
      { params: { entity: 'merchant', id: merchant(rng) }, query: 'features=txn_count_1m,users_1h' },
      { params: { entity: 'user', id: user(rng) }, query: `features=txn_count_1h,amount_mean_1h&at=${now() - rng.int(1e6)}` },
      { params: { entity: 'user', id: encodeURIComponent('é€') } },
    ],
  },
  'POST /v1/features': {
    weight: 2,
    seeds: (rng): HttpSeed[] => [
      { body: { kind: 'json', value: { entity: 'user', ids: [user(rng), user(rng), rng.int(100)] } } },
      { body: { kind: 'json', value: { entity: 'merchant', ids: [merchant(rng)], features: ['txn_count_1m'], at: now() } } },
      { body: { kind: 'json', value: { entity: 'user', ids: [user(rng)], at: new Date().toISOString() } } },
    ],
  },
  'GET /v1/stats': { weight: 0.3, seeds: () => [{}] },
  'POST /v1/predict/:model': {
    weight: 3,
    async: true,
    seeds: (rng): HttpSeed[] => [
      { params: { model: 'fraud' }, body: { kind: 'json', value: predictBody(rng) } },
      { params: { model: 'rules' }, body: { kind: 'json', value: predictBody(rng) } },
      { params: { model: model(rng) }, body: { kind: 'json', value: { entities: { user: rng.int(100), merchant: merchant(rng) }, fields: { amount: rng.int(1000) } } } },
    ],
  },
  'GET /v2': { weight: 0.3, seeds: () => [{}] },
  'GET /v2/health/live': { weight: 0.3, seeds: () => [{}] },
  'GET /v2/health/ready': { weight: 0.3, seeds: () => [{}] },
  'GET /v2/models/:model': { weight: 0.5, seeds: (rng): HttpSeed[] => [{ params: { model: model(rng) } }] },
  'GET /v2/models/:model/versions/:version': { weight: 0.5, seeds: (rng): HttpSeed[] => [{ params: { model: model(rng), version: '1' } }] },
  'GET /v2/models/:model/ready': { weight: 0.5, seeds: (rng): HttpSeed[] => [{ params: { model: model(rng) } }] },
  'GET /v2/models/:model/versions/:version/ready': { weight: 0.5, seeds: (rng): HttpSeed[] => [{ params: { model: model(rng), version: '1' } }] },
  'POST /v2/models/:model/infer': { weight: 4, async: true, seeds: (rng) => inferSeeds(rng, model(rng)) },
  'POST /v2/models/:model/versions/:version/infer': { weight: 1.5, async: true, seeds: (rng) => inferSeeds(rng, model(rng), '1') },
  'POST /v2/repository/index': { weight: 0.3, seeds: () => [{}] },
  // Each accepted load reloads a model in the worker (an onnxruntime session for leaky):
  // a few dozen in a run, enough to see a leak or a failed request around a swap.
  'POST /v2/repository/models/:model/load': {
    weight: 0.04,
    async: true,
    seeds: (rng): HttpSeed[] => [{ params: { model: model(rng) } }, { params: { model: model(rng) }, body: { kind: 'json', value: { parameters: { version: 1 } } } }],
  },
  // Unloading a served model would make its predicts answer 503 (not ready), which this
  // fuzzer counts as a failure: the seeds name a model the config does not have (404),
  // and mutation reaches the name checks and the body.
  'POST /v2/repository/models/:model/unload': { weight: 0.04, seeds: (): HttpSeed[] => [{ params: { model: 'no_such_model' } }, { params: { model: 'no_such_model' }, body: { kind: 'json', value: {} } }] },
  // A snapshot writes the store (a few MiB here) and deletes the log before it: a few
  // dozen in a run, some overlapping (409).
  'POST /v1/admin/snapshot': { weight: 0.04, async: true, seeds: (): HttpSeed[] => [{}, { body: { kind: 'json', value: {} } }] },
  // Fault injection is off on the fuzz server (server.fault_injection): every request is
  // refused with HP_ERR_FAULT_INJECTION_OFF, whatever its body.
  'POST /v1/debug/fault': {
    weight: 0.1,
    seeds: (): HttpSeed[] => [
      { body: { kind: 'json', value: { fault: 'stall', model: 'fraud', ms: 0 } } },
      { body: { kind: 'json', value: { fault: 'crash', worker: 0 } } },
      { body: { kind: 'json', value: { fault: 'fail', model: 'fraud', count: 1, for_ms: 10 } } },
    ],
  },
  // The slowest requests of the last minute: the fuzz traffic itself fills the list.
  'GET /v1/debug/slow': {
    weight: 0.2,
    seeds: (rng): HttpSeed[] => [{}, { query: `limit=${1 + rng.int(100)}` }, { query: 'limit=0' }, { query: `limit=${rng.int(1e6)}&limit=x` }],
  },
  'POST /get-online-features': {
    weight: 2,
    seeds: (rng): HttpSeed[] => {
      const n = 1 + rng.int(4);
      return [
        { body: { kind: 'json', value: { features: ['user:txn_count_1h', 'user:amount_mean_1h'], entities: { user_id: Array.from({ length: n }, () => user(rng)) } } } },
        {
          body: {
            kind: 'json',
            value: { features: ['user:countries_24h', 'merchant:users_1h'], entities: { user: Array.from({ length: n }, () => user(rng)), merchant_id: Array.from({ length: n }, () => merchant(rng)) }, full_feature_names: true },
          },
        },
      ];
    },
  },
  'GET /metrics': { weight: 0.05, async: true, seeds: () => [{}] },
  // the dashboard (routes/dashboard.ts): the page, with or without a key in the query, and its files by name
  'GET /dashboard': { weight: 0.05, seeds: (rng): HttpSeed[] => [{}, { query: `key=${rng.pick(['', 'hp_x', '%ZZ', 'a&key=b'])}` }] },
  'GET /dashboard/:file': {
    weight: 0.1,
    seeds: (rng): HttpSeed[] => [
      { params: { file: rng.pick(['dashboard.js', 'dashboard.css', 'uPlot.iife.min.js', 'uPlot.min.css']) } },
      { params: { file: rng.pick(['index.html', 'nope.js', '..%2Fpackage.json', 'constructor', '__proto__', 'ws']) } },
    ],
  },
  'GET /v1/alerts': {
    weight: 0.3,
    seeds: (rng): HttpSeed[] => [{}, { query: `since=${rng.int(1e6)}&limit=${1 + rng.int(20)}` }, { query: 'since=abc' }, { query: 'limit=0' }],
  },
  'GET /v1/learners': { weight: 0.2, seeds: () => [{}] },
  'GET /v1/learners/:model': { weight: 0.2, seeds: (rng): HttpSeed[] => [{ params: { model: learner(rng) } }] },
  'GET /v1/learners/:model/onnx': { weight: 0.1, seeds: (rng): HttpSeed[] => [{ params: { model: learner(rng) } }] },
  'POST /v1/learners/:model/reset': { weight: 0.05, seeds: (rng): HttpSeed[] => [{ params: { model: learner(rng) } }, { params: { model: 'online' }, body: { kind: 'json', value: {} } }] },
  // experiments (docs/experiments.md): `ab` in the fuzz config, its metric the tx stream
  'POST /v1/experiments/:name/assign': {
    weight: 0.4,
    seeds: (rng): HttpSeed[] => [
      { params: { name: 'ab' }, body: { kind: 'json', value: { unit: user(rng) } } },
      { params: { name: 'ab' }, body: { kind: 'json', value: { unit: rng.int(1000) } } },
      { params: { name: rng.pick(['ab', 'nope']) }, body: { kind: 'json', value: { unit: user(rng), extra: [1, 2] } } },
    ],
  },
  'POST /v1/experiments/:name/serve': {
    weight: 0.4,
    async: true,
    seeds: (rng): HttpSeed[] => [{ params: { name: 'ab' }, body: { kind: 'json', value: { unit: user(rng), ...(predictBody(rng) as Record<string, Json>) } } }],
  },
  'GET /v1/experiments': { weight: 0.1, seeds: () => [{}] },
  'GET /v1/experiments/:name': { weight: 0.1, seeds: (rng): HttpSeed[] => [{ params: { name: rng.pick(['ab', 'nope']) } }] },
  'POST /v1/experiments/:name/stop': { weight: 0.03, seeds: (rng): HttpSeed[] => [{ params: { name: 'ab' }, body: { kind: 'json', value: rng.chance(0.5) ? {} : { winner: rng.pick(['control', 'treatment']), reason: 'fuzz' } } }] },
  'POST /v1/experiments/:name/resume': { weight: 0.03, seeds: (): HttpSeed[] => [{ params: { name: 'ab' }, body: { kind: 'json', value: {} } }] },
  'POST /v1/experiments/:name/ramp': { weight: 0.03, seeds: (rng): HttpSeed[] => [{ params: { name: 'ab' }, body: { kind: 'json', value: { share: rng.chance(0.2) ? null : rng.float() } } }] },
  'POST /v1/recommend/:name': {
    weight: 0.5,
    seeds: (rng): HttpSeed[] => [
      { params: { name: 'shop' }, body: { kind: 'json', value: { user: merchant(rng) } } },
      { params: { name: 'shop' }, body: { kind: 'json', value: { user: merchant(rng), k: 1 + rng.int(50), exclude_seen: rng.chance(0.5), category: rng.pick(['FR', 'DE', 'US', 'GB']) } } },
      { params: { name: 'shop' }, body: { kind: 'json', value: { user: `m${100 + rng.int(10)}`, items: [user(rng), user(rng)] } } },
      { params: { name: 'nope' }, body: { kind: 'json', value: { user: 'm1' } } },
    ],
  },
  'GET /v1/recommenders': { weight: 0.1, seeds: () => [{}] },
  // bandits: decision ids are not known to a seed, so rewards name made-up ones
  // (unknown) or a plausible id; mutation reaches the type and range checks
  'POST /v1/bandits/:name/choose': {
    weight: 1,
    seeds: (rng): HttpSeed[] => [
      { params: { name: 'home' } },
      { params: { name: 'home' }, body: { kind: 'json', value: {} } },
      { params: { name: 'offer' }, body: { kind: 'json', value: predictBody(rng) } },
      { params: { name: 'offer' }, body: { kind: 'json', value: { entities: { user: user(rng) }, fields: { amount: rng.float() } } } },
      { params: { name: rng.pick(['nope', 'home', 'offer']) }, body: { kind: 'json', value: { entity: user(rng) } } },
    ],
  },
  'POST /v1/bandits/:name/reward': {
    weight: 1,
    seeds: (rng): HttpSeed[] => [
      { params: { name: 'home' }, body: { kind: 'json', value: { decision_id: Date.now() * 1000 + rng.int(1e6), reward: rng.pick([0, 1, 0.5]) } } },
      { params: { name: 'offer' }, body: { kind: 'json', value: { decision_id: rng.int(1e9), reward: rng.float() * 10 - 5 } } },
      { params: { name: rng.pick(['home', 'nope']) }, body: { kind: 'json', value: { decision_id: rng.pick([-1, 1.5, 'x', null]), reward: rng.pick([2, -1, 'y']) } } },
    ],
  },
  'GET /v1/bandits': { weight: 0.2, seeds: () => [{}] },
  'GET /v1/bandits/:name': { weight: 0.2, seeds: (rng): HttpSeed[] => [{ params: { name: rng.pick(['home', 'offer', 'nope']) } }] },
  'POST /v1/bandits/:name/arms': {
    weight: 0.1,
    seeds: (rng): HttpSeed[] => [
      { params: { name: 'home' }, body: { kind: 'json', value: { add: [rng.pick(['d', 'e', 'f', 'a'])] } } },
      { params: { name: 'home' }, body: { kind: 'json', value: { retire: [rng.pick(['a', 'b', 'c', 'd', 'e'])] } } },
      { params: { name: rng.pick(['home', 'offer', 'nope']) }, body: { kind: 'json', value: { add: ['z'], retire: ['x'] } } },
    ],
  },
  'GET /healthz': { weight: 0.3, seeds: () => [{}] },
  'GET /readyz': { weight: 0.3, seeds: () => [{}] },
  'ANY /*': {
    weight: 1.5,
    seeds: (rng): HttpSeed[] => [
      { method: rng.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'GET', 'POST']), path: rng.pick(['/v1/events', '/v1/features', '/nope', '/', '/v1', '/v2/models', '/v1/predict', '/healthz']) },
      { method: 'POST', path: '/v1/features/user/u1', body: { kind: 'json', value: {} } },
      { method: 'GET', path: '/v1/predict/fraud' },
      { method: rng.pick(['GET', 'PUT', 'DELETE']), path: '/v2/models/fraud/infer' },
      { method: 'HEAD', path: '/healthz' },
    ],
  },
};

export type FrameSeed = { text: string } | { binary: Uint8Array };

const EVENT_COLUMNS = [
  { name: 'user_id', type: 'string' as const },
  { name: 'merchant_id', type: 'string' as const },
  { name: 'amount', type: 'number' as const },
  { name: 'country', type: 'string' as const },
  { name: 'ts', type: 'number' as const },
];

/** Row values, most of them valid, some each way wrong that the native row decoder must refuse. */
function rowValue(rng: Rng, name: string, type: 'number' | 'string'): number | string {
  const bad = rng.chance(0.01);
  if (type === 'string') {
    if (bad) return rng.pick(['', 'x'.repeat(257), '\ud800', 'é'.repeat(200)]);
    return name === 'merchant_id' ? merchant(rng) : name === 'country' ? rng.pick(['FR', 'DE', '42', '-7']) : user(rng);
  }
  if (bad) return rng.pick([NaN, Infinity, -1, 2 ** 53 + 2, 1.5, now() + 1e12, 8.64e15 + 1]);
  return name === 'ts' ? now() - rng.int(600_000) : name === 'user_id' ? rng.int(1000) : rng.float() * 100;
}

function eventsFrame(rng: Rng, id: number): Uint8Array {
  const cols = EVENT_COLUMNS.map((c) => ({ ...c }));
  if (rng.chance(0.2)) cols[0].type = 'number'; // an integer user id
  if (rng.chance(0.1)) cols.splice(rng.int(cols.length), 1); // a missing key or field
  if (rng.chance(0.1)) cols.push({ name: rng.pick(['extra', 'stream', 'amount']), type: rng.pick(['number', 'string'] as const) });
  if (rng.chance(0.2)) cols.reverse();
  const n = rng.chance(0.05) ? MAX_BATCH + 1 : 1 + rng.int(16);
  const rows = Array.from({ length: n }, () => cols.map((c) => rowValue(rng, c.name, c.type)));
  return encodeEvents(id, rng.chance(0.95) ? 'tx' : 'nope', cols, rows);
}

/** Seeds for each frame kind of /v1/ws (text JSON and binary), by frame kind. */
export const WS_SEEDS: Record<string, { weight: number; seed(rng: Rng, id: number): FrameSeed }> = {
  'text predict': { weight: 2, seed: (rng, id) => ({ text: JSON.stringify({ id, op: 'predict', model: model(rng), ...(predictBody(rng) as object) }) }) },
  'text subscribe': { weight: 0.3, seed: (rng, id) => ({ text: JSON.stringify({ id, op: rng.pick(['subscribe', 'unsubscribe']), topic: rng.pick(['alerts', 'alerts', 'nope']) }) }) },
  'text events': { weight: 2, seed: (rng, id) => ({ text: JSON.stringify({ id, op: 'events', stream: 'tx', events: Array.from({ length: 1 + rng.int(4) }, () => event(rng)) }) }) },
  'binary predict': {
    weight: 2,
    seed: (rng, id) => ({ binary: encodePredict({ id, model: model(rng), entities: { user: user(rng), merchant: merchant(rng) }, fields: { amount: rng.float() * 100 } }) }),
  },
  'binary events': { weight: 4, seed: (rng, id) => ({ binary: eventsFrame(rng, id) }) },
};

/** The routes the WebSocket seeds cover (WS_ROUTES paths that take frames: /dashboard/ws reads none). */
export const WS_SEEDED_PATHS = ['/v1/ws'];

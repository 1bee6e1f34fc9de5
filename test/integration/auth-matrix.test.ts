// The auth matrix: every route class (events, features, Feast, predict per model, KServe,
// admin, metrics, alerts, health, the WebSocket upgrade and each frame kind) against no
// credential, a wrong key, an expired token, a wrong scope and the right scope (an API key
// and a JWT), on a real server with auth on. Every cell is asserted; with
// HOTPATH_MATRIX_OUT=<file.md> the table is also written there (bench/results keeps it):
//
//   HOTPATH_MATRIX_OUT=bench/results/2026-12-10-auth-matrix.md npx vitest run test/integration/auth-matrix.test.ts
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';

import { encodePredict } from '../../src/server/ws-protocol.js';
import { decodeServerFrame } from '../../src/server/ws-protocol.js';
import { ask, call, KEY_SCOPES, type KeyName, openWs, type Secured, startSecured } from '../support/security.js';

let s: Secured;
let input = '';

beforeAll(async () => {
  s = await startSecured({ server: { dataDir: mkdtempSync(join(tmpdir(), 'hotpath-matrix-')) } });
  input = (await call(s.base, 'GET', '/v2/models/fraud', s.keys.admin)).json.inputs[0].name;
}, 60_000);
afterAll(async () => {
  await s?.server.close();
});

const short = (r: { status: number; code?: string }) => `${r.status}${r.code ? ` ${r.code.replace('HP_ERR_', '')}` : ''}`;
const http = (method: string, path: string, body?: () => string) => (cred?: string) => call(s.base, method, path, cred, body?.()).then(short);

/** A WebSocket probe: the upgrade's refusal, or the answer to one frame. */
const frame = (make: () => string | Uint8Array) => async (cred?: string) => {
  const ws = await openWs(s.base, { auth: cred });
  if (typeof ws === 'number') return `upgrade ${ws}`;
  try {
    const a = await ask(ws, make());
    const f = Buffer.isBuffer(a) ? decodeServerFrame(a) : a;
    return f.ok === true || f.op === 'predict_result' ? 'ok' : `error ${String(f.error?.code ?? f.code).replace('HP_ERR_', '')}`;
  } finally {
    (ws as WebSocket).close();
  }
};
const upgrade = async (cred?: string) => {
  const ws = await openWs(s.base, { auth: cred });
  if (typeof ws === 'number') return String(ws);
  ws.close();
  return '101';
};

const event = () => JSON.stringify({ stream: 'tx', user_id: 'u1', merchant_id: 'm1', amount: 5, country: 'FR', ts: Date.now() });
const predictBody = () => JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } });

interface Row {
  cls: string;
  route: string;
  scope: string;
  /** the key whose scopes do not include this route's (undefined: open route) */
  wrong?: KeyName;
  right?: KeyName;
  probe: (cred?: string) => Promise<string>;
}

const ROWS: Row[] = [
  { cls: 'events', route: 'POST /v1/events', scope: 'events:write', wrong: 'features', right: 'events', probe: http('POST', '/v1/events', event) },
  { cls: 'features', route: 'GET /v1/features/user/u1', scope: 'features:read', wrong: 'events', right: 'features', probe: http('GET', '/v1/features/user/u1') },
  { cls: 'features', route: 'POST /v1/features', scope: 'features:read', wrong: 'fraud', right: 'features', probe: http('POST', '/v1/features', () => '{"entity":"user","ids":["u1"]}') },
  { cls: 'features', route: 'POST /get-online-features (Feast)', scope: 'features:read', wrong: 'events', right: 'features', probe: http('POST', '/get-online-features', () => '{"features":["user:txn_count_1h"],"entities":{"user":["u1"]}}') },
  { cls: 'predict', route: 'POST /v1/predict/fraud', scope: 'predict:fraud', wrong: 'rules', right: 'fraud', probe: http('POST', '/v1/predict/fraud', predictBody) },
  { cls: 'predict', route: 'POST /v1/predict/fraud_rules', scope: 'predict:fraud_rules', wrong: 'fraud', right: 'rules', probe: http('POST', '/v1/predict/fraud_rules', predictBody) },
  { cls: 'predict', route: 'GET /v2/models/fraud (KServe)', scope: 'predict:fraud', wrong: 'rules', right: 'fraud', probe: http('GET', '/v2/models/fraud') },
  {
    cls: 'predict', route: 'POST /v2/models/fraud/infer (KServe)', scope: 'predict:fraud', wrong: 'features', right: 'predictAll',
    probe: http('POST', '/v2/models/fraud/infer', () => JSON.stringify({ inputs: [{ name: input, datatype: 'FP32', shape: [1, 10], data: Array(10).fill(0.5) }] })),
  },
  { cls: 'admin', route: 'POST /v2/repository/models/fraud/load', scope: 'admin', wrong: 'notAdmin', right: 'admin', probe: http('POST', '/v2/repository/models/fraud/load', () => '{}') },
  { cls: 'admin', route: 'POST /v2/repository/index', scope: 'admin', wrong: 'notAdmin', right: 'admin', probe: http('POST', '/v2/repository/index') },
  { cls: 'admin', route: 'GET /v1/stats', scope: 'admin', wrong: 'notAdmin', right: 'admin', probe: http('GET', '/v1/stats') },
  { cls: 'admin', route: 'POST /v1/admin/snapshot', scope: 'admin', wrong: 'notAdmin', right: 'admin', probe: http('POST', '/v1/admin/snapshot') },
  { cls: 'alerts', route: 'GET /v1/alerts', scope: 'alerts:read', wrong: 'metrics', right: 'alerts', probe: http('GET', '/v1/alerts') },
  { cls: 'metrics', route: 'GET /metrics (auth.metrics: protected)', scope: 'metrics:read', wrong: 'features', right: 'metrics', probe: http('GET', '/metrics') },
  { cls: 'open', route: 'GET /healthz', scope: 'open', probe: http('GET', '/healthz') },
  { cls: 'open', route: 'GET /readyz', scope: 'open', probe: http('GET', '/readyz') },
  { cls: 'open', route: 'GET /v2/health/ready (KServe)', scope: 'open', probe: http('GET', '/v2/health/ready') },
  { cls: 'websocket', route: 'GET /v1/ws (upgrade)', scope: 'events:write, a predict scope or alerts:read', wrong: 'features', right: 'events', probe: upgrade },
  {
    cls: 'websocket', route: '/v1/ws JSON events frame', scope: 'events:write', wrong: 'fraud', right: 'events',
    probe: frame(() => JSON.stringify({ id: 1, op: 'events', stream: 'tx', events: [JSON.parse(event())] })),
  },
  {
    cls: 'websocket', route: '/v1/ws binary predict frame (fraud)', scope: 'predict:fraud', wrong: 'events', right: 'fraud',
    probe: frame(() => encodePredict({ id: 2, model: 'fraud', entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } })),
  },
  {
    cls: 'websocket', route: '/v1/ws JSON alerts subscribe frame', scope: 'alerts:read', wrong: 'events', right: 'alerts',
    probe: frame(() => JSON.stringify({ id: 3, op: 'subscribe', topic: 'alerts' })),
  },
  // Last: it unloads a model the rows above use.
  { cls: 'admin', route: 'POST /v2/repository/models/fraud_rules/unload', scope: 'admin', wrong: 'notAdmin', right: 'admin', probe: http('POST', '/v2/repository/models/fraud_rules/unload', () => '{}') },
];

const COLUMNS = ['no credential', 'wrong key', 'expired token', 'wrong scope (key)', 'wrong scope (token)', 'right scope (key)', 'right scope (token)'] as const;

/** What each cell must read. */
function expected(r: Row): string[] {
  if (!r.wrong) return COLUMNS.map(() => '200');
  const ok = r.cls === 'websocket' ? (r.route.includes('upgrade') ? '101' : 'ok') : '200';
  const refused = (status: number, code: string) => {
    if (r.route.includes('frame')) return status === 403 ? `error ${code}` : `upgrade ${status}`;
    if (r.route.includes('upgrade') || r.route.includes('KServe') || r.route.includes('/v2/repository')) return String(status); // KServe errors carry no code
    return `${status} ${code}`;
  };
  return [refused(401, 'AUTH_REQUIRED'), refused(401, 'AUTH_INVALID'), refused(401, 'AUTH_EXPIRED'), refused(403, 'AUTH_FORBIDDEN'), refused(403, 'AUTH_FORBIDDEN'), ok, ok];
}

describe('the auth matrix', () => {
  it('answers every route class as its scope says, for each kind of credential', async () => {
    const table: string[][] = [];
    for (const r of ROWS) {
      const scopes = r.right ? KEY_SCOPES[r.right] : ['features:read'];
      const wrongScopes = r.wrong ? KEY_SCOPES[r.wrong] : ['events:write'];
      const cells = [
        await r.probe(undefined),
        await r.probe('hp_not-a-key-the-server-knows'),
        await r.probe(await s.token(scopes, { exp: -3600 })),
        await r.probe(s.keys[r.wrong ?? 'events']),
        await r.probe(await s.token(wrongScopes, { alg: 'ES256' })),
        await r.probe(s.keys[r.right ?? 'features']),
        await r.probe(await s.token(scopes, { alg: 'RS256' })),
      ];
      table.push([r.cls, `\`${r.route}\``, `\`${r.scope}\``, ...cells]);
      expect(cells, r.route).toEqual(expected(r));
    }
    const out = process.env.HOTPATH_MATRIX_OUT;
    if (out) {
      const md = [
        `# Auth matrix (${new Date().toISOString().slice(0, 10)})`,
        '',
        `Command: \`HOTPATH_MATRIX_OUT=${out} npx vitest run test/integration/auth-matrix.test.ts\` (${cpus().length} × ${cpus()[0]?.model.trim()}, ${process.version}).`,
        '',
        'A real server on port 0 with auth on (test/support/security.ts): API keys in a keys file (SHA-256 hashes), JWTs with HS256 (secret in an',
        'environment variable), RS256 and ES256 (a JWK Set file). "wrong key": a key the server does not know; "expired token": a JWT with the right',
        'scopes whose exp passed an hour ago (skew 30 s); "wrong scope": a valid key (resp. ES256 token) without the scope; "right scope": a key',
        '(resp. RS256 token) with it. Cells: HTTP status and code (KServe routes answer `{"error": "..."}` without a code); for WebSocket frames,',
        'the upgrade status when it was refused, else the frame\'s answer. Every cell is asserted by the test.',
        '',
        `| class | route | scope needed | ${COLUMNS.join(' | ')} |`,
        `|${['', '', '', ...COLUMNS].map(() => '---').join('|')}|`,
        ...table.map((row) => `| ${row.join(' | ')} |`),
        '',
      ].join('\n');
      writeFileSync(out, md);
    }
  }, 60_000);
});

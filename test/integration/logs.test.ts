// The server's log in a running server (logging:, docs/operations.md "Traces and logs"):
// JSON lines through pino to a stream the test passes in; a 5xx answer logs one line with
// the request id (the client's, else the trace id, else one made for it) and the error
// code, and the answer carries that id; a request whose credential fails leaves no trace
// of the credential in any line.
import { afterEach, describe, expect, it } from 'vitest';

import { OtlpReceiver } from '../support/otlp.js';
import { mint, type Secured, startSecured } from '../support/security.js';

let s: Secured | undefined;
let rx: OtlpReceiver | undefined;
afterEach(async () => {
  await s?.server.close();
  s = undefined;
  await rx?.close();
  rx = undefined;
});

/** A server with auth whose log lines land in `lines` (parsed). */
async function start(logging: string, extra = ''): Promise<{ lines: Record<string, any>[]; raw: string[] }> {
  const raw: string[] = [];
  s = await startSecured({ extra: `logging: ${logging}\n${extra}`, server: { log: undefined, logStream: { write: (l) => raw.push(l) } } });
  return {
    raw,
    get lines() {
      return raw.map((l) => JSON.parse(l));
    },
  };
}

const predict = (base: string, key: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/predict/fraud`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body: JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } }) });

describe('logs', () => {
  it('every line is JSON with level, time and msg; the start lines too', async () => {
    const log = await start('{ level: info }');
    await s!.server.close();
    s = undefined;
    expect(log.raw.length).toBeGreaterThan(0);
    for (const l of log.lines) {
      expect(typeof l.time).toBe('string');
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(l.level);
      expect(typeof l.msg).toBe('string');
      expect(typeof l.component).toBe('string');
    }
  });

  it('a 5xx logs one line with request_id, trace_id and the code, and the answer carries the id', async () => {
    rx = await OtlpReceiver.start();
    const log = await start('{ level: info, requests: errors, request_id_header: true }', `tracing: { enabled: true, sample_ratio: 0, endpoint: "${rx.url}" }`);
    const { server, base, keys } = s!;
    // a model whose every batch fails, without a fallback: the answer is a 5xx
    server.pool.fault({ type: 'fault', kind: 'fail', slot: server.models.get('fraud').current!.slot, count: 1000 });
    const mine = await predict(base, keys.fraud, { 'x-request-id': 'checkout-4411' });
    expect(mine.status).toBeGreaterThanOrEqual(500);
    const code = (await mine.json()).error.code;
    expect(mine.headers.get('x-request-id')).toBe('checkout-4411');
    const traced = await predict(base, keys.fraud, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(traced.headers.get('x-request-id')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const plain = await predict(base, keys.fraud);
    const made = plain.headers.get('x-request-id');
    expect(made).toMatch(/^[0-9a-f]{16}$/);
    // a 4xx under `errors`: no line
    expect((await fetch(`${base}/v1/features/nobody/u1`, { headers: { authorization: `Bearer ${keys.features}` } })).status).toBe(404);

    const requests = log.lines.filter((l) => l.component === 'http');
    expect(requests).toHaveLength(3);
    for (const l of requests) expect(l).toMatchObject({ level: 'error', code, status: mine.status, method: 'POST', route: '/v1/predict/:model' });
    expect(requests[0].request_id).toBe('checkout-4411');
    expect(requests[0].trace_id).toBeUndefined();
    expect(requests[1]).toMatchObject({ request_id: '4bf92f3577b34da6a3ce929d0e0e4736', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(requests[2].request_id).toBe(made);
    expect(requests[0].msg).toContain(code);
  });

  it('a credential that fails auth leaves no trace in the log', async () => {
    const log = await start('{ level: trace, requests: all }');
    const { base, keys } = s!;
    const wrongKey = `hp_${'Zq9'.repeat(11)}`;
    const expired = await mint(['features:read'], { exp: -60 });
    const forged = await mint(['admin'], { foreign: true });
    const answers = [
      await fetch(`${base}/v1/features/user/u1`, { headers: { authorization: `Bearer ${wrongKey}` } }),
      await fetch(`${base}/v1/features/user/u1`, { headers: { 'x-api-key': wrongKey } }),
      await fetch(`${base}/v1/features/user/u1`, { headers: { authorization: `Bearer ${expired}` } }),
      await fetch(`${base}/v1/admin/snapshot`, { method: 'POST', headers: { authorization: `Bearer ${forged}` } }),
      await fetch(`${base}/dashboard?key=${wrongKey}`),
      // a valid key without the scope: refused with 403; its key is a credential too
      await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${keys.features}` } }),
      await fetch(`${base}/v1/features/user/u1`, { headers: { authorization: `Basic ${Buffer.from(`user:${wrongKey}`).toString('base64')}` } }),
    ];
    for (const a of answers) expect([401, 403]).toContain(a.status);
    await s!.server.close();
    s = undefined;
    const text = log.raw.join('\n');
    // each refusal was logged (requests: all), with its request id, and none quotes a secret
    const refusals = log.lines.filter((l) => l.component === 'http' && (l.status === 401 || l.status === 403));
    expect(refusals.length).toBe(answers.length);
    for (const l of refusals) {
      expect(l.level).toBe('warn');
      expect(l.request_id).toMatch(/^[0-9a-f]{16}$/);
      expect(l.code).toMatch(/^HP_ERR_AUTH_/);
    }
    for (const secret of [wrongKey, expired, forged, keys.features, Buffer.from(`user:${wrongKey}`).toString('base64'), ...expired.split('.'), ...forged.split('.').slice(1)])
      expect(text).not.toContain(secret);
  });
});

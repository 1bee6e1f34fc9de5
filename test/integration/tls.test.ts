// TLS with certificates made by openssl at test time: HTTPS (node https) and WSS (ws)
// clients that trust only the test CA, certificate reload without dropping open
// connections, a reload that fails and keeps the old certificate, client certificates
// checked against tls.ca_file, and `hotpath serve` reloading on SIGHUP.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { KEY_SCOPES, type Secured, startSecured, tmp, writeKeys } from '../support/security.js';

let certs: string;
let s: Secured | undefined;
const agents: https.Agent[] = [];

const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'pipe' });

/** A P-256 key and a certificate for `cn` signed by `ca` (or self-signed), valid for 127.0.0.1. */
function cert(name: string, cn: string, ca?: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(join(certs, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const signer = ca ? ['-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'] : ['-signkey', `${name}.key`];
  openssl('x509', '-req', '-in', `${name}.csr`, ...signer, '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
}

beforeAll(() => {
  certs = tmp();
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=hotpath test CA');
  cert('one', 'server-one', 'ca');
  cert('two', 'server-two', 'ca');
  cert('client', 'client', 'ca');
  cert('stranger', 'stranger'); // self-signed: not from the CA
});

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await s?.server.close();
  s = undefined;
});

const ca = () => readFileSync(join(certs, 'ca.crt'));

/** GET over HTTPS: status, body and the server certificate's CN. */
function get(port: number, path: string, o: { agent?: https.Agent; key?: string; headers?: Record<string, string>; client?: string } = {}) {
  return new Promise<{ status: number; body: string; cn: string }>((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1', port, path, ca: ca(), agent: o.agent ?? false, headers: { ...(o.key ? { authorization: `Bearer ${o.key}` } : {}), ...o.headers },
        ...(o.client ? { key: readFileSync(join(certs, `${o.client}.key`)), cert: readFileSync(join(certs, `${o.client}.crt`)) } : {}),
      },
      (res) => {
        let body = '';
        const cn = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN);
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, cn }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Starts the secured server over TLS with server.crt and server.key (see useCert). */
async function startTls(extraTls = ''): Promise<Secured> {
  s = await startSecured({ extra: `tls:\n  cert_file: ${join(certs, 'server.crt')}\n  key_file: ${join(certs, 'server.key')}\n${extraTls}` });
  return s;
}

/** Puts the certificate `name` (and its key) where the server reads them. */
function useCert(name: string): void {
  copyFileSync(join(certs, `${name}.crt`), join(certs, 'server.crt'));
  copyFileSync(join(certs, `${name}.key`), join(certs, 'server.key'));
}

describe('TLS', () => {
  it('serves HTTPS and WSS, with auth, to clients that trust the CA', async () => {
    useCert('one');
    const { server, keys, base } = await startTls();
    expect(base).toMatch(/^https:/);
    const r = await get(server.port, '/v1/features/user/u1', { key: keys.features });
    expect(r).toMatchObject({ status: 200, cn: 'server-one' });
    expect((await get(server.port, '/v1/features/user/u1')).status).toBe(401);
    // Plain HTTP on the TLS port gets nowhere.
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`, { signal: AbortSignal.timeout(3000) })).rejects.toThrow();
    // WSS with the key; a client that does not trust the CA is refused by its own TLS check.
    const ws = new WebSocket(`wss://127.0.0.1:${server.port}/v1/ws`, { ca: ca(), headers: { authorization: `Bearer ${keys.events}` } });
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const answer = new Promise<any>((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
    ws.send(JSON.stringify({ id: 1, op: 'events', stream: 'tx', events: [{ user_id: 'u1', merchant_id: 'm1', amount: 2, country: 'FR' }] }));
    expect(await answer).toEqual({ id: 1, ok: true, accepted: 1, late: 0 });
    ws.close();
    const untrusting = new WebSocket(`wss://127.0.0.1:${server.port}/v1/ws`);
    await expect(new Promise((resolve, reject) => (untrusting.once('open', resolve), untrusting.once('error', reject)))).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('reloads the certificate: new connections get the new one, open ones keep going, a bad file keeps the old', async () => {
    useCert('one');
    const { server, keys } = await startTls();
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(keepAlive);
    expect((await get(server.port, '/healthz', { agent: keepAlive })).cn).toBe('server-one');
    useCert('two');
    await server.reloadTls();
    expect(await get(server.port, '/v1/features/user/u1', { key: keys.features })).toMatchObject({ status: 200, cn: 'server-two' });
    // The connection opened before the reload is still served, with its certificate.
    expect(await get(server.port, '/healthz', { agent: keepAlive })).toMatchObject({ status: 200, cn: 'server-one' });
    // Ten new connections: all see the new certificate (the old listen socket is closed).
    const cns = await Promise.all(Array.from({ length: 10 }, () => get(server.port, '/healthz').then((r) => r.cn)));
    expect(new Set(cns)).toEqual(new Set(['server-two']));
    writeFileSync(join(certs, 'server.crt'), 'not a certificate\n');
    await expect(server.reloadTls()).rejects.toMatchObject({ code: 'HP_ERR_CONFIG_INVALID', message: expect.stringContaining('/tls') });
    expect((await get(server.port, '/healthz')).cn).toBe('server-two');
  });

  it('checks client certificates against tls.ca_file: one from the CA passes, a stranger is refused', async () => {
    useCert('one');
    const { server } = await startTls(`  ca_file: ${join(certs, 'ca.crt')}\n`);
    expect((await get(server.port, '/healthz', { client: 'client' })).status).toBe(200);
    await expect(get(server.port, '/healthz', { client: 'stranger' })).rejects.toThrow(/unknown ca|alert|socket hang up|ECONNRESET/i);
    // uWS asks for a certificate but does not require one (docs/security.md): auth still applies.
    expect((await get(server.port, '/v1/features/user/u1')).status).toBe(401);
  });
});

describe('hotpath serve with TLS', () => {
  it('reloads the certificate and the keys on SIGHUP', async () => {
    useCert('one');
    const dir = tmp();
    const root = fileURLToPath(new URL('../..', import.meta.url));
    writeKeys(dir, { reader: 'hp_reader-key-for-the-cli-test' }, { reader: KEY_SCOPES.features });
    writeFileSync(
      join(dir, 'hotpath.yaml'),
      `server: { workers: 1 }\nstreams:\n  tx: { keys: { user: user_id }, fields: { amount: number } }\nentities:\n  user:\n    memory: 1MiB\n    features: { n: { agg: count, window: 1m } }\n` +
        `auth: { keys_file: keys.yaml }\ntls: { cert_file: ${join(certs, 'server.crt')}, key_file: ${join(certs, 'server.key')} }\n`,
    );
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '--config', join(dir, 'hotpath.yaml'), '--port', '0'], { cwd: root });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const waitFor = async (what: () => boolean) => {
      for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(what(), `${out}\n${err}`).toBe(true);
    };
    try {
      await waitFor(() => /listening on https:\/\/127\.0\.0\.1:\d+/.test(out));
      const port = Number(/:(\d+) /.exec(out)![1]);
      expect(out).toContain('auth on');
      expect(await get(port, '/v1/features/user/u1', { key: 'hp_reader-key-for-the-cli-test' })).toMatchObject({ status: 200, cn: 'server-one' });
      useCert('two');
      writeKeys(dir, { reader2: 'hp_second-reader-key' }, { reader2: KEY_SCOPES.features });
      p.kill('SIGHUP');
      await waitFor(() => err.includes('TLS certificate reloaded') && err.includes('credentials reloaded'));
      expect(await get(port, '/v1/features/user/u1', { key: 'hp_second-reader-key' })).toMatchObject({ status: 200, cn: 'server-two' });
      expect((await get(port, '/v1/features/user/u1', { key: 'hp_reader-key-for-the-cli-test' })).status).toBe(401);
      expect(err).not.toContain('hp_');
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  }, 30_000);
});

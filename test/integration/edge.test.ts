// The edge profile (docs/edge.md) on a real server: `hotpath serve --profile edge` as a user
// runs it (the CLI: inference on the main thread, its V8 flags, no demo although the config
// has a demo section, a predict answered; a bad profile refused naming the flag), and the
// programmatic equivalent the CLI uses (loadConfig with { profile }): the same scores as a
// server with a worker thread, batches formed on the main thread, a model failure and an
// injected crash answered by the fallback with the server still serving, a reload, and a
// config value that wins over the profile. No timing or memory assertion here: those are
// bench/edge.ts's (bench/results/2026-12-06-edge.md).
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_INPUTS, FRAUD_V1, RULES_V1, ROOT, STORE_YAML, getJson, makeRepo, metric, metricsText, postJson, predictBody } from '../support/inference-server.js';

const cli = join(ROOT, 'src/cli/main.ts');

describe('hotpath serve --profile edge (the CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-edge-cli-'));
  let child: ReturnType<typeof spawn> | undefined;
  afterEach(() => child?.kill('SIGKILL'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The shipped config (its demo section included) with the demo model, in `dir`. */
  function shippedConfig(): string {
    cpSync(join(ROOT, 'models'), join(dir, 'models'), { recursive: true });
    const c = parse(readFileSync(join(ROOT, 'hotpath.yaml'), 'utf8')) as Record<string, any>;
    c.server.port = 0;
    c.demo.rate = 1000; // if a demo ran, it would be seen at once
    writeFileSync(join(dir, 'hotpath.yaml'), stringify(c));
    return join(dir, 'hotpath.yaml');
  }

  it('serves with inference on the main thread and its V8 flags, runs no demo, answers a predict, stops on SIGTERM', async () => {
    const config = shippedConfig();
    const p = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--config', config, '--profile', 'edge', '--host', '127.0.0.1', '--port', '0'], { cwd: ROOT });
    child = p;
    let stdout = '';
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      p.stdout!.on('data', (d) => {
        stdout += d;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      p.on('exit', (code) => reject(new Error(`hotpath serve exited (${code}): ${stderr}`)));
    });
    expect(stdout).toContain('profile edge: inference on the main thread, V8 --semi-space-growth-factor=1 --optimize-for-size)');
    const base = `http://127.0.0.1:${port}`;
    const text = await metricsText(base);
    expect(metric(text, 'hotpath_inference_threads')).toBe(0);
    expect(metric(text, 'hotpath_ring_occupancy_ratio', 'worker="0",ring="request"')).toBe(0);
    const r = await postJson(base, '/v1/predict/fraud', { entities: { user: 'user-1', merchant: 'merchant-1' }, fields: { amount: 250 } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ model: 'fraud', version: '2', fallback: false });
    expect(r.body.score).toBeGreaterThan(0);
    expect(r.body.score).toBeLessThan(1);
    // The config has a demo section (1,000 events/s, scored by fraud): without --demo it
    // does not run, so nothing is ingested and the one predict above is all fraud ran.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stats = await getJson(base, '/v1/stats');
    expect(stats.body.entities.user).toMatchObject({ live: 0, updates: 0 });
    expect(metric(await metricsText(base), 'hotpath_model_inference_count_total', 'model="fraud"')).toBe(1);
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('refuses an unknown profile, naming the flag and the profiles', async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--config', join(ROOT, 'hotpath.yaml'), '--profile', 'tiny', '--port', '0'], { cwd: ROOT });
    child = p;
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => p.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain("hotpath: HP_ERR_CONFIG_INVALID: --profile: unknown profile 'tiny' (profiles: default, edge)");
  }, 30_000);
});

const YAML = `
${STORE_YAML}
models:
  fraud:
    repository: fraud
    runtime: native
    inputs: ${FRAUD_INPUTS}
    batching: { max_batch: 64, max_queue_delay_us: 500, preferred_batch_sizes: [16, 32] }
    timeout: 5s
    fallback: { model: rules }
  rules:
    repository: rules
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
    fallback: { constant: 0.5 }
`;

describe('the edge profile on a server (loadConfig with { profile: "edge" }, as the CLI does)', () => {
  let repo: string;
  let edge: Server;
  let base: string;
  let other: Server | undefined;
  // The same events (the same times) for every server here, within the last five minutes.
  const t = Date.now();
  const events = Array.from({ length: 300 }, (_, i) => ({
    user_id: `u${i % 11}`, merchant_id: `m${i % 4}`, amount: 5 + ((i * 37) % 400), country: ['FR', 'DE', 'BR'][i % 3], ts: t - 300_000 + i * 1000,
  }));

  beforeAll(async () => {
    repo = makeRepo({ fraud: { 1: FRAUD_V1 }, rules: { 1: RULES_V1 } });
    const config = loadConfigText(YAML, { baseDir: repo, profile: 'edge' });
    edge = await startServer({ config, port: 0, host: '127.0.0.1', log: () => {} });
    base = `http://127.0.0.1:${edge.port}`;
    expect((await postJson(base, '/v1/events', events)).body).toEqual({ accepted: 300, late: 0 });
  });
  afterEach(async () => {
    await other?.close();
    other = undefined;
  });
  afterAll(async () => {
    await edge?.close();
    rmSync(repo, { recursive: true, force: true });
  });

  it('runs models on the main thread, behind one 64 KiB ring, with huge pages off', async () => {
    expect(edge.config.profile).toBe('edge');
    expect(edge.config.server).toMatchObject({ workers: 0, ringBytes: 64 * 1024, waitQueue: 1024 });
    expect(edge.config.storeSpec.tables.every((t) => t.hugePages === false)).toBe(true);
    expect(edge.pool.threads).toBe(0);
    expect(edge.pool.size).toBe(1);
    expect(edge.pool.maxBody).toBe(32 * 1024 - 4 - 32); // half the ring, less the record headers
    expect(metric(await metricsText(base), 'hotpath_inference_threads')).toBe(0);
  });

  it('scores exactly as a server with a worker thread does', async () => {
    other = await startServer({ config: loadConfigText(YAML, { baseDir: repo }), port: 0, host: '127.0.0.1', log: () => {} });
    const otherBase = `http://127.0.0.1:${other.port}`;
    expect(other.pool.threads).toBeGreaterThanOrEqual(1);
    expect((await postJson(otherBase, '/v1/events', events)).body).toEqual({ accepted: 300, late: 0 });
    for (let u = 0; u < 11; u++) {
      const body = { entities: { user: `u${u}`, merchant: `m${u % 4}` }, fields: { amount: 20 + u * 30 } };
      const [a, b] = await Promise.all([postJson(base, '/v1/predict/fraud', body), postJson(otherBase, '/v1/predict/fraud', body)]);
      expect(a.status).toBe(200);
      expect(a.body.fallback).toBe(false);
      expect(a.body.score).toBe(b.body.score);
    }
  });

  it('batches requests that arrive together, and answers each with its own score', async () => {
    const before = await metricsText(base);
    const bodies = Array.from({ length: 48 }, (_, i) => ({ entities: { user: `u${i % 11}`, merchant: `m${i % 4}` }, fields: { amount: 10 + i } }));
    const answers = await Promise.all(bodies.map((b) => postJson(base, '/v1/predict/fraud', b)));
    const alone = await Promise.all(bodies.slice(0, 4).map(async (b) => (await postJson(base, '/v1/predict/fraud', b)).body.score as number));
    expect(answers.every((a) => a.status === 200 && a.body.fallback === false)).toBe(true);
    expect(answers.slice(0, 4).map((a) => a.body.score)).toEqual(alone);
    const after = await metricsText(base);
    const rows = metric(after, 'hotpath_model_inference_count_total', 'model="fraud"') - metric(before, 'hotpath_model_inference_count_total', 'model="fraud"');
    const batches = metric(after, 'hotpath_model_execution_count_total', 'model="fraud"') - metric(before, 'hotpath_model_execution_count_total', 'model="fraud"');
    expect(rows).toBe(52);
    expect(batches).toBeLessThan(48); // 48 requests in flight at once: fewer batches than requests
  });

  it('answers a failing model and an injected crash with the fallback, and keeps serving', async () => {
    const slot = edge.models.get('fraud').current!.slot;
    edge.pool.fault({ type: 'fault', kind: 'fail', slot, count: 1 });
    const failed = await postJson(base, '/v1/predict/fraud', predictBody('u1'));
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ model: 'fraud', fallback: true, reason: 'error', variant: 'rules' });
    // A crash cannot end the main thread: the batch fails instead. It is armed in every
    // model (as a worker's next batch would end it, whichever model it runs), so the
    // fallback model fails too, and its constant answers.
    edge.pool.fault({ type: 'fault', kind: 'crash' });
    const crashed = await postJson(base, '/v1/predict/fraud', predictBody('u2'));
    expect(crashed.status).toBe(200);
    expect(crashed.body).toMatchObject({ model: 'fraud', fallback: true, reason: 'error', variant: 'constant', score: 0.5 });
    const fine = await postJson(base, '/v1/predict/fraud', predictBody('u3'));
    expect(fine.body).toMatchObject({ fallback: false, model: 'fraud', variant: 'primary' });
    expect(edge.pool.restarts).toBe(0);
  });

  it('reloads a model (unload and load on the main thread) and serves the new version', async () => {
    const before = edge.models.get('fraud').current!.slot;
    const r = await postJson(base, '/v2/repository/models/fraud/load', {});
    expect(r.status).toBe(200);
    expect(edge.models.get('fraud').current!.slot).not.toBe(before);
    const p = await postJson(base, '/v1/predict/fraud', predictBody('u4'));
    expect(p.body).toMatchObject({ fallback: false, model: 'fraud', version: '1' });
  });

  it('takes the config\'s own values over the profile\'s: a worker thread when server.workers says so', async () => {
    const config = loadConfigText(`server: { workers: 1, ring_bytes: 1MiB }\nstore: { huge_pages: true }\n${YAML}`, { baseDir: repo, profile: 'edge' });
    other = await startServer({ config, port: 0, host: '127.0.0.1', log: () => {} });
    expect(other.pool.threads).toBe(1);
    expect(other.config.server.ringBytes).toBe(1024 ** 2);
    expect(other.config.storeSpec.tables.every((t) => t.hugePages === true)).toBe(true);
    const otherBase = `http://127.0.0.1:${other.port}`;
    expect(metric(await metricsText(otherBase), 'hotpath_inference_threads')).toBe(1);
    const r = await postJson(otherBase, '/v1/predict/fraud', predictBody('u5'));
    expect(r.status).toBe(200);
  });
});

// Builds a model repository in a temporary directory and a config around it, for the
// inference integration tests: the demo fraud models and the ONNX fixtures, each as
// <repo>/<name>/<version>/model.onnx.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { type Server, startServer } from '../../src/server/app.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FRAUD_V1 = join(ROOT, 'models/fraud/1/model.onnx');
export const FRAUD_V2 = join(ROOT, 'models/fraud/2/model.onnx');
export const RULES_V1 = join(ROOT, 'models/fraud_rules/1/model.onnx');
export const fixtureModel = (name: string) => join(ROOT, 'test/fixtures/models', `${name}.onnx`);

export function makeRepo(models: Record<string, Record<number, string>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-models-'));
  for (const [name, versions] of Object.entries(models)) for (const [v, src] of Object.entries(versions)) addVersion(dir, name, Number(v), src);
  return dir;
}

export function addVersion(repo: string, name: string, version: number, src: string): void {
  mkdirSync(join(repo, name, String(version)), { recursive: true });
  copyFileSync(src, join(repo, name, String(version), 'model.onnx'));
}

export const FRAUD_INPUTS = `
      - { field: amount, transform: log1p }
      - { feature: user.txn_count_10m, transform: log1p }
      - { feature: user.txn_count_1h, transform: log1p }
      - { feature: user.amount_mean_1h, transform: log1p }
      - { feature: user.amount_max_1h, transform: log1p }
      - { feature: user.amount_std_1h, transform: log1p }
      - { feature: user.countries_24h }
      - { feature: merchant.txn_count_1m, transform: log1p }
      - { feature: merchant.amount_mean_1h, transform: log1p }
      - { feature: merchant.users_1h, transform: log1p }`;

export const STORE_YAML = `
streams:
  tx:
    keys: { user: user_id, merchant: merchant_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number, country: category, user_id: category }
entities:
  user:
    memory: 8MiB
    features:
      txn_count_10m:  { agg: count, window: 10m, tile: 1m }
      txn_count_1h:   { agg: count, window: 1h }
      amount_mean_1h: { agg: mean, field: amount, window: 1h }
      amount_max_1h:  { agg: max, field: amount, window: 1h }
      amount_std_1h:  { agg: stddev, field: amount, window: 1h }
      countries_24h:  { agg: distinct, field: country, window: 24h, tile: 1h }
  merchant:
    memory: 8MiB
    features:
      txn_count_1m:   { agg: count, window: 1m, tile: 5s }
      amount_mean_1h: { agg: mean, field: amount, window: 1h }
      users_1h:       { agg: distinct, field: user_id, window: 1h }
`;

/**
 * A config with the standard store and one model `name` reading the fraud inputs from
 * repository `name`, with a 5 s timeout; `extra` adds keys to the model (indented 4).
 */
export function oneModelYaml(name: string, extra = ''): string {
  return `
server: { workers: 1 }
${STORE_YAML}
models:
  ${name}:
    repository: ${name}
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
${extra ? `    ${extra}\n` : ''}`;
}

export async function startWith(repo: string, yaml: string): Promise<{ server: Server; base: string }> {
  const config = loadConfigText(yaml, { baseDir: repo });
  const server = await startServer({ config, port: 0, host: '127.0.0.1', log: () => {} });
  return { server, base: `http://127.0.0.1:${server.port}` };
}

/** The status, the body parsed as JSON (or the text when it is not JSON) and the headers. */
async function answer(r: Response) {
  const text = await r.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, body: json, headers: r.headers };
}

export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return answer(await fetch(base + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }));
}

export async function getJson(base: string, path: string) {
  const { status, body } = await answer(await fetch(base + path));
  return { status, body };
}

/** The value of one sample in Prometheus text, or 0 when absent. */
export function metric(text: string, name: string, labels = ''): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const key = line.slice(0, sp);
    if (key === (labels ? `${name}{${labels}}` : name)) return Number(line.slice(sp + 1));
  }
  return 0;
}

export function readModelBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

/** A predict body for the fraud inputs: ids of user and merchant m1, amount 10. */
export const predictBody = (user = 'u1') => ({ entities: { user, merchant: 'm1' }, fields: { amount: 10 } });

export const metricsText = async (base: string) => (await fetch(`${base}/metrics`)).text();

/** Resolves once what() is true; throws after ms. */
export async function until(what: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Expects a one-model config (the fraud inputs over STORE_YAML, plus `extra` lines under
 * model `m`) to be refused with HP_ERR_CONFIG_INVALID, naming `path`, for `why`.
 */
export function expectModelConfigRefused(repo: string, extra: string, path: string, why: RegExp): void {
  const yaml = `
${STORE_YAML}
models:
  m:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    ${extra}
`;
  expectConfigRefused(() => loadConfigText(yaml, { baseDir: repo }), path, why);
}

/** The refusal load() throws: HP_ERR_CONFIG_INVALID, with the path it names and its message (fails when load() accepts). */
export function configRefusal(load: () => unknown): { path: string; message: string } {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(HotpathError);
    const e = err as HotpathError;
    expect(e.code).toBe('HP_ERR_CONFIG_INVALID');
    return { path: (e.details as { path: string }).path, message: e.message };
  }
  throw new Error('accepted');
}

/** Expects load() to throw HP_ERR_CONFIG_INVALID naming `path`, for `why`. */
export function expectConfigRefused(load: () => unknown, path: string, why: RegExp): void {
  let caught: unknown;
  try {
    load();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(HotpathError);
  expect((caught as HotpathError).code).toBe('HP_ERR_CONFIG_INVALID');
  expect((caught as HotpathError).message).toContain(path);
  expect((caught as HotpathError).message).toMatch(why);
}

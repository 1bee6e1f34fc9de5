// The device a model runs on (`device: cpu | cuda | auto`): where this build or machine has
// no GPU, a model that asks for one is served on the CPU, with a log line and a count by
// reason in /metrics, and answers as it would on the CPU.
import { rmSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { backends } from '../../src/native/binding.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_V1, makeRepo, metric, metricsText, oneModelYaml, postJson, predictBody } from '../support/inference-server.js';

let server: Server | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(extra: string, lines: string[]): Promise<string> {
  const repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
  dirs.push(repo);
  server = await startServer({ config: loadConfigText(oneModelYaml('fraud', extra), { baseDir: repo }), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
  return `http://127.0.0.1:${server.port}`;
}

const cuda = backends().cuda;
const gpuHere = cuda.compiled && cuda.devices > 0;
const reason = cuda.compiled ? 'no_device' : 'not_built';

describe.skipIf(gpuHere)('a model that asks for the GPU where there is none', () => {
  it('device cuda: served on the CPU, the same scores, a log line and a counted fallback', async () => {
    const cpuLines: string[] = [];
    const cpuBase = await start('', cpuLines);
    const want = (await postJson(cpuBase, '/v1/predict/fraud', predictBody('u7'))).body.score as number;
    await server!.close();
    server = undefined;

    const lines: string[] = [];
    const base = await start('device: cuda', lines);
    const r = await postJson(base, '/v1/predict/fraud', predictBody('u7'));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.score).toBeCloseTo(want, 6);
    expect(lines.some((l) => /model fraud: device cuda asked for, but .*: running on the CPU/.test(l))).toBe(true);
    const text = await metricsText(base);
    expect(metric(text, 'hotpath_model_device_fallbacks_total', `model="fraud",reason="${reason}"`)).toBe(1);
    expect(metric(text, 'hotpath_model_device', 'model="fraud",device="cpu"')).toBe(1);
    // a reload counts again
    expect((await postJson(base, '/v2/repository/models/fraud/load', {})).status).toBe(200);
    expect(metric(await metricsText(base), 'hotpath_model_device_fallbacks_total', `model="fraud",reason="${reason}"`)).toBe(2);
  });

  it('device auto: the CPU, logged only when a CUDA build sees no device', async () => {
    const lines: string[] = [];
    const base = await start('device: auto', lines);
    expect((await postJson(base, '/v1/predict/fraud', predictBody())).status).toBe(200);
    expect(lines.some((l) => /device auto asked for/.test(l))).toBe(cuda.compiled);
    expect(metric(await metricsText(base), 'hotpath_model_device_fallbacks_total', `model="fraud",reason="${reason}"`)).toBe(1);
  });

  it('device cpu: no fallback to count', async () => {
    const base = await start('device: cpu', []);
    expect((await postJson(base, '/v1/predict/fraud', predictBody())).status).toBe(200);
    expect(await metricsText(base)).not.toMatch(/^hotpath_model_device_fallbacks_total\{/m);
  });
});

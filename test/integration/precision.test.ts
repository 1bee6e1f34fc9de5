// Where a model's precision cannot apply, it runs in fp32 and says so: int8 under runtime
// auto on a model only onnxruntime can run, fp16/bf16 under device auto without a GPU. The
// KServe metadata names the runtime, device and precision each version runs in, and the
// device fault (POST /v1/debug/fault) is refused for a model that is not on a GPU. The
// config refuses what can never apply, naming the field.
import { rmSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';
import { backends, constants, NativeModel } from '../../src/native/binding.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_INPUTS, FRAUD_V1, fixtureModel, expectModelConfigRefused, getJson, makeRepo, metric, postJson, predictBody, STORE_YAML } from '../support/inference-server.js';

const cuda = backends().cuda;
const gpuHere = cuda.compiled && cuda.devices > 0;

const YAML = `
server: { workers: 1, fault_injection: true }
${STORE_YAML}
models:
  fraud:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
  fraud_int8:
    repository: fraud
    precision: int8
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
  leaky_int8:
    repository: leaky
    precision: int8
    timeout: 5s
  fraud_fp16:
    repository: fraud
    device: auto
    precision: fp16
    cuda_graphs: false
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
`;

let server: Server;
let base: string;
let repo: string;
const lines: string[] = [];

beforeAll(async () => {
  repo = makeRepo({ fraud: { 1: FRAUD_V1 }, leaky: { 1: fixtureModel('unsupported_leakyrelu') } });
  server = await startServer({ config: loadConfigText(YAML, { baseDir: repo }), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await server?.close();
  rmSync(repo, { recursive: true, force: true });
});

const params = async (name: string) => (await getJson(base, `/v2/models/${name}`)).body.parameters;

describe('precision where it cannot apply', () => {
  it('int8 under runtime auto: int8 on the native runtime, fp32 on onnxruntime with a log line', async () => {
    expect(await params('fraud')).toEqual({ runtime: 'native', device: 'cpu', precision: 'fp32' });
    expect(await params('fraud_int8')).toEqual({ runtime: 'native', device: 'cpu', precision: 'int8' });
    expect(await params('leaky_int8')).toEqual({ runtime: 'onnx', device: 'cpu', precision: 'fp32' });
    expect(lines.some((l) => /model leaky_int8: precision int8 needs the native runtime.*running in fp32/.test(l))).toBe(true);
    const r = await postJson(base, '/v2/models/leaky_int8/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 5], data: [1, -2, 3, -4, 5] }] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // the int8 model answers a predict close to fp32
    const [f, q] = await Promise.all([postJson(base, '/v1/predict/fraud', predictBody('u3')), postJson(base, '/v1/predict/fraud_int8', predictBody('u3'))]);
    expect(q.status).toBe(200);
    expect(Math.abs(q.body.score - f.body.score)).toBeLessThan(0.08);
  });

  it.skipIf(gpuHere)('fp16 under device auto without a GPU: fp32 on the CPU, the same scores, logged and counted', async () => {
    expect(await params('fraud_fp16')).toEqual({ runtime: 'native', device: 'cpu', precision: 'fp32' });
    expect(lines.some((l) => /model fraud_fp16: precision fp16 is for the GPU.*running in fp32/.test(l))).toBe(true);
    const [f, h] = await Promise.all([postJson(base, '/v1/predict/fraud', predictBody('u5')), postJson(base, '/v1/predict/fraud_fp16', predictBody('u5'))]);
    expect(h.status).toBe(200);
    expect(h.body.score).toBe(f.body.score);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'hotpath_model_device_fallbacks_total', `model="fraud_fp16",reason="${cuda.compiled ? 'no_device' : 'not_built'}"`)).toBe(1);
  });

  it.skipIf(gpuHere)('the device fault is refused for a model on the CPU', async () => {
    const r = await postJson(base, '/v1/debug/fault', { fault: 'device', model: 'fraud_fp16' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('HP_ERR_QUERY_INVALID');
    expect(r.body.error.message).toMatch(/runs on the cpu, not on a GPU/);
  });
});

describe('precision and cuda_graphs in the config', () => {
  const model = (extra: string) => `
${STORE_YAML}
models:
  m:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    ${extra}
`;
  const rejects = (extra: string, path: string, why: RegExp) => expectModelConfigRefused(repo, extra, path, why);

  it('refuses fp16/bf16 off the GPU and cuda_graphs on the cpu device, naming the field', () => {
    rejects('precision: fp16', '/models/m/precision', /runs on the GPU only: set device: cuda or auto \(device is cpu\)/);
    rejects('precision: bf16\n    device: cpu', '/models/m/precision', /GPU only/);
    rejects('precision: bf16\n    device: cuda\n    runtime: onnx', '/models/m/precision', /native runtime only/);
    rejects('cuda_graphs: false', '/models/m/cuda_graphs', /device cuda or auto \(device is cpu\)/);
    rejects('cuda_graphs: 1\n    device: cuda', '/models/m/cuda_graphs', /./);
    const ok = loadConfigText(model('precision: bf16\n    device: cuda\n    cuda_graphs: false'), { baseDir: repo }).models[0];
    expect(ok).toMatchObject({ precision: 'bf16', device: 'cuda', cudaGraphs: false });
    expect(loadConfigText(model(''), { baseDir: repo }).models[0].cudaGraphs).toBe(true);
  });
});

describe('NativeModel and the device', () => {
  const layers = [{ kind: constants.layerKinds.dense, inDim: 2, outDim: 1, w: new Float32Array([1, -1]), b: null, act: 0 }];

  it('refuses fp16 and bf16 on the cpu device, and reports a cpu model as such', () => {
    expect(() => new NativeModel({ inDim: 2, maxBatch: 4, device: 'cpu', precision: 'fp16', layers })).toThrow(/fp16 and bf16 run on the cuda device only/);
    expect(() => new NativeModel({ inDim: 2, maxBatch: 4, device: 'cpu', precision: 'bf16', layers })).toThrow(/cuda device only/);
    const m = new NativeModel({ inDim: 2, maxBatch: 4, device: 'cpu', layers });
    expect(m.device).toBe('cpu');
    expect(m.deviceLost).toBeNull();
    expect(m.cuda).toBeNull();
    expect(m.injectDeviceFault()).toBe(false);
  });

  it.skipIf(gpuHere)('device cuda without a GPU is refused with the native code, in every precision', () => {
    for (const precision of ['fp32', 'fp16', 'bf16'] as const) {
      let caught: unknown;
      try {
        new NativeModel({ inDim: 2, maxBatch: 4, device: 'cuda', precision, layers });
      } catch (err) {
        caught = err;
      }
      expect((caught as HotpathError).code).toBe('HP_ERR_NATIVE_UNAVAILABLE');
      expect((caught as Error).message).toMatch(/device cuda requested but/);
    }
  });
});

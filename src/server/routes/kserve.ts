// KServe V2 / Open Inference Protocol: server and model metadata, health, readiness, and
// infer (JSON tensors or the binary tensor extension). What Triton and KServe clients send.
// Errors are `{"error": "<message>"}`, as the protocol words them.
import { HotpathError } from '../../errors.js';
import { nowMs } from '../../runtime/records.js';
import type { ModelEntry } from '../../runtime/registry.js';
import { type KsInferRequest, parseInferRequest } from '../kserve.js';
import { encodeInferResponse } from '../kserve-encode.js';
import { notReady } from './health.js';
import type { Route } from './route.js';
import type { ServerContext } from './context.js';

export const SERVER_VERSION = '0.1.0'; // package.json's version (a test compares)

function versionParam(e: ModelEntry, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = /^[1-9][0-9]*$/.test(v) ? Number(v) : NaN;
  if (!e.versions.has(n))
    throw new HotpathError('HP_ERR_MODEL_UNKNOWN', `model '${e.def.name}' has no loaded version ${JSON.stringify(v)}; loaded: ${[...e.versions.keys()].join(', ') || 'none'}`);
  return n;
}

function metadata(e: ModelEntry, version?: number): Record<string, unknown> {
  const v = version === undefined ? e.current : e.versions.get(version);
  if (!v) throw new HotpathError('HP_ERR_MODEL_NOT_READY', `model '${e.def.name}' has no version loaded${e.error ? `: ${e.error}` : ''}`);
  return {
    name: e.def.name,
    versions: [...e.versions.keys()].map(String),
    platform: v.runtime === 'native' ? 'hotpath_native' : 'onnxruntime_onnx',
    inputs: [{ name: v.input.name, datatype: 'FP32', shape: [-1, v.inDim] }],
    outputs: [{ name: v.output.name, datatype: 'FP32', shape: [-1, v.outDim] }],
    // Where and how this version runs: the device now (cpu after a lost GPU) and the arithmetic.
    parameters: { runtime: v.runtime, device: v.device, precision: v.precision },
  };
}

const modelMeta: Route['handle'] = (c, ctx) => {
  const e = ctx.models.get(c.params[0]);
  c.send(200, JSON.stringify(metadata(e, versionParam(e, c.params[1]))));
};

const modelReady: Route['handle'] = (c, ctx) => {
  const e = ctx.models.get(c.params[0]);
  const v = versionParam(e, c.params[1]);
  const ready = v === undefined ? ctx.models.ready(e) : e.versions.has(v) && ctx.models.ready(e);
  c.send(ready ? 200 : 400, JSON.stringify(ready ? { name: e.def.name, ready: true } : { error: `model '${e.def.name}' is not ready` }));
};

/** Checks the request against the model version it names; the rows and the matrix to run. */
function checkInfer(c: Parameters<Route['handle']>[0], ctx: ServerContext): { e: ModelEntry; version?: number; ks: KsInferRequest; rows: number; x: Float32Array; outputName: string } {
  const name = c.params[0];
  const e = ctx.models.get(name);
  const version = versionParam(e, c.params[1]);
  const target = version === undefined ? e.current : e.versions.get(version);
  if (!target) throw new HotpathError('HP_ERR_MODEL_NOT_READY', `model '${name}' is not ready`);
  const ks = parseInferRequest(c.body, c.headers[0]);
  if (ks.inputs.length !== 1)
    throw new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' takes one input, '${target.input.name}'; the request has ${ks.inputs.length}`);
  const t = ks.inputs[0];
  if (t.name !== target.input.name) throw new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' has no input '${t.name}'; its input is '${target.input.name}'`);
  if (t.datatype !== 'FP32') throw new HotpathError('HP_ERR_TENSOR_INVALID', `input '${t.name}': datatype ${t.datatype}, the model takes FP32`);
  const shapeOk = (t.shape.length === 2 && t.shape[1] === target.inDim) || (t.shape.length === 1 && t.shape[0] === target.inDim);
  if (!shapeOk) throw new HotpathError('HP_ERR_TENSOR_INVALID', `input '${t.name}': shape [${t.shape.join(',')}], the model takes [-1,${target.inDim}]`);
  const rows = t.shape.length === 2 ? t.shape[0] : 1;
  if (rows < 1) throw new HotpathError('HP_ERR_TENSOR_INVALID', `input '${t.name}': no rows`);
  if (rows > ctx.config.server.maxBatch) throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `input '${t.name}': ${rows} rows; at most ${ctx.config.server.maxBatch} (server.max_batch)`);
  if (ks.outputs) for (const o of ks.outputs) if (o.name !== target.output.name) throw new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' has no output '${o.name}'; its output is '${target.output.name}'`);
  // The output keeps the asked-for model's name, also when a fallback answers.
  return { e, version, ks, rows, x: t.data as Float32Array, outputName: target.output.name };
}

const infer: Route['handle'] = (c, ctx) => {
  c.subject = c.params[0];
  const t = c.trace;
  const p0 = t !== undefined ? nowMs() : 0;
  const { e, version, ks, rows, x, outputName } = checkInfer(c, ctx);
  if (t !== undefined) {
    t.model = e.def.name;
    t.stage('parse', p0);
  }
  ctx.predict.infer(e, version, x, rows, (err, r) => {
    if (err) return c.fail(err);
    c.result = r;
    try {
      const out = encodeInferResponse(
        {
          model_name: e.def.name,
          model_version: String(r!.version),
          ...(ks.id !== undefined ? { id: ks.id } : {}),
          ...(r!.fallback ? { parameters: { fallback: true, fallback_reason: r!.reason, variant: r!.variant } } : {}),
          outputs: [{ name: outputName, datatype: 'FP32', shape: [rows, r!.values.length / rows], data: r!.values }],
        },
        ks,
      );
      c.send(200, out.body, {
        contentType: out.contentType,
        headers: out.headerLength !== undefined ? [['inference-header-content-length', String(out.headerLength)]] : undefined,
      });
    } catch (e2) {
      c.fail(e2);
    }
  }, t);
};

const ks = { errors: 'kserve' } as const;
const INFER_HEADERS = ['inference-header-content-length'];

export const kserveRoutes: Route[] = [
  {
    ...ks, method: 'get', path: '/v2', scope: 'open', body: 'none', about: 'server metadata',
    handle: (c) => c.send(200, JSON.stringify({ name: 'hotpath', version: SERVER_VERSION, extensions: ['binary_tensor_data', 'model_repository'] })),
  },
  { ...ks, method: 'get', path: '/v2/health/live', scope: 'open', body: 'none', about: 'liveness', handle: (c) => c.send(200, '{"live":true}') },
  {
    // The protocol: 200 means ready, a 4xx means not.
    ...ks, method: 'get', path: '/v2/health/ready', scope: 'open', body: 'none', about: 'readiness, as /readyz',
    handle(c, ctx) {
      const why = notReady(ctx);
      c.send(why === null ? 200 : 400, JSON.stringify(why === null ? { ready: true } : { error: why }));
    },
  },
  { ...ks, method: 'get', path: '/v2/models/:model', scope: 'predict:{model}', body: 'none', about: 'model metadata', handle: modelMeta },
  { ...ks, method: 'get', path: '/v2/models/:model/versions/:version', scope: 'predict:{model}', body: 'none', about: 'model version metadata', handle: modelMeta },
  { ...ks, method: 'get', path: '/v2/models/:model/ready', scope: 'predict:{model}', body: 'none', about: 'model readiness', handle: modelReady },
  { ...ks, method: 'get', path: '/v2/models/:model/versions/:version/ready', scope: 'predict:{model}', body: 'none', about: 'model version readiness', handle: modelReady },
  { ...ks, method: 'post', path: '/v2/models/:model/infer', scope: 'predict:{model}', body: 'bytes', headers: INFER_HEADERS, stages: 'infer', about: 'run input tensors (JSON or binary)', handle: infer },
  { ...ks, method: 'post', path: '/v2/models/:model/versions/:version/infer', scope: 'predict:{model}', body: 'bytes', headers: INFER_HEADERS, stages: 'infer', about: 'run input tensors on a version', handle: infer },
];

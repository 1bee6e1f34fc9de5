// Routes that answer from models and from the store in the shapes other systems speak:
// REST predict, KServe V2 / Open Inference Protocol (what Triton and KServe clients send),
// and Feast's feature server `POST /get-online-features`.
import type uWS from 'uWebSockets.js';

import type { Config } from '../config/load.js';
import { HotpathError } from '../errors.js';
import type { InferenceService, InferResult } from '../runtime/inference.js';
import { nowMs } from '../runtime/records.js';
import { type ModelEntry, ModelRegistry } from '../runtime/registry.js';
import { checkId, type FeatureReader } from './features.js';
import { errorHeaders, jsonNumber, type Log, parseJsonBody, readBody, type Res, send, sendError, toAnswer } from './http.js';
import { encodeInferResponse, type KsInferRequest, parseInferRequest } from './kserve.js';
import type { Metrics } from './metrics.js';
import { parsePredict } from './predict-parse.js';

export const SERVER_VERSION = '0.1.0'; // package.json's version (a test compares)

/** The JSON a predict answers with (REST and WebSocket JSON frames). */
export function predictJson(r: InferResult, startMs: number): Record<string, unknown> {
  const scores = Array.from(r.values);
  return {
    model: r.model,
    version: String(r.version),
    score: scores.length ? scores[0] : null,
    scores,
    fallback: r.fallback,
    ...(r.fallback ? { reason: r.reason } : {}),
    variant: r.variant,
    latency_us: Math.round((nowMs() - startMs) * 1000),
  };
}

/** predictJson(r, start) as JSON text, written directly: the REST predict hot path. */
export function predictText(r: InferResult, startMs: number): string {
  let scores = '';
  for (let i = 0; i < r.values.length; i++) scores += (i ? ',' : '') + jsonNumber(r.values[i]);
  return (
    `{"model":${JSON.stringify(r.model)},"version":"${r.version}","score":${r.values.length ? jsonNumber(r.values[0]) : 'null'},"scores":[${scores}],` +
    `"fallback":${r.fallback},${r.fallback ? `"reason":"${r.reason}",` : ''}"variant":${JSON.stringify(r.variant)},` +
    `"latency_us":${Math.round((nowMs() - startMs) * 1000)}}`
  );
}

/** A KServe error: `{"error": "<message>"}` with the status of the hotpath code. */
function sendKsError(res: Res, err: unknown, log: Log, closeConnection = false): void {
  const e = toAnswer(err, log);
  send(res, e.status, JSON.stringify({ error: e.message }), { closeConnection, headers: errorHeaders(e.code) });
}

function versionParam(e: ModelEntry, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = /^[1-9][0-9]*$/.test(v) ? Number(v) : NaN;
  if (!e.versions.has(n))
    throw new HotpathError('HP_ERR_MODEL_UNKNOWN', `model '${e.def.name}' has no loaded version ${JSON.stringify(v)}; loaded: ${[...e.versions.keys()].join(', ') || 'none'}`);
  return n;
}

export function inferenceRoutes(app: uWS.TemplatedApp, config: Config, models: ModelRegistry, inference: InferenceService, reader: FeatureReader, metrics: Metrics, log: Log): void {
  const maxBody = config.server.maxBodyBytes;

  // ---- REST predict ----
  app.post('/v1/predict/:model', (res: Res, req) => {
    const start = nowMs();
    const name = req.getParameter(0) ?? '';
    readBody(res, maxBody, (body) => {
      try {
        const e = models.get(name);
        const parsed = parsePredict(e, parseJsonBody(body));
        inference.predict(e, parsed, (err, r) => (err ? sendError(res, err, log) : send(res, 200, predictText(r!, start))));
      } catch (err) {
        sendError(res, err, log);
      }
    }, log);
  });

  // ---- KServe V2 ----
  const metadata = (e: ModelEntry, version?: number): Record<string, unknown> => {
    const v = version === undefined ? e.current : e.versions.get(version);
    if (!v) throw new HotpathError('HP_ERR_MODEL_NOT_READY', `model '${e.def.name}' has no version loaded${e.error ? `: ${e.error}` : ''}`);
    return {
      name: e.def.name,
      versions: [...e.versions.keys()].map(String),
      platform: v.runtime === 'native' ? 'hotpath_native' : 'onnxruntime_onnx',
      inputs: [{ name: v.input.name, datatype: 'FP32', shape: [-1, v.inDim] }],
      outputs: [{ name: v.output.name, datatype: 'FP32', shape: [-1, v.outDim] }],
    };
  };

  app.get('/v2', (res: Res) => send(res, 200, JSON.stringify({ name: 'hotpath', version: SERVER_VERSION, extensions: ['binary_tensor_data', 'model_repository'] })));
  app.get('/v2/health/live', (res: Res) => send(res, 200, '{"live":true}'));
  app.get('/v2/health/ready', (res: Res) => {
    const ready = [...models.entries.values()].every((e) => models.ready(e));
    // The protocol: 200 means ready, a 4xx means not.
    send(res, ready ? 200 : 400, JSON.stringify(ready ? { ready: true } : { error: 'not every model is ready' }));
  });
  const modelMeta = (res: Res, req: uWS.HttpRequest): void => {
    try {
      const e = models.get(req.getParameter(0) ?? '');
      send(res, 200, JSON.stringify(metadata(e, versionParam(e, req.getParameter(1)))));
    } catch (err) {
      sendKsError(res, err, log);
    }
  };
  app.get('/v2/models/:model', modelMeta);
  app.get('/v2/models/:model/versions/:version', modelMeta);
  const modelReady = (res: Res, req: uWS.HttpRequest): void => {
    try {
      const e = models.get(req.getParameter(0) ?? '');
      const v = versionParam(e, req.getParameter(1));
      const ready = v === undefined ? models.ready(e) : e.versions.has(v) && models.ready(e);
      send(res, ready ? 200 : 400, JSON.stringify(ready ? { name: e.def.name, ready: true } : { error: `model '${e.def.name}' is not ready` }));
    } catch (err) {
      sendKsError(res, err, log);
    }
  };
  app.get('/v2/models/:model/ready', modelReady);
  app.get('/v2/models/:model/versions/:version/ready', modelReady);

  const infer = (res: Res, req: uWS.HttpRequest): void => {
    const name = req.getParameter(0) ?? '';
    const versionText = req.getParameter(1);
    const headerLength = req.getHeader('inference-header-content-length');
    readBody(res, maxBody, (body) => {
      let ks: KsInferRequest;
      let e: ModelEntry;
      let rows: number;
      let x: Float32Array;
      let version: number | undefined;
      let outputName: string; // the asked-for model's, also when a fallback answers
      try {
        e = models.get(name);
        version = versionParam(e, versionText);
        const target = version === undefined ? e.current : e.versions.get(version);
        if (!target) throw new HotpathError('HP_ERR_MODEL_NOT_READY', `model '${name}' is not ready`);
        outputName = target.output.name;
        ks = parseInferRequest(body, headerLength);
        if (ks.inputs.length !== 1)
          throw new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' takes one input, '${target.input.name}'; the request has ${ks.inputs.length}`);
        const t = ks.inputs[0];
        if (t.name !== target.input.name) throw new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' has no input '${t.name}'; its input is '${target.input.name}'`);
        if (t.datatype !== 'FP32') throw new HotpathError('HP_ERR_TENSOR_INVALID', `input '${t.name}': datatype ${t.datatype}, the model takes FP32`);
        const shapeOk = (t.shape.length === 2 && t.shape[1] === target.inDim) || (t.shape.length === 1 && t.shape[0] === target.inDim);
        if (!shapeOk) throw new HotpathError('HP_ERR_TENSOR_INVALID', `input '${t.name}': shape [${t.shape.join(',')}], the model takes [-1,${target.inDim}]`);
        rows = t.shape.length === 2 ? t.shape[0] : 1;
        if (rows < 1) throw new HotpathError('HP_ERR_TENSOR_INVALID', `input '${t.name}': no rows`);
        if (rows > config.server.maxBatch) throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `input '${t.name}': ${rows} rows; at most ${config.server.maxBatch} (server.max_batch)`);
        x = t.data as Float32Array;
        if (ks.outputs) for (const o of ks.outputs) if (o.name !== target.output.name) throw new HotpathError('HP_ERR_TENSOR_INVALID', `model '${name}' has no output '${o.name}'; its output is '${target.output.name}'`);
      } catch (err) {
        sendKsError(res, err, log);
        return;
      }
      inference.inferAsync(e, version, x, rows).then(
        (r) => {
          try {
            const out = encodeInferResponse(
              {
                model_name: e.def.name,
                model_version: String(r.version),
                ...(ks.id !== undefined ? { id: ks.id } : {}),
                ...(r.fallback ? { parameters: { fallback: true, fallback_reason: r.reason, variant: r.variant } } : {}),
                outputs: [{ name: outputName, datatype: 'FP32', shape: [rows, r.values.length / rows], data: r.values }],
              },
              ks,
            );
            send(res, 200, out.body, {
              contentType: out.contentType,
              headers: out.headerLength !== undefined ? [['inference-header-content-length', String(out.headerLength)]] : undefined,
            });
          } catch (err) {
            sendKsError(res, err, log);
          }
        },
        (err) => sendKsError(res, err, log),
      );
    }, log, (err) => sendKsError(res, err, log, true));
  };
  app.post('/v2/models/:model/infer', infer);
  app.post('/v2/models/:model/versions/:version/infer', infer);

  // Triton's model repository extension: list, and (re)load a model's newest version.
  app.post('/v2/repository/index', (res: Res) => {
    res.onAborted(() => (res.aborted = true));
    const list = [...models.entries.values()].flatMap((e) => {
      const all = ModelRegistry.versions(e.def);
      return all.length === 0
        ? [{ name: e.def.name, state: 'UNAVAILABLE', reason: e.error ?? 'no version in the repository' }]
        : all.map((v) => ({ name: e.def.name, version: String(v), state: e.versions.has(v) ? 'READY' : 'UNAVAILABLE', reason: e.versions.has(v) ? '' : 'not loaded' }));
    });
    send(res, 200, JSON.stringify(list));
  });
  app.post('/v2/repository/models/:model/load', (res: Res, req) => {
    const name = req.getParameter(0) ?? '';
    readBody(res, maxBody, (body) => {
      let version: number | undefined;
      try {
        const e = models.get(name);
        const text = body.toString('utf8').trim();
        if (text.length > 0) {
          const p = (parseJsonBody(body) as { parameters?: { version?: unknown } })?.parameters?.version;
          if (p !== undefined) {
            version = Number(p);
            if (!Number.isInteger(version) || version < 1) throw new HotpathError('HP_ERR_QUERY_INVALID', 'parameters.version must be a positive integer');
          }
        }
        void e;
      } catch (err) {
        sendKsError(res, err, log);
        return;
      }
      models.reload(name, version).then(
        () => send(res, 200, '{}'),
        (err) => sendKsError(res, err, log),
      );
    }, log, (err) => sendKsError(res, err, log, true));
  });

  // ---- Feast ----
  // POST /get-online-features {"features": ["user:txn_count_1h", ...], "entities": {"user_id": [..]},
  // "full_feature_names": bool}. A feature view is an entity; its join key is the entity's
  // name or the key field that carries its id in a stream (user_id for user).
  const joinKeys = new Map<string, number>();
  for (const ent of config.entities) joinKeys.set(ent.name, ent.index);
  for (const s of config.streams) s.keyFields.forEach((f, k) => joinKeys.has(f) || joinKeys.set(f, s.tables[k]));
  app.post('/get-online-features', (res: Res) => {
    readBody(res, maxBody, (body) => {
      try {
        const q = parseJsonBody(body) as { features?: unknown; entities?: unknown; full_feature_names?: unknown };
        if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new HotpathError('HP_ERR_QUERY_INVALID', 'body must be an object {"features": [...], "entities": {...}}');
        if (!Array.isArray(q.features) || q.features.length === 0 || q.features.some((f) => typeof f !== 'string'))
          throw new HotpathError('HP_ERR_QUERY_INVALID', '`features` must be a non-empty list of "view:feature" names');
        if (typeof q.entities !== 'object' || q.entities === null || Array.isArray(q.entities) || Object.keys(q.entities).length === 0)
          throw new HotpathError('HP_ERR_QUERY_INVALID', '`entities` must be an object of join key -> list of ids');
        const full = q.full_feature_names === true;
        const ents = q.entities as Record<string, unknown>;
        const keyCols: { key: string; table: number; ids: string[] }[] = [];
        let rows = -1;
        for (const [key, vals] of Object.entries(ents)) {
          const table = joinKeys.get(key);
          if (table === undefined) throw new HotpathError('HP_ERR_ENTITY_UNKNOWN', `unknown join key '${key}'; known: ${[...joinKeys.keys()].join(', ')}`);
          if (!Array.isArray(vals) || vals.length === 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `entities.${key} must be a non-empty list of ids`);
          if (rows >= 0 && vals.length !== rows) throw new HotpathError('HP_ERR_QUERY_INVALID', 'every entities list must have the same length');
          rows = vals.length;
          if (rows > config.server.maxBatch) throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `${rows} entity rows; at most ${config.server.maxBatch} (server.max_batch)`);
          keyCols.push({ key, table, ids: vals.map((v) => checkId(v)) });
        }
        const wanted = (q.features as string[]).map((ref) => {
          const m = /^([^:]+):(.+)$/.exec(ref);
          if (!m) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `'${ref}' is not a "view:feature" reference`);
          const t = config.entityIndex.get(m[1]);
          if (t === undefined) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `unknown feature view '${m[1]}'; views: ${config.entities.map((x) => x.name).join(', ')}`);
          const f = config.entities[t].featureIndex.get(m[2]);
          if (f === undefined) throw new HotpathError('HP_ERR_FEATURE_UNKNOWN', `feature view '${m[1]}' has no feature '${m[2]}'`);
          const col = keyCols.find((k) => k.table === t);
          if (!col) throw new HotpathError('HP_ERR_QUERY_INVALID', `'${ref}' needs ids for entity '${m[1]}' in entities`);
          return { ref, view: m[1], feature: m[2], table: t, index: f, col };
        });
        const now = Date.now();
        const names: string[] = keyCols.map((k) => k.key);
        const results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[] = keyCols.map((k) => ({
          values: ents[k.key] as unknown[],
          statuses: k.ids.map(() => 'PRESENT'),
          event_timestamps: k.ids.map(() => '1970-01-01T00:00:00Z'),
        }));
        // One batched read per entity table, then pick the requested columns.
        const reads = new Map<number, ReturnType<FeatureReader['read']>>();
        for (const w of wanted) {
          if (!reads.has(w.table)) {
            const ent = config.entities[w.table];
            const rs = reader.read(ent, w.col.ids, ent.features.map((_, i) => i), now);
            reads.set(w.table, rs);
            for (const r of rs) metrics.featureRead(ent.name, r.freshness_ms);
          }
        }
        for (const w of wanted) {
          const rs = reads.get(w.table)!;
          names.push(full ? `${w.view}__${w.feature}` : w.feature);
          results.push({
            values: rs.map((r) => r.features[w.feature] ?? null),
            statuses: rs.map((r) => (!r.found ? 'NOT_FOUND' : r.features[w.feature] === null ? 'NULL_VALUE' : 'PRESENT')),
            event_timestamps: rs.map((r) => new Date(r.found && r.freshness_ms !== null ? now - r.freshness_ms : 0).toISOString()),
          });
        }
        send(res, 200, JSON.stringify({ metadata: { feature_names: names }, results }));
      } catch (err) {
        sendError(res, err, log);
      }
    }, log);
  });
}

// Seeded mutation fuzzing of the TypeScript decoders of untrusted bytes, called directly
// (no server), many cases per second:
// - the KServe V2 request decoder (kserve.ts parseInferRequest), JSON and binary tensors:
//   it returns a request whose tensors match their shapes, or refuses with its codes; and
//   what it returns, encoded back as binary outputs (kserve-encode.ts), decodes to the
//   same bytes;
// - the ONNX reader (onnx-graph.ts readOnnx) on byte- and protobuf-structure-mutated
//   models, then the native-plan compiler (onnx-plan.ts) and the native dense model built
//   from the plan (the addon's Model::Create and Forward), checked against the plan's
//   TypeScript reference;
// - the /v1/ws binary frame decoder (ws-decode.ts).
// Coverage-less (libFuzzer cannot run TypeScript, and Jazzer.js does not load here; see
// docs/testing.md), so the iteration counts are fixed: FUZZ_CODEC_SCALE multiplies them,
// FUZZ_SEED replays a run.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { HotpathError } from '../../src/errors.js';
import { layerSpecs, NativeModel } from '../../src/native/binding.js';
import { OnnxMalformed, type OnnxGraph, readOnnx } from '../../src/runtime/onnx-graph.js';
import { planNative, runPlanReference } from '../../src/runtime/onnx-plan.js';
import { elementCount, type KsInferRequest, MAX_RANK, parseInferRequest } from '../../src/server/kserve.js';
import { encodeInferResponse } from '../../src/server/kserve-encode.js';
import { decodeClientFrame, decodeEventsHeader } from '../../src/server/ws-protocol.js';
import { ROOT } from '../support/inference-server.js';
import { mutateBytes, mutateJson, mutateJsonText, Rng, stringifyJson } from './mutate.js';
import { pbMutate, pbParse, pbWrite } from './protobuf.js';
import { HTTP_SEEDS, type SeedBody, WS_SEEDS } from './seeds.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SCALE = Number(process.env.FUZZ_CODEC_SCALE ?? 1);
const KSERVE_CASES = Math.round(40_000 * SCALE);
const ONNX_CASES = Math.round(6_000 * SCALE);
const WS_CASES = Math.round(40_000 * SCALE);

/** Counts by outcome, printed with the seed. */
function outcomes(): { add(k: string): void; text(): string; get(k: string): number } {
  const m = new Map<string, number>();
  return {
    add: (k) => m.set(k, (m.get(k) ?? 0) + 1),
    get: (k) => m.get(k) ?? 0,
    text: () => [...m].sort().map(([k, n]) => `${k}: ${n}`).join(', '),
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe(`KServe request decoder (seed ${SEED})`, () => {
  it(`${KSERVE_CASES} mutated requests: tensors that match their shapes, or a coded refusal; binary round trips`, () => {
    const rng = new Rng(SEED);
    const seeds = () => [...HTTP_SEEDS['POST /v2/models/:model/infer'].seeds(rng), ...HTTP_SEEDS['POST /v2/models/:model/versions/:version/infer'].seeds(rng)];
    const seen = outcomes();
    for (let k = 0; k < KSERVE_CASES; k++) {
      const body = rng.pick(seeds()).body as Extract<SeedBody, { kind: 'json' | 'kserve' }>;
      let header = body.kind === 'kserve' ? body.header : body.value;
      let tensors = body.kind === 'kserve' ? body.tensors : Buffer.alloc(0);
      if (rng.chance(0.7)) header = mutateJson(rng, header);
      const text = Buffer.from(rng.chance(0.2) ? mutateJsonText(rng, stringifyJson(header)) : stringifyJson(header));
      if (rng.chance(0.4)) tensors = mutateBytes(rng, tensors);
      let bytes: Buffer = Buffer.concat([text, tensors]);
      let length: string | undefined = body.kind === 'kserve' || rng.chance(0.2) ? String(text.length) : undefined;
      if (rng.chance(0.15)) length = String(rng.pick([0, 1, text.length - 1, text.length + 1, bytes.length, bytes.length + 1, 2 ** 53]));
      if (rng.chance(0.1)) bytes = mutateBytes(rng, bytes); // across the header and the tensors
      const replay = `seed ${SEED}, case ${k}: header length ${JSON.stringify(length)}, body (base64) ${hex(bytes)}`;
      let req: KsInferRequest;
      try {
        req = parseInferRequest(bytes, length);
      } catch (err) {
        if (!(err instanceof HotpathError) || !['HP_ERR_TENSOR_INVALID', 'HP_ERR_BAD_JSON'].includes(err.code)) throw new Error(`${replay}\n  threw ${(err as Error)?.stack ?? err}`);
        seen.add(err.code);
        continue;
      }
      seen.add('decoded');
      for (const t of req.inputs) {
        expect(t.shape.length, replay).toBeLessThanOrEqual(MAX_RANK);
        expect(t.data.length, replay).toBe(elementCount(t.shape));
      }
      if (req.inputs.length === 0) continue;
      // Encode what was decoded as binary outputs, decode that back: the same bytes.
      const res = { model_name: 'm', outputs: req.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data })) };
      const out = encodeInferResponse(res, { binaryOutputs: true });
      const head = JSON.parse(out.body.toString('utf8', 0, out.headerLength)) as { outputs: unknown[] };
      const again = Buffer.concat([Buffer.from(JSON.stringify({ inputs: head.outputs })), out.body.subarray(out.headerLength)]);
      const back = parseInferRequest(again, String(again.length - (out.body.length - out.headerLength!)));
      back.inputs.forEach((t, i) => {
        const a = req.inputs[i].data;
        const same = Array.isArray(a) ? JSON.stringify(a) === JSON.stringify(t.data) : Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from((t.data as typeof a).buffer, (t.data as typeof a).byteOffset, (t.data as typeof a).byteLength)) === 0;
        expect(same, `${replay}\n  input ${i} does not round trip`).toBe(true);
      });
      seen.add('round trips');
    }
    console.log(`kserve seed ${SEED}: ${KSERVE_CASES} cases; ${seen.text()}`);
    expect(seen.get('decoded')).toBeGreaterThan(KSERVE_CASES / 50);
  });
});

function modelFiles(): string[] {
  const fixtures = join(ROOT, 'test/fixtures/models');
  const shipped = ['models/fraud/1/model.onnx', 'models/fraud/2/model.onnx', 'models/fraud_rules/1/model.onnx'].map((p) => join(ROOT, p));
  return [...readdirSync(fixtures).filter((f) => f.endsWith('.onnx')).map((f) => join(fixtures, f)), ...shipped];
}

/** The plan's native model against its TypeScript reference, on one small batch. */
function runNative(rng: Rng, g: OnnxGraph, seen: ReturnType<typeof outcomes>, replay: string): void {
  const r = planNative(g);
  if ('unsupported' in r) return seen.add('unsupported');
  const { plan } = r;
  let model: NativeModel;
  try {
    model = new NativeModel({ inDim: plan.inDim, maxBatch: 4, device: 'cpu', layers: layerSpecs(plan) });
  } catch (err) {
    // The engine's own limits (a layer wider than 2^20, scratch over 2^26 values): a coded refusal.
    if (!(err instanceof HotpathError) || err.code !== 'HP_ERR_NATIVE_INVALID_ARG') throw new Error(`${replay}\n  NativeModel threw ${(err as Error)?.stack ?? err}`);
    return seen.add('plan refused by the engine');
  }
  const batch = 1 + rng.int(6);
  const x = Float32Array.from({ length: batch * plan.inDim }, () => rng.float() * 4 - 2);
  const y = new Float32Array(batch * plan.outDim);
  model.forward(x, batch, y);
  // A mutated weight can be huge (1e30): the sum of a unit's terms then cancels, and its
  // sign depends on the precision and order of the sum (the engine's float32 against the
  // reference's doubles), which a saturating activation turns into 0 against 1. Such a
  // plan ran (the engine's part of this test); its numbers are not compared.
  const huge = plan.layers.some((l) => l.kind === 'dense' && (l.w.some((v) => !(Math.abs(v) <= 1e4)) || (l.b?.some((v) => !(Math.abs(v) <= 1e4)) ?? false)));
  if (huge) return seen.add('ran natively, weights beyond 1e4: not compared');
  const ref = runPlanReference(plan, x, batch);
  for (let i = 0; i < y.length; i++) {
    const a = y[i];
    const b = ref[i];
    const close = (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a), Math.abs(b));
    // Weights mutated to huge values overflow in either order of summation: only finite
    // results near the reference are compared.
    if (!close && Number.isFinite(a) && Number.isFinite(b) && Math.abs(b) < 1e6) throw new Error(`${replay}\n  native ${a} vs reference ${b} at ${i}`);
  }
  seen.add('ran natively');
}

describe(`ONNX reader, plan compiler and native model (seed ${SEED})`, () => {
  it(`${ONNX_CASES} mutated models: a graph or OnnxMalformed, a plan or a reason, native output = the reference`, () => {
    const rng = new Rng(SEED ^ 0x2545f491);
    const files = modelFiles().map((p) => ({ p, bytes: new Uint8Array(readFileSync(p)) }));
    const seen = outcomes();
    let slowest = 0;
    for (let k = 0; k < ONNX_CASES; k++) {
      const { p, bytes: original } = rng.pick(files);
      let bytes: Uint8Array;
      let how: string;
      if (rng.chance(0.6)) {
        const tree = pbParse(original)!;
        const ops: string[] = [];
        for (let n = 1 + rng.int(3); n > 0; n--) ops.push(pbMutate(rng, tree));
        bytes = pbWrite(tree);
        how = `protobuf ${ops.join(', ')}`;
      } else {
        bytes = mutateBytes(rng, original, 8);
        how = 'bytes';
      }
      const replay = `seed ${SEED}, case ${k}: ${p.slice(ROOT.length)} (${how}), base64 ${hex(bytes)}`;
      const t0 = performance.now();
      let g: OnnxGraph;
      try {
        g = readOnnx(bytes);
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        if (!(err instanceof HotpathError) || err.code !== 'HP_ERR_MODEL_LOAD_FAILED' || !(cause instanceof OnnxMalformed))
          throw new Error(`${replay}\n  threw ${(err as Error)?.stack ?? err}\n  cause ${(cause as Error)?.stack ?? cause}`);
        seen.add('malformed');
        continue;
      }
      seen.add('read');
      runNative(rng, g, seen, replay);
      slowest = Math.max(slowest, performance.now() - t0);
    }
    console.log(`onnx seed ${SEED}: ${ONNX_CASES} cases; ${seen.text()}; slowest case ${slowest.toFixed(1)} ms`);
    expect(seen.get('ran natively')).toBeGreaterThan(ONNX_CASES / 50);
    expect(slowest).toBeLessThan(2000); // nothing close to a hang
  });
});

describe(`/v1/ws binary frame decoder (seed ${SEED})`, () => {
  it(`${WS_CASES} mutated frames: a frame consistent with its counts, or HP_ERR_WS_FRAME_INVALID`, () => {
    const rng = new Rng(SEED ^ 0x68e31da4);
    const seen = outcomes();
    for (let k = 0; k < WS_CASES; k++) {
      const kind = rng.pick(['binary predict', 'binary events']);
      const seed = WS_SEEDS[kind].seed(rng, k) as { binary: Uint8Array };
      const bytes = rng.chance(0.9) ? mutateBytes(rng, seed.binary) : seed.binary;
      const replay = `seed ${SEED}, case ${k}: ${kind}, base64 ${hex(bytes)}`;
      const refused = (err: unknown) => {
        if (!(err instanceof HotpathError) || err.code !== 'HP_ERR_WS_FRAME_INVALID') throw new Error(`${replay}\n  threw ${(err as Error)?.stack ?? err}`);
        seen.add('refused');
      };
      try {
        const f = decodeClientFrame(bytes);
        seen.add(f.op);
        if (f.op === 'events') {
          const h = decodeEventsHeader(bytes);
          expect([h.count, h.stream], replay).toEqual([f.events.length, f.stream]);
          for (const e of f.events) expect(Object.keys(e).length, replay).toBe(h.columns.length);
        }
      } catch (err) {
        refused(err);
      }
    }
    console.log(`ws seed ${SEED}: ${WS_CASES} cases; ${seen.text()}`);
    expect(seen.get('events') + seen.get('predict')).toBeGreaterThan(WS_CASES / 50);
  });
});

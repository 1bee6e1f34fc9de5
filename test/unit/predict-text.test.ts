// The REST predict answer is written as text directly (the hot path); it must say exactly
// what the object form (used on the WebSocket) says.
import { describe, expect, it } from 'vitest';

import type { InferResult } from '../../src/runtime/inference.js';
import { predictBytes, predictJson, predictText } from '../../src/server/predict.js';

const base: InferResult = {
  model: 'fraud', version: 2, values: Float32Array.from([0.25]), rows: 1, outDim: 1, fallback: false,
  variant: 'primary', queueUs: 1, batchWaitUs: 0.5, computeUs: 2, batch: 3, submittedAt: 0, collectedAt: 0,
};

describe('predictText', () => {
  it('matches predictJson for plain, fallback, multi-output and odd values', () => {
    const cases: InferResult[] = [
      base,
      { ...base, fallback: true, reason: 'deadline', variant: 'constant' },
      { ...base, values: Float32Array.from([0.1, 1e-30, -3.5, NaN, Infinity]), outDim: 5 },
      { ...base, model: 'we"ird\\name', variant: 'fall"back' },
      { ...base, values: new Float32Array(0), outDim: 0 },
      { ...base, version: 3 }, // a new version of a model whose answer text was cached
      base,
      { ...base, model: 'q"uoted' },
    ];
    for (const r of cases) {
      const t = 1000;
      const text = JSON.parse(predictText(r, t));
      const obj = JSON.parse(JSON.stringify(predictJson(r, t)));
      delete text.latency_us;
      delete obj.latency_us;
      expect(text).toEqual(obj);
      expect(text.version).toBe(String(r.version));
    }
  });
});

describe('predictBytes', () => {
  it('says byte for byte what predictText says', () => {
    const cases: InferResult[] = [
      base,
      { ...base, values: Float32Array.from([0.1, 1e-30, -3.5, NaN, Infinity]), outDim: 5 },
      { ...base, model: 'we"ird\\name' },
      { ...base, model: 'mod\u00e8le\u4e2d' },
      { ...base, version: 3 },
      base,
      { ...base, fallback: true, reason: 'deadline', variant: 'constant' },
      { ...base, predictionId: 17 },
      { ...base, values: new Float32Array(0), outDim: 0 },
      { ...base, values: new Float32Array(200).fill(1 / 3), outDim: 200 },
      // names that leave the shared 4 KiB buffer only just enough room, or not enough, with
      // the longest number texts (and, at start -1e12, a 16-digit latency)
      ...[3900, 3950, 3990, 4100].map((n) => ({ ...base, model: 'm'.repeat(n), values: Float32Array.from([-1.0000001e-7]) })),
      { ...base, model: 'm'.repeat(3000), values: new Float32Array(30).fill(-1.0000001e-7), outDim: 30 },
    ];
    const noLatency = (s: string): string => s.replace(/"latency_us":\d+\}$/, '"latency_us":0}');
    for (const start of [0, 1e9, -1e6, -1e12]) {
      for (const r of cases) {
        const b = predictBytes(r, start);
        const bytes = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
        const text = predictText(r, start);
        expect(noLatency(bytes.toString('utf8'))).toBe(noLatency(text));
        expect(bytes.equals(Buffer.from(bytes.toString('utf8')))).toBe(true);
      }
    }
  });
});

// Stages.answered: the split of a request's time by its route class, what goes to the
// histograms (successful answers) and to the slowest-requests list (every answer).
import client from 'prom-client';
import { describe, expect, it } from 'vitest';

import type { InferResult } from '../../src/runtime/inference.js';
import { routeClassIndex, type StageMarks, Stages } from '../../src/server/stages.js';

const T = 1_796_601_600_000;
const marks = (o: Partial<StageMarks> & { start: number }): StageMarks => ({ mark1: 0, mark2: 0, result: undefined, subject: '', ...o });
const result = (o: Partial<InferResult>): InferResult => ({
  model: 'fraud', version: 1, values: new Float32Array(1), rows: 1, outDim: 1, fallback: false, variant: 'primary',
  queueUs: 0, batchWaitUs: 0, computeUs: 0, batch: 1, submittedAt: 0, collectedAt: 0, ...o,
});

async function samples(reg: client.Registry, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await reg.metrics()).split('\n')) if (line.startsWith(name)) out.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
  return out;
}

describe('Stages', () => {
  it('splits a predict by its result\'s times, and a read by its marks; the split sums to the total', async () => {
    const s = new Stages();
    const reg = new client.Registry();
    s.register(reg);
    // predict: arrival T, submitted T+0.2, queue 1.5 ms of which 0.5 batch wait, run 3 ms, collected T+4.9, answered T+5
    s.answered(routeClassIndex('predict'), marks({ start: T, subject: 'fraud', result: result({ submittedAt: T + 0.2, queueUs: 1500, batchWaitUs: 500, computeUs: 3000, collectedAt: T + 4.9 }) }), 200, T + 5);
    // a read: parse 0.1, store 0.3, answer 0.05
    s.answered(routeClassIndex('features'), marks({ start: T + 10, mark1: T + 10.1, mark2: T + 10.4, subject: 'user' }), 200, T + 10.45);
    const list = s.slowest(10, T + 100).requests;
    expect(list).toEqual([
      { route: 'predict', model: 'fraud', status: 200, at: T, total_ms: 5, stages: { parse_ms: 0.2, queue_ms: 1, batch_wait_ms: 0.5, run_ms: 3, answer_ms: 0.1 } },
      { route: 'features', entity: 'user', status: 200, at: T + 10, total_ms: 0.45, stages: { parse_ms: 0.1, store_ms: 0.3, answer_ms: 0.05 } },
    ]);
    const m = await samples(reg, 'hotpath_');
    expect(m.get('hotpath_stage_duration_seconds_count{route="predict",stage="run"}')).toBe(1);
    expect(m.get('hotpath_stage_duration_seconds_sum{route="predict",stage="run"}')).toBeCloseTo(0.003, 9);
    expect(m.get('hotpath_stage_duration_seconds_bucket{route="predict",stage="run",le="0.003"}')).toBe(1);
    expect(m.get('hotpath_stage_duration_seconds_bucket{route="predict",stage="run",le="0.002"}')).toBe(0);
    expect(m.get('hotpath_stage_duration_seconds_count{route="features",stage="store"}')).toBe(1);
    expect(m.get('hotpath_request_duration_seconds_count{route="features"}')).toBe(1);
  });

  it('counts an error in the total and the list (no split), never in the stages', async () => {
    const s = new Stages();
    const reg = new client.Registry();
    s.register(reg);
    const features = routeClassIndex('features');
    s.answered(features, marks({ start: T, subject: 'user' }), 404, T + 2); // failed before the read
    s.answered(features, marks({ start: T, mark1: T + 1, mark2: T + 2 }), 500, T + 3); // failed after it
    const list = s.slowest(10, T + 10).requests;
    expect(list.map((r) => [r.status, r.stages === null])).toEqual([[500, false], [404, true]]);
    const m = await samples(reg, 'hotpath_');
    expect(m.get('hotpath_request_duration_seconds_count{route="features"}')).toBe(2);
    expect(m.get('hotpath_stage_duration_seconds_count{route="features",stage="parse"}')).toBe(0);
  });
});

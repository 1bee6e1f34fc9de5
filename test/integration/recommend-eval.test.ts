// `hotpath eval --generate-sessions` and `hotpath eval --recommender` as a user runs them:
// a small generated dataset with its planted embedding, then Recall@20 and MRR@20 of
// co-visitation, the embedding and popularity on it (the planted ranking), and the errors.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'hotpath-reco-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', cli, 'eval', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('hotpath eval --recommender', () => {
  it('generates a seeded dataset and ranks co-visitation above the embedding and popularity on it', async () => {
    const csv = join(dir, 'sessions.csv');
    const g = await run(['--generate-sessions', csv, '--seed', '5', '--gen-sessions', '5000', '--gen-items', '2000']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/5000 sessions over 2000 items/);
    expect(readFileSync(join(dir, 'sessions.ids.txt'), 'utf8').split('\n')[0]).toBe('i0');
    const config = readFileSync(join(root, 'bench/eval/recommend.yaml'), 'utf8').replace('file: data/sessions.npy, ids: data/sessions.ids.txt', `file: ${join(dir, 'sessions.npy')}, ids: ${join(dir, 'sessions.ids.txt')}`);
    writeFileSync(join(dir, 'eval.yaml'), config);
    const r = await run(['--config', join(dir, 'eval.yaml'), '--recommender', 'sessions', '--sessions', csv, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { test: number; methods: Record<string, { recall: number; mrr: number; predictions: number }> };
    expect(out.test).toBeGreaterThan(1000);
    const { covisit, embedding, popularity } = out.methods;
    expect(covisit.recall).toBeGreaterThan(0.6);
    expect(covisit.recall).toBeGreaterThan(embedding.recall + 0.2);
    expect(covisit.recall).toBeGreaterThan(popularity.recall + 0.2);
    expect(covisit.mrr).toBeGreaterThan(Math.max(embedding.mrr, popularity.mrr));
    // the same seed gives the same dataset and the same figures
    const again = await run(['--config', join(dir, 'eval.yaml'), '--recommender', 'sessions', '--sessions', csv, '--json', '--frozen']);
    const frozen = JSON.parse(again.stdout) as typeof out;
    expect(frozen.methods.popularity).toMatchObject({ recall: popularity.recall, mrr: popularity.mrr });
    expect(frozen.methods.covisit.recall).toBeLessThanOrEqual(covisit.recall + 0.02);
  });

  it('names what is wrong: an unknown recommender, a missing column', async () => {
    const bad = await run(['--config', 'bench/eval/recommend.yaml', '--recommender', 'nope', '--sessions', 'test/fixtures/sessions-small.csv']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/no recommender 'nope'.*sessions/);
    writeFileSync(join(dir, 'bad.csv'), 'session,ts,item\ns1,1,a\n');
    const cols = await run(['--config', 'bench/eval/recommend.yaml', '--recommender', 'sessions', '--sessions', join(dir, 'bad.csv')]);
    expect(cols.code).not.toBe(0);
    expect(cols.stderr).toMatch(/no 'session_id' column/);
  });
});

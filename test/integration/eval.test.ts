// `hotpath eval` as a user runs it: progressive validation of the config's learners over the
// phishing CSV (River's published figures), a detector over a CSV, and NAB scoring of a
// detector on a two-file corpus.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'src/cli/main.ts');

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

const PHISHING = ['--config', 'bench/eval/phishing.yaml', '--csv', 'test/fixtures/phishing.csv', '--json'];

describe('hotpath eval', () => {
  it("reproduces River's progressive validation on phishing through the server's learner", async () => {
    const want: Record<string, number> = { sgd_005: 0.8872, sgd_001: 0.8928 };
    for (const [model, accuracy] of Object.entries(want)) {
      const r = await run([...PHISHING, '--model', model]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { rows: number; accuracy: number; rocAuc: number };
      expect(out.rows).toBe(1250);
      expect(Math.abs(out.accuracy - accuracy)).toBeLessThanOrEqual(0.002);
    }
    const ftrl = JSON.parse((await run([...PHISHING, '--model', 'ftrl'])).stdout) as { accuracy: number };
    expect(ftrl.accuracy).toBeGreaterThan(0.88);
  });

  it('names what is wrong: an unknown model, a missing column', async () => {
    let r = await run([...PHISHING, '--model', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no model 'nope' with a learner");
    r = await run(['--config', 'bench/eval/phishing.yaml', '--csv', 'test/fixtures/nab/data/realTraffic/speed_7578.csv', '--model', 'sgd_005']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no column for input 'empty_server_form_handler'");
  });

  it('scores a detector on a NAB corpus with the three profiles', async () => {
    const r = await run(['--config', 'bench/eval/nab.yaml', '--detector', 'nab', '--nab', 'test/fixtures/nab', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { nab: Record<string, { score: number }> };
    // two files of the corpus (the full one: docs/nab.md); deterministic
    expect(out.nab.standard.score).toBeCloseTo(72.17, 1);
    expect(out.nab.reward_low_FP_rate.score).toBeCloseTo(68.87, 1);
    expect(out.nab.reward_low_FN_rate.score).toBeCloseTo(74.78, 1);
  });

  it('runs a detector over a CSV and lists the most anomalous rows', async () => {
    const r = await run(['--config', 'bench/eval/nab.yaml', '--detector', 'robust_z', '--csv', 'test/fixtures/nab/data/realTraffic/speed_7578.csv', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: number; top: { row: number; score: number }[] };
    expect(out.rows).toBeGreaterThan(1000);
    expect(out.top).toHaveLength(10);
    expect(out.top[0].score).toBeGreaterThan(3);
  });
});

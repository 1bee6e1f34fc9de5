// `hotpath serve` as a user runs it: a bad config is refused with the path of the bad
// field; a good one serves until SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'src/cli/main.ts');

function run(args: string[], env: Record<string, string> = {}, until?: RegExp) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
      if (until?.test(stdout)) p.kill('SIGTERM');
    });
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('hotpath serve', () => {
  it('refuses a bad config, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-cli-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'streams:\n  s:\n    keys: { e: id }\nentities:\n  e:\n    features:\n      c: { agg: count, windw: 1h }\n');
    const r = await run(['serve', '--config', bad, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('HP_ERR_CONFIG_INVALID');
    expect(r.stderr).toContain('/entities/e/features/c');
    expect(r.stderr).toContain("unknown key 'windw'");
  });

  it('refuses a missing config file and a bad port', async () => {
    const missing = await run(['serve', '--config', '/nonexistent/hotpath.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read /nonexistent/hotpath.yaml');
    const port = await run(['serve', '--port', 'eighty']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port');
  });

  it('serves the shipped config with the demo on HOTPATH_PORT=0 and stops on SIGTERM', async () => {
    const r = await run(['serve', '--demo', '--host', '127.0.0.1'], { HOTPATH_PORT: '0' }, /entities: /);
    expect(r.stdout).toMatch(/hotpath listening on http:\/\/127\.0\.0\.1:\d+ \(backends: cpu, cuda: /);
    expect(r.stdout).toContain('user [txn_count_10m');
    expect(r.code).toBe(0);
  });
});

describe('hotpath routes', () => {
  it('prints the route table with the config\'s body limit', async () => {
    const r = await run(['routes', '--config', join(root, 'test/fixtures/server.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/POST\s+\/v1\/predict\/:model\s+predict:\{model\}\s+65536 B/);
    expect(r.stdout).toMatch(/POST\s+\/v2\/repository\/models\/:model\/load\s+admin/);
  });
});

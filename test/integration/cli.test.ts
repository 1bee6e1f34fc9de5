// `hotpath serve` as a user runs it: a bad config is refused with the path of the bad
// field; a good one serves until SIGTERM.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
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

describe('hotpath serve --data-dir', () => {
  const cfg = 'server: { drain_timeout: 20s }\nstreams:\n  s:\n    keys: { e: id }\nentities:\n  e:\n    features:\n      c: { agg: count, window: 1h }\n';

  /** Starts the CLI and resolves with it once it listens, and its port. */
  function serve(args: string[]) {
    const p = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    const port = new Promise<number>((resolve) => p.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) resolve(Number(m[1]));
    }));
    return { p, port, exit, stderr: () => stderr };
  }

  it('stops on SIGTERM after a last snapshot (exit 0), and starts again from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-cli-'));
    writeFileSync(join(dir, 'c.yaml'), cfg);
    const a = serve(['--config', join(dir, 'c.yaml'), '--data-dir', join(dir, 'data')]);
    const base = `http://127.0.0.1:${await a.port}`;
    expect((await fetch(`${base}/v1/events`, { method: 'POST', body: '[{"id":"x"},{"id":"x"},{"id":"y"}]' })).status).toBe(200);
    a.p.kill('SIGTERM');
    expect(await a.exit).toBe(0);
    expect(a.stderr()).toMatch(/hotpath: SIGTERM: draining .*\n.*hotpath: stopped \(drained in \d+ ms, snapshot at record 1\)/s);
    const b = serve(['--config', join(dir, 'c.yaml'), '--data-dir', join(dir, 'data')]);
    const again = `http://127.0.0.1:${await b.port}`;
    expect(((await (await fetch(`${again}/v1/features/e/x`)).json()) as { features: { c: number } }).features.c).toBe(2);
    expect(b.stderr()).toMatch(/restored snapshot .*snap-00000000000000000001 \(record 1\)/);
    b.p.kill('SIGINT');
    expect(await b.exit).toBe(0);
  });

  it('exits at once on a second signal while it drains', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-cli-'));
    writeFileSync(join(dir, 'c.yaml'), cfg);
    const a = serve(['--config', join(dir, 'c.yaml'), '--data-dir', join(dir, 'data')]);
    const port = await a.port;
    // A request whose body never ends keeps the drain waiting (up to drain_timeout, 20 s).
    const sock = connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n[{"id":');
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    a.p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    a.p.kill('SIGTERM');
    expect(await a.exit).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(a.stderr()).toContain('SIGTERM again: exiting now');
    sock.destroy();
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

// The single executable (npm run build:sea, docs/sea.md): built here, then run from a
// temporary directory, far from the repository, with its own cache directory: serve with
// the demo fraud model (native runtime) and the same model on onnxruntime (so both
// uWebSockets.js, the addon, onnxruntime and the worker bundle load from the extracted
// assets), a predict on each, and `routes`; at start it removes an old build's cache
// directory nobody uses and keeps one a live process has registered in.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const root = fileURLToPath(new URL('../..', import.meta.url));
const exe = join(root, 'dist', 'hotpath');

/** Why this platform cannot build a single executable, or null when it can. */
function cannotBuild(): string | null {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 12)) return `Node ${process.versions.node} (single executables with assets need >= 20.12)`;
  if (process.platform !== 'linux') return `platform ${process.platform} (scripts/build-sea.mjs makes Linux executables)`;
  if (!readFileSync(process.execPath).includes('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2')) return `${process.execPath} was built without single-executable support`;
  return null;
}
const why = cannotBuild();
if (why) console.warn(`sea.test: skipped: this platform cannot build a single executable: ${why}`);

describe.skipIf(why !== null)('single executable (dist/hotpath)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-sea-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOTPATH_CACHE_DIR: join(dir, 'cache') };
  delete env.HOTPATH_ADDON;
  let server: ReturnType<typeof spawn> | undefined;

  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build-sea.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    cpSync(join(root, 'models', 'fraud'), join(dir, 'models', 'fraud'), { recursive: true });
    const config = parse(readFileSync(join(root, 'hotpath.yaml'), 'utf8')) as Record<string, any>;
    delete config.demo;
    config.server = { host: '127.0.0.1', port: 0, workers: 1 };
    const fraud = config.models.fraud;
    delete fraud.fallback;
    delete fraud.circuit_breaker;
    config.models = { fraud: { ...fraud, runtime: 'native' }, fraud_onnx: { ...fraud, runtime: 'onnx' } };
    writeFileSync(join(dir, 'hotpath.yaml'), stringify(config));
  }, 600_000);

  afterAll(() => {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves predicts from a temporary directory, with the native runtime and onnxruntime', async () => {
    // Two earlier builds' directories, two days old: one nobody uses, one this test process
    // has registered in (a build running beside the new one).
    const old = join(dir, 'cache', 'a'.repeat(32));
    const used = join(dir, 'cache', 'b'.repeat(32));
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
    for (const d of [old, used]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'hotpath.node'), 'old build');
    }
    mkdirSync(join(used, '.in-use'));
    writeFileSync(join(used, '.in-use', String(process.pid)), '');
    for (const p of [old, used, join(used, '.in-use'), join(used, '.in-use', String(process.pid))]) utimesSync(p, twoDaysAgo, twoDaysAgo);
    server = spawn(exe, ['serve', '--config', 'hotpath.yaml', '--port', '0'], { cwd: dir, env });
    let stdout = '';
    let stderr = '';
    server.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => server!.on('exit', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      server!.stdout!.on('data', (d) => {
        stdout += d;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      server!.on('exit', (code) => reject(new Error(`dist/hotpath serve exited (${code}): ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    // The dashboard's page and uPlot come from the executable's assets (no node_modules here).
    for (const [path, needle] of [['/dashboard', '/dashboard/uPlot.iife.min.js'], ['/dashboard/uPlot.iife.min.js', 'uPlot'], ['/dashboard/dashboard.js', '/dashboard/ws']]) {
      const r = await fetch(base + path);
      expect(r.status, path).toBe(200);
      expect(await r.text()).toContain(needle);
    }
    for (;;) {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const body = JSON.stringify({ entities: { user: 'u-42', merchant: 'm-7' }, fields: { amount: 250 } });
    const post = async (model: string) => {
      const r = await fetch(`${base}/v1/predict/${model}`, { method: 'POST', body });
      expect(r.status, await r.clone().text()).toBe(200);
      return (await r.json()) as { model: string; score: number; fallback: boolean; variant: string; version: string };
    };
    const native = await post('fraud');
    const onnx = await post('fraud_onnx');
    expect(native).toMatchObject({ model: 'fraud', fallback: false, variant: 'primary', version: '2' });
    expect(onnx).toMatchObject({ model: 'fraud_onnx', fallback: false, variant: 'primary', version: '2' });
    expect(native.score).toBeGreaterThan(0);
    expect(native.score).toBeLessThan(1);
    expect(onnx.score).toBeCloseTo(native.score, 5);
    // The native files were written to the cache directory, one folder keyed by their hash,
    // where the server registered itself; the unused old build is gone, the used one kept.
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(used, 'hotpath.node'))).toBe(true);
    const [key] = readdirSync(join(dir, 'cache')).filter((k) => k !== 'b'.repeat(32));
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(readdirSync(join(dir, 'cache', key)).sort()).toEqual([
      '.in-use', 'dashboard-dashboard.css', 'dashboard-dashboard.js', 'dashboard-index.html', 'dashboard-uPlot.iife.min.js', 'dashboard-uPlot.min.css',
      'hotpath.node', 'libonnxruntime.so.1', 'onnxruntime_binding.node', 'uws.node', 'worker.cjs',
    ]);
    expect(readdirSync(join(dir, 'cache', key, '.in-use'))).toEqual([String(server.pid)]);
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(readdirSync(join(dir, 'cache', key, '.in-use'))).toEqual([]); // unregistered at exit
    // no process warning (a run-time require of a package the executable cannot load makes one)
    expect(stderr).not.toMatch(/Warning/);
  }, 120_000);

  it('refuses a bad config and a bad keys file with the validators compiled into it', () => {
    writeFileSync(join(dir, 'bad.yaml'), 'streams:\n  s:\n    keys: { e: id }\nentities:\n  e:\n    features:\n      c: { agg: count, windw: 1h }\n');
    writeFileSync(join(dir, 'keys.yaml'), '- { name: x, sha256: nothex, scopes: [admin] }\n');
    writeFileSync(join(dir, 'auth.yaml'), 'auth:\n  keys_file: keys.yaml\nstreams:\n  s:\n    keys: { e: id }\nentities:\n  e:\n    features:\n      c: { agg: count, window: 1h }\n');
    const run = (config: string) => spawnSync(exe, ['serve', '--config', config, '--port', '0'], { cwd: dir, env, encoding: 'utf8' });
    const bad = run('bad.yaml');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("HP_ERR_CONFIG_INVALID: bad.yaml: /entities/e/features/c: unknown key 'windw'");
    const keys = run('auth.yaml');
    expect(keys.status).toBe(2);
    expect(keys.stderr).toContain('/auth/keys_file: ');
    expect(keys.stderr).toContain('keys.yaml: /0/sha256: must match pattern "^[0-9a-fA-F]{64}$"');
  });

  it('prints the routes', () => {
    const out = execFileSync(exe, ['routes', '--config', 'hotpath.yaml'], { cwd: dir, env, encoding: 'utf8' });
    expect(out).toMatch(/POST\s+\/v1\/predict\/:model\s+predict:\{model\}/);
    expect(out).toContain('/readyz');
  });
});

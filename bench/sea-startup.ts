// Time to ready of the single executable (npm run build:sea first): from spawning
// `dist/hotpath serve` to the first 200 from /readyz (polled every 2 ms), without models
// and with the demo models (fraud, fraud_rules), with the cache directory empty (the first
// run writes the native files) and filled. The same for `node dist/cli/main.js` (npm run
// build) as the baseline. Prints a markdown table.
//
//   npx tsx bench/sea-startup.ts [--runs 10]
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parse, stringify } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);

const dir = mkdtempSync(join(tmpdir(), 'hotpath-sea-bench-'));
cpSync(join(root, 'models'), join(dir, 'models'), { recursive: true });
const demo = parse(readFileSync(join(root, 'hotpath.yaml'), 'utf8')) as Record<string, unknown>;
delete demo.demo;
writeFileSync(join(dir, 'models.yaml'), stringify(demo));
const bare = { ...demo };
delete bare.models;
writeFileSync(join(dir, 'bare.yaml'), stringify(bare));

/** ms from spawn to the first 200 of /readyz. */
async function timeToReady(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const p = spawn(cmd, [...args, '--host', '127.0.0.1', '--port', '0'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    p.on('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${err}`)));
  });
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
    if (r?.status === 200) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - t0;
  const exited = new Promise((r) => p.on('exit', r));
  p.kill('SIGKILL');
  await exited;
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const exe = join(root, 'dist', 'hotpath');
const rows: string[] = [];
for (const config of ['bare.yaml', 'models.yaml']) {
  const cache = join(dir, 'cache');
  rmSync(cache, { recursive: true, force: true });
  const env = { ...process.env, HOTPATH_CACHE_DIR: cache };
  const cold = await timeToReady(exe, ['serve', '--config', config], env);
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) warm.push(await timeToReady(exe, ['serve', '--config', config], env));
  const node: number[] = [];
  for (let i = 0; i < runs; i++) node.push(await timeToReady(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'serve', '--config', config], process.env));
  const what = config === 'bare.yaml' ? 'no models' : 'demo models (fraud, fraud_rules)';
  rows.push(`| ${what} | ${cold.toFixed(0)} | ${median(warm).toFixed(0)} (${Math.min(...warm).toFixed(0)}..${Math.max(...warm).toFixed(0)}) | ${median(node).toFixed(0)} (${Math.min(...node).toFixed(0)}..${Math.max(...node).toFixed(0)}) |`);
}
console.log(`dist/hotpath: ${(statSync(exe).size / 1e6).toFixed(1)} MB (${statSync(exe).size} bytes); ${runs} runs each, median (min..max)\n`);
console.log('| config | dist/hotpath, empty cache (ms) | dist/hotpath, cache filled (ms) | node dist/cli/main.js (ms) |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
rmSync(dir, { recursive: true, force: true });

// Bytes allocated per request on the main thread, by allocation site, under closed-loop load
// (64 connections, our generator): the inspector's sampling heap profiler, keeping the
// objects the scavenger collected too. TREE is a built hotpath checkout (dist/ and its addon;
// the generator is this checkout's dist/cli/main.js).
//   npx tsx bench/tools/alloc-profile.ts TREE [predict|features] [seconds=3]
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
const [root, scenario = 'predict', secs = '3'] = process.argv.slice(2);
const { loadConfigFile } = await import(`${root}/dist/config/load.js`);
const { startServer } = await import(`${root}/dist/server/app.js`);
const server = await startServer({ config: loadConfigFile(`${root}/hotpath.yaml`), port: 0, host: '127.0.0.1', log: () => {} });
const s = new Session(); s.connect();
const load = (d: string) => new Promise<string>((resolve) => {
  const c = spawn(process.execPath, [fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)), 'bench', '--url', `http://127.0.0.1:${server.port}`, '--scenario', scenario, '--connections', '64', '--duration', d, '--warmup', '0s'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = ''; c.stdout!.on('data', (x) => (out += x)); c.on('exit', () => resolve(out));
});
await load('1s');
await s.post('HeapProfiler.enable');
await s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
const out = await load(`${secs}s`);
const { profile } = (await s.post('HeapProfiler.stopSampling')) as { profile: any };
const n = Number(/\((\d+) 2xx/.exec(out)?.[1] ?? 1);
const self = new Map<string, number>();
let total = 0;
const walk = (node: any) => {
  const f = node.callFrame;
  const name = `${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  const bytes = node.selfSize;
  total += bytes;
  if (bytes > 0) self.set(name, (self.get(name) ?? 0) + bytes);
  for (const c of node.children) walk(c);
};
walk(profile.head);
console.log(`${n} requests, ${(total / n).toFixed(0)} B allocated per request on the main thread (sampled)`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(v / n).toFixed(0).padStart(6)} B/req  ${k}`);
await server.close();
process.exit(0);

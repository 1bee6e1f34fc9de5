// Server CPU per request: hotpath (the shipped hotpath.yaml, the standard data) against the
// uWS no-op (bench/uws-hello.mjs), in alternating rounds. Each round drives one server with
// wrk -t1 -c64 for --duration s after 1 s of warm-up and reads the server process's
// utime + stime (every thread) from /proc/PID/stat before and after: CPU µs per request,
// and the throughput. On a shared machine this holds better than throughput alone, since
// the server's own CPU per answer does not depend on how much of the CPU it was given.
// On a machine shared with other benchmarks, run it under flock /tmp/hotpath-bench.lock.
//
//   npx tsx bench/tools/cpu-per-request.ts [--dir .] [--path read|predict] [--rounds 3] [--duration 5] [--only hotpath|uws]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { loadStandardData, runWrk, spawnTracked, startHotpath, waitReady } from '../../src/bench/harness.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '.' },
    path: { type: 'string', default: 'read' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    only: { type: 'string' },
  },
});
const dir = resolve(values.dir!);
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const script = values.path === 'predict' ? 'bench/predict.lua' : 'bench/features.lua';
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / HZ; // utime, stime (fields 14, 15)
}

async function load(url: string, pid: number): Promise<{ rps: number; us: number }> {
  const o = { url, connections: 64, script, cwd: resolve('.') };
  await runWrk({ ...o, durationS: 1 });
  const c0 = cpuMs(pid);
  const r = await runWrk({ ...o, durationS: duration });
  const c1 = cpuMs(pid);
  return { rps: r.rps, us: ((c1 - c0) * 1000) / (r.rps * duration) };
}

const medians = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const hp: { rps: number; us: number }[] = [];
const uws: { rps: number; us: number }[] = [];
for (let r = 1; r <= rounds; r++) {
  const order = r % 2 ? ['hotpath', 'uws'] : ['uws', 'hotpath'];
  for (const which of order) {
    if (values.only && values.only !== which) continue;
    if (which === 'hotpath') {
      const s = await startHotpath(dir, 18650);
      try {
        await loadStandardData(s.url);
        const m = await load(s.url, s.child.pid!);
        hp.push(m);
        console.log(`round ${r} hotpath: ${(m.rps / 1e3).toFixed(1)}k req/s, ${m.us.toFixed(2)} µs CPU/req`);
      } finally {
        await s.stop();
      }
    } else {
      const p = spawnTracked('uws-hello', process.execPath, ['bench/uws-hello.mjs', '18651'], { cwd: resolve('.') });
      try {
        await waitReady('http://127.0.0.1:18651/');
        const m = await load('http://127.0.0.1:18651', p.child.pid!);
        uws.push(m);
        console.log(`round ${r} uws-hello: ${(m.rps / 1e3).toFixed(1)}k req/s, ${m.us.toFixed(2)} µs CPU/req`);
      } finally {
        await p.stop();
      }
    }
  }
}
const h = { us: medians(hp.map((m) => m.us)), rps: medians(hp.map((m) => m.rps)) };
const u = { us: medians(uws.map((m) => m.us)), rps: medians(uws.map((m) => m.rps)) };
console.log(`median hotpath ${h.us.toFixed(2)} µs/req ${(h.rps / 1e3).toFixed(1)}k req/s; uws-hello ${u.us.toFixed(2)} µs/req ${(u.rps / 1e3).toFixed(1)}k req/s; CPU ratio ${(h.us / u.us).toFixed(2)}×, throughput ratio ${(h.rps / u.rps).toFixed(2)}×`);

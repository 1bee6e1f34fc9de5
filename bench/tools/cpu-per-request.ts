// Server CPU per request: hotpath (the shipped hotpath.yaml, the standard data) against the
// uWS no-op (bench/uws-hello.mjs), in alternating rounds. Each round drives one server with
// wrk -t1 -c64 for --duration s after 1 s of warm-up and reads the server process's
// utime + stime (every thread) from /proc/PID/stat before and after: CPU µs per request,
// and the throughput. On a shared machine this holds better than throughput alone, since
// the server's own CPU per answer does not depend on how much of the CPU it was given.
// On a machine shared with other benchmarks, run it under flock /tmp/hotpath-bench.lock.
//
// With --base DIR, a second built checkout (the one before a change) runs in every round too.
//
//   npx tsx bench/tools/cpu-per-request.ts [--dir .] [--base DIR] [--path read|predict] [--rounds 3] [--duration 5]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { loadStandardData, runWrk, spawnTracked, startHotpath, waitReady } from '../../src/bench/harness.js';
import { cpuSeconds, cpuTimes } from '../../src/bench/proc.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '.' },
    path: { type: 'string', default: 'read' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    base: { type: 'string' },
  },
});
const dir = resolve(values.dir!);
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const script = values.path === 'predict' ? 'bench/predict.lua' : 'bench/features.lua';

/** [user, system, main thread user + system] CPU ms of the process (all its threads) */
function cpuMs(pid: number): [number, number, number] {
  const t = cpuTimes(pid);
  return [t.user * 1000, t.system * 1000, cpuSeconds(`${pid}/task/${pid}`) * 1000];
}

interface Round {
  rps: number;
  /** CPU µs per request: all, user, system (the kernel's share: the socket calls, loopback TCP) */
  us: number;
  user: number;
  sys: number;
  /** the main thread's (user + system): without the inference workers */
  main: number;
}

async function load(url: string, pid: number): Promise<Round> {
  const o = { url, connections: 64, script, cwd: resolve('.') };
  await runWrk({ ...o, durationS: 1 });
  const c0 = cpuMs(pid);
  const r = await runWrk({ ...o, durationS: duration });
  const c1 = cpuMs(pid);
  const per = (ms: number): number => (ms * 1000) / (r.rps * duration);
  return { rps: r.rps, us: per(c1[0] + c1[1] - c0[0] - c0[1]), user: per(c1[0] - c0[0]), sys: per(c1[1] - c0[1]), main: per(c1[2] - c0[2]) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const servers = values.base ? ['base', 'hotpath', 'uws'] : ['hotpath', 'uws'];
const got: Record<string, Round[]> = { base: [], hotpath: [], uws: [] };
for (let r = 1; r <= rounds; r++) {
  const order = r % 2 ? servers : [...servers].reverse();
  for (const which of order) {
    if (which !== 'uws') {
      const s = await startHotpath(which === 'base' ? resolve(values.base!) : dir, 18650);
      try {
        await loadStandardData(s.url);
        got[which].push(await load(s.url, s.child.pid!));
      } finally {
        await s.stop();
      }
    } else {
      const p = spawnTracked('uws-hello', process.execPath, ['bench/uws-hello.mjs', '18651'], { cwd: resolve('.') });
      try {
        await waitReady('http://127.0.0.1:18651/');
        got.uws.push(await load('http://127.0.0.1:18651', p.child.pid!));
      } finally {
        await p.stop();
      }
    }
    const m = got[which][got[which].length - 1];
    console.log(`round ${r} ${which}: ${(m.rps / 1e3).toFixed(1)}k req/s, ${m.us.toFixed(2)} µs CPU/req (user ${m.user.toFixed(2)}, system ${m.sys.toFixed(2)}, main thread ${m.main.toFixed(2)})`);
  }
}
const u = { us: median(got.uws.map((m) => m.us)), rps: median(got.uws.map((m) => m.rps)) };
for (const which of servers) {
  const g = got[which];
  const h = { us: median(g.map((m) => m.us)), rps: median(g.map((m) => m.rps)), user: median(g.map((m) => m.user)), sys: median(g.map((m) => m.sys)), main: median(g.map((m) => m.main)) };
  console.log(
    `median ${which}: ${h.us.toFixed(2)} µs CPU/req (user ${h.user.toFixed(2)}, system ${h.sys.toFixed(2)}, main thread ${h.main.toFixed(2)}), ${(h.rps / 1e3).toFixed(1)}k req/s; ` +
      `vs uws-hello: CPU ${(h.us / u.us).toFixed(2)}×, throughput ${(h.rps / u.rps).toFixed(2)}×`,
  );
}

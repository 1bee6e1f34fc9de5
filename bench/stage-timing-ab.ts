// What per-stage timing (server.stage_timing, on by default) costs feature reads: this
// checkout's build with the shipped hotpath.yaml (on) against the same with
// `stage_timing: false` (off), in rounds whose order alternates, each trial a fresh server
// with the standard data, wrk -t1 -c64 -s bench/features.lua for 5 s after 1 s of warm-up;
// per round the throughput ratio on/off and the server's CPU per request (all threads).
//   npm run build && npx tsx bench/stage-timing-ab.ts [rounds, default 6]
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadStandardData, runWrk, startHotpath } from '../src/bench/harness.js';
import { cpuSeconds } from '../src/bench/proc.js';
const ROOT = new URL('../', import.meta.url).pathname;
const base = readFileSync(`${ROOT}/hotpath.yaml`, 'utf8');
writeFileSync(`${ROOT}/.stage-off.yaml`, base.replace(/^server:\n/m, 'server:\n  stage_timing: false\n'));
const cfg = { on: 'hotpath.yaml', off: '.stage-off.yaml' };
const ratios: number[] = []; const cpu: number[] = [];
for (let r = 1; r <= Number(process.argv[2] ?? 6); r++) {
  const order = r % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const);
  const rps: Record<string, number> = {}; const c: Record<string, number> = {};
  for (const k of order) {
    const s = await startHotpath(ROOT, 18700, { config: cfg[k] });
    try {
      await loadStandardData(s.url);
      const o = { url: s.url, connections: 64, script: 'bench/features.lua', cwd: ROOT };
      await runWrk({ ...o, durationS: 1 });
      const c0 = cpuSeconds(s.pid);
      const w = await runWrk({ ...o, durationS: 5 });
      rps[k] = w.rps; c[k] = ((cpuSeconds(s.pid) - c0) / (w.rps * 5)) * 1e6;
    } finally { await s.stop(); }
  }
  ratios.push(rps.on / rps.off); cpu.push(c.on / c.off);
  console.log(`round ${r}: off ${Math.round(rps.off)} on ${Math.round(rps.on)} on/off ${(rps.on / rps.off).toFixed(3)}; CPU us/req off ${c.off.toFixed(1)} on ${c.on.toFixed(1)} (${(c.on / c.off).toFixed(3)})`);
}
rmSync(`${ROOT}/.stage-off.yaml`, { force: true });
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
console.log(`median on/off throughput ${med(ratios).toFixed(3)}, CPU per request ${med(cpu).toFixed(3)}`);

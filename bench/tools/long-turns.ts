// Where the server's long turns go (issue 17, the predict tail): a fresh server of a built
// checkout under `node --cpu-prof` (sampling every --interval µs), pinned to --server-cpu,
// loaded with the standard data, then driven open loop by our generator (this process: run
// it pinned to the other CPU) at --rate for --duration seconds. After the server's exit
// the profile is read as a timeline: a "busy run" is consecutive samples that are not
// (idle); the runs of at least --long ms are the long turns. Printed: the latency the
// generator saw, how many long runs there were and how long, and the self time per
// function inside the long runs against the whole profile (which functions make turns long).
//
//   taskset -c 1 npx tsx bench/tools/long-turns.ts [--dir DIR] [--workload predict|features]
//        [--rate 20000] [--duration 10] [--interval 200] [--long 5] [--server-cpu 0] [--keep FILE]
import { readdirSync, readFileSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad } from '../../src/bench/loadgen.js';
import { buildRequests } from '../../src/bench/scenarios.js';
import { loadStandardData, startHotpath } from '../../src/bench/harness.js';
import { OPTS } from '../measure.js';
import { connectionsFor } from '../tail.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: process.cwd() },
    workload: { type: 'string', default: 'predict' },
    rate: { type: 'string', default: '20000' },
    duration: { type: 'string', default: '10' },
    interval: { type: 'string', default: '200' },
    long: { type: 'string', default: '5' },
    'server-cpu': { type: 'string', default: '0' },
    keep: { type: 'string' },
    port: { type: 'string', default: '18795' },
  },
});
const rate = Number(values.rate);
const longMs = Number(values.long);
const workload = values.workload as 'predict' | 'features';
const profDir = mkdtempSync(join(tmpdir(), 'long-turns-'));

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number }

const server = await startHotpath(values.dir!, Number(values.port), {
  cpus: values['server-cpu'],
  nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', values.interval!],
});
let result;
// the measured window on CLOCK_MONOTONIC (V8's profile clock on Linux), µs: after the warm-up
let from = 0;
let to = 0;
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
try {
  await loadStandardData(server.url);
  const host = new URL(server.url).host;
  const warm = setTimeout(() => (from = monoUs()), 1000);
  result = await runLoad({
    url: server.url,
    requests: buildRequests(workload, { ...OPTS, host }),
    connections: connectionsFor(rate),
    durationMs: Number(values.duration) * 1000,
    warmupMs: 1000,
    timeoutMs: 5000,
    rate,
  });
  to = monoUs();
  clearTimeout(warm);
} finally {
  await server.stop(15000);
}
const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`the server wrote no profile into ${profDir}`);
if (values.keep) copyFileSync(join(profDir, file), values.keep);
const p = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Profile;
rmSync(profDir, { recursive: true });

const byId = new Map(p.nodes.map((n) => [n.id, n]));
const name = (n: Node) => {
  const f = n.callFrame;
  const file = f.url.replace(/^file:\/\/.*?\/dist\//, '').replace(/^node:/, 'node:');
  return f.url ? `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}` : f.functionName;
};
// a sample's time: the delta to the next sample (the profile's deltas are to the previous one);
// only the samples in the measured window count
const t: number[] = [];
let at = p.startTime;
for (const d of p.timeDeltas) t.push((at += d));
const idle = (i: number) => byId.get(p.samples[i])!.callFrame.functionName === '(idle)';
const self = new Map<string, number>();
const selfLong = new Map<string, number>();
const runs: { start: number; ms: number; top: Map<string, number> }[] = [];
let totalUs = 0;
let longUs = 0;
let runStart = -1;
const close = (end: number) => {
  if (runStart < 0) return;
  const ms = (t[end] - t[runStart]) / 1000;
  if (ms >= longMs) {
    const top = new Map<string, number>();
    for (let i = runStart; i < end; i++) {
      const us = t[i + 1] - t[i];
      const k = name(byId.get(p.samples[i])!);
      top.set(k, (top.get(k) ?? 0) + us);
      selfLong.set(k, (selfLong.get(k) ?? 0) + us);
      longUs += us;
    }
    runs.push({ start: (t[runStart] - from) / 1e6, ms, top });
  }
  runStart = -1;
};
for (let i = 0; i + 1 < p.samples.length; i++) {
  if (t[i] < from || t[i] > to) {
    close(i);
    continue;
  }
  const us = t[i + 1] - t[i];
  const k = name(byId.get(p.samples[i])!);
  self.set(k, (self.get(k) ?? 0) + us);
  totalUs += us;
  if (idle(i)) close(i);
  else if (runStart < 0) runStart = i;
}
close(p.samples.length - 1);

const ms = (us: number) => (us / 1000).toFixed(1);
const l = result!.latencyUs;
console.log(`${workload} at ${rate} req/s for ${values.duration} s (${connectionsFor(rate)} connections), server on CPU ${values['server-cpu']}: answered ${result!.answered}, p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)} ms, p99.9 ${ms(l.p999)} ms, max ${ms(l.max)} ms, send lag p99 ${ms(result!.sendLagUs?.p99 ?? NaN)} ms${result!.reachedRate ? '' : ' (rate not kept)'}`);
const busy = totalUs - (self.get('(idle)') ?? 0);
console.log(`profile over the measured window: ${ms(totalUs)} ms sampled, ${ms(busy)} ms busy; ${runs.length} busy runs of >= ${longMs} ms, ${ms(longUs)} ms in them; longest: ${runs.map((r) => r.ms).sort((a, b) => b - a).slice(0, 10).map((x) => x.toFixed(1)).join(', ')} ms`);
const rows = [...selfLong.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30);
console.log('\nself time in the long runs (share of the long runs; share of that function\'s time overall that fell in long runs):');
for (const [k, us] of rows) console.log(`  ${((us / Math.max(1, longUs)) * 100).toFixed(1).padStart(5)} %  ${((us / (self.get(k) ?? us)) * 100).toFixed(0).padStart(3)} %  ${k}`);
console.log('\nthe 5 longest runs, their top 6 frames:');
for (const r of runs.sort((a, b) => b.ms - a.ms).slice(0, 5)) {
  console.log(`  at ${r.start.toFixed(2)} s, ${r.ms.toFixed(1)} ms: ${[...r.top.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, us]) => `${k} ${ms(us)}`).join('; ')}`);
}

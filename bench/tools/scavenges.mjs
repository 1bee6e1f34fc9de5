// Young-generation GC pauses per isolate (the main thread and each worker thread are
// isolates of their own) from a `node --trace-gc` or `node --trace-gc-nvp` log: count,
// total, mean and worst pause, and with --trace-gc-nvp the bytes each scavenge kept alive
// and the bytes allocated between scavenges. Worker isolates have had addresses 0x7f...
// here, the main thread's a low one; under predicts the worker scavenges the most often.
//   node --trace-gc-nvp dist/cli/main.js serve ... > gc.log; node bench/tools/scavenges.mjs gc.log
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'latin1'); // a log truncated while written has NULs
const nvp = text.includes(' gc=s ');
const lines = text.split('\n').filter((l) => (nvp ? l.includes(' gc=s ') : l.includes(': Scavenge ')));
const field = (l, k) => Number(new RegExp(`[ \\t]${k.replace(/\./g, '\\.')}=([0-9.]+)`).exec(l)?.[1] ?? NaN);
const byIsolate = new Map();
for (const l of lines) {
  const iso = /\[\d+:(0x[0-9a-f]+)\]/.exec(l)?.[1] ?? '?';
  const pause = nvp ? field(l, 'pause') : Number(/MB, ([\d.]+) \//.exec(l)?.[1]);
  const e = byIsolate.get(iso) ?? { pauses: [], survived: [], allocated: [] };
  e.pauses.push(pause);
  if (nvp) {
    e.survived.push(field(l, 'new_space_survived'));
    e.allocated.push(field(l, 'allocated'));
  }
  byIsolate.set(iso, e);
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
for (const [iso, e] of [...byIsolate].sort((a, b) => mean(b[1].pauses) * b[1].pauses.length - mean(a[1].pauses) * a[1].pauses.length)) {
  const total = e.pauses.reduce((a, b) => a + b, 0);
  let line = `${iso}: ${e.pauses.length} scavenges, ${total.toFixed(1)} ms in all, mean ${mean(e.pauses).toFixed(2)} ms, worst ${Math.max(0, ...e.pauses).toFixed(2)} ms`;
  if (nvp) line += `; kept alive ${(mean(e.survived) / 1024).toFixed(1)} KB, allocated ${(mean(e.allocated) / 1048576).toFixed(1)} MB between scavenges (means)`;
  console.log(line);
}

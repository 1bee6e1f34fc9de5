// Young-generation GC pauses of the main thread from a `node --trace-gc` log: count,
// total and worst. Worker threads are other isolates: only the most frequent isolate
// address (the main thread under load) is counted.
//   node --trace-gc dist/cli/main.js serve ... > gc.log; node bench/tools/scavenges.mjs gc.log
import { readFileSync } from 'node:fs';

const lines = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.includes(': Scavenge '));
const isolate = (l) => /^\[\d+:(0x[0-9a-f]+)\]/.exec(l)?.[1];
const counts = new Map();
for (const l of lines) counts.set(isolate(l), (counts.get(isolate(l)) ?? 0) + 1);
const main = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
const pauses = lines.filter((l) => isolate(l) === main).map((l) => Number(/MB, ([\d.]+) \//.exec(l)?.[1]));
const total = pauses.reduce((a, b) => a + b, 0);
console.log(`${pauses.length} scavenges, ${total.toFixed(1)} ms in all, worst ${Math.max(0, ...pauses).toFixed(2)} ms`);

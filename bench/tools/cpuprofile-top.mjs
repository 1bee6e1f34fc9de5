// Self time by function from the .cpuprofile files `node --cpu-prof --cpu-prof-dir=D`
// writes (one per thread), the 25 heaviest first.
//   node bench/tools/cpuprofile-top.mjs D
import { readdirSync, readFileSync } from 'node:fs';

const dir = process.argv[2];
for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
  const p = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  p.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const k = `${functionName || '(anon)'} ${url.split('/').slice(-2).join('/')}:${lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + p.timeDeltas[i]);
    total += p.timeDeltas[i];
  });
  console.log(`== ${f}: ${(total / 1e6).toFixed(2)} s`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}% ${k}`);
}

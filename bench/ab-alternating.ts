// Feature reads of two built checkouts in rounds whose order alternates (A then B, then B
// then A), each trial a fresh server with the standard data, wrk -t1 -c64 -s
// bench/features.lua for 5 s after 1 s of warm-up; per-round B/A and their median. The
// suite's ab scenario always runs A first; this removes that order from the ratio.
//
//   npx tsx bench/ab-alternating.ts --a /work/base --b /work/main [--rounds 8]
import { parseArgs } from 'node:util';

import { loadStandardData, runWrk, startHotpath } from '../src/bench/harness.js';

const { values } = parseArgs({ options: { a: { type: 'string' }, b: { type: 'string' }, rounds: { type: 'string', default: '8' } } });
if (!values.a || !values.b) {
  console.error('usage: npx tsx bench/ab-alternating.ts --a DIR --b DIR [--rounds N]');
  process.exit(2);
}
const dirs = { A: values.a, B: values.b };
const rounds = Number(values.rounds);
const ratios: number[] = [];
for (let r = 1; r <= rounds; r++) {
  const order: ('A' | 'B')[] = r % 2 ? ['A', 'B'] : ['B', 'A'];
  const rps = { A: 0, B: 0 };
  for (const b of order) {
    const s = await startHotpath(dirs[b], b === 'A' ? 18600 : 18601);
    try {
      await loadStandardData(s.url);
      const o = { url: s.url, connections: 64, script: 'bench/features.lua', cwd: process.cwd() };
      await runWrk({ ...o, durationS: 1 });
      rps[b] = (await runWrk({ ...o, durationS: 5 })).rps;
    } finally {
      await s.stop();
    }
  }
  ratios.push(rps.B / rps.A);
  console.log(`| ${r} | ${(rps.A / 1e3).toFixed(2)}k | ${(rps.B / 1e3).toFixed(2)}k | ${(rps.B / rps.A).toFixed(3)} |`);
}
ratios.sort((x, y) => x - y);
console.log(`median B/A ${ratios[Math.floor(ratios.length / 2)].toFixed(3)} (range ${ratios[0].toFixed(3)}-${ratios[ratios.length - 1].toFixed(3)})`);

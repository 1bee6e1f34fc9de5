// The crash test on its own (src/bench/crash.ts): kill -9 at random moments under HTTP and
// binary WebSocket load, restart, and check every acknowledged event against the features.
//   npm run crash-test -- [--fsync always|interval|off] [--kills 25] [--seed 1] [--port 18560]
// Needs a built checkout (npm run build, or npm ci). Exits 1 when an acknowledged event is lost.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { runCrash } from '../src/bench/crash.js';

const { values } = parseArgs({
  options: { fsync: { type: 'string', default: 'always' }, kills: { type: 'string', default: '25' }, seed: { type: 'string', default: '1' }, port: { type: 'string', default: '18560' } },
  strict: true,
});
if (!['always', 'interval', 'off'].includes(values.fsync!)) throw new Error('--fsync must be always, interval or off');
const r = await runCrash({
  root: fileURLToPath(new URL('../', import.meta.url)), fsync: values.fsync as 'always' | 'interval' | 'off', kills: Number(values.kills),
  seed: Number(values.seed), port: Number(values.port), log: (l) => console.error(l),
});
console.log(`fsync ${r.fsync}: ${r.kills.length} kills; ${r.acked} events acknowledged, ${r.unknown} in flight at a kill; ` +
  `${r.recovered} recovered; lost ${r.lost}; entities off ${r.violations.length}; median kill to ready ${[...r.kills.map((k) => k.restartMs)].sort((a, b) => a - b)[r.kills.length >> 1].toFixed(0)} ms`);
if (r.violations.length > 0) {
  console.log(JSON.stringify(r.violations.slice(0, 20)));
  process.exit(1);
}

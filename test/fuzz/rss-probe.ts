// RSS and heap of the fuzz server (config.ts, in a child process) under one repeated
// operation, to tell a leak from growth that levels off: each step sends 20 events, then
// takes a snapshot or reloads a random model. Not a test (vitest does not pick it up);
// bench/results/2026-12-06-fuzz.md quotes its output.
//   node --import tsx test/fuzz/rss-probe.ts snapshot|load [steps per round=200] [rounds=4]
import { fork } from 'node:child_process';

import { fuzzAuth, JWT_ENV, writeFuzzConfig } from './config.js';
import type { ChildStats } from './server-child.js';

const [what = 'load', perArg = '200', roundsArg = '4'] = process.argv.slice(2);
const auth = await fuzzAuth();
const headers = Object.fromEntries(auth.admin);
const [repo, cfg] = writeFuzzConfig(auth);
const child = fork(new URL('./server-child.ts', import.meta.url).pathname, [repo, cfg], {
  execArgv: ['--expose-gc', '--import', 'tsx'],
  env: { ...process.env, [JWT_ENV]: auth.secret },
  stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
});
const port: number = await new Promise((r) => child.on('message', (m: { type: string; port: number }) => m.type === 'ready' && r(m.port)));
const base = `http://127.0.0.1:${port}`;
const stats = (): Promise<ChildStats> => new Promise((r) => {
  child.once('message', (m: ChildStats) => r(m));
  child.send({ type: 'stats' });
});
const events = () => fetch(`${base}/v1/events`, { method: 'POST', headers, body: JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ user_id: `u${i}`, merchant_id: 'm1', amount: i, country: 'FR', ts: Date.now() }))) });
const models = ['fraud', 'rules', 'leaky'];
const op = what === 'snapshot'
  ? () => fetch(`${base}/v1/admin/snapshot`, { method: 'POST', headers })
  : () => fetch(`${base}/v2/repository/models/${models[Math.floor(Math.random() * 3)]}/load`, { method: 'POST', headers });
const mib = (n: number) => (n / 2 ** 20).toFixed(1);
let steps = 0;
for (let round = 0; round <= Number(roundsArg); round++) {
  for (let i = 0; i < (round === 0 ? 50 : Number(perArg)); i++, steps++) {
    await events();
    await op();
  }
  const s = await stats();
  console.log(`${what} x${steps}: rss ${mib(s.rss)} MiB, heap ${mib(s.heapUsed)} MiB, external ${mib(s.external)} MiB`);
}
child.kill();

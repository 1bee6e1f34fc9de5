// Bandit simulations with the server's own policy classes (src/bandits/policies.ts), on
// worker threads (one task = one run of one policy in one setting).
//
// 1. Lai-Robbins: Bernoulli arms, the best p = 0.5 (at a random slot each run), the other
//    K - 1 at 0.5 - eps, K in {10, 100}, eps in {0.1, 0.02}, horizon T. Pseudo-regret
//    (sum of the gaps of the arms pulled) at T = 10^3..T, and against the Lai-Robbins bound
//    sum_i gap_i / KL(p_i, p*) ln T: the slope per ln T.
// 2. Chapelle & Li (2011), section 3, the delayed-feedback setting: 10 items; at each step,
//    with probability 1e-3, one item (uniform) retires and a fresh one takes its place, with
//    p ~ Beta(4, 4) and the policy's prior (Beta(1, 1) for Thompson sampling); rewards are
//    Bernoulli(p); feedback reaches the policy in batches, every delta steps (a buffer
//    applied after steps delta, 2 delta, ...); feedback of a retired item is dropped. Regret
//    is against the best item live at each step.
//
// npx tsx bench/bandits-sim.ts [--runs 100] [--runs-k100 N] [--runs-k100-thompson N] [--horizon 1e6]
//          [--threads 2] [--policies thompson,ucb1] [--only lai|chapelle] [--seed 1] [--json out.json]
//          [--first-run 0] [--run-log runs.jsonl]
import { appendFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

import { makePolicy, type PolicyKind } from '../src/bandits/policies.js';
import { Rng } from '../src/bandits/random.js';

interface LaiTask {
  kind: 'lai';
  policy: PolicyKind;
  k: number;
  eps: number;
  horizon: number;
  seed: number;
}
interface ChapelleTask {
  kind: 'chapelle';
  policy: PolicyKind;
  delta: number;
  horizon: number;
  seed: number;
}
type Task = LaiTask | ChapelleTask;
interface Outcome {
  /** regret at each checkpoint (lai) or at the horizon (chapelle) */
  regret: number[];
  ms: number;
}

/** 10^3, 10^4, ... up to the horizon (and the horizon itself). */
function checkpoints(horizon: number): number[] {
  const out: number[] = [];
  for (let t = 1000; t < horizon; t *= 10) out.push(t);
  out.push(horizon);
  return out;
}

function lai(t: LaiTask): number[] {
  const env = new Rng(t.seed * 2 + 1);
  const policy = makePolicy({ kind: t.policy, capacity: t.k, seed: t.seed * 2 + 2, epsilon: 0.1 }, t.k);
  const best = env.below(t.k);
  const p = new Float64Array(t.k).fill(0.5 - t.eps);
  p[best] = 0.5;
  const marks = checkpoints(t.horizon);
  const out: number[] = [];
  let regret = 0;
  let m = 0;
  for (let step = 1; step <= t.horizon; step++) {
    const a = policy.choose(null);
    policy.update(a, env.uniform() < p[a] ? 1 : 0, null);
    if (a !== best) regret += t.eps;
    if (step === marks[m]) {
      out.push(regret);
      m++;
    }
  }
  return out;
}

const ITEMS = 10;

function chapelle(t: ChapelleTask): number[] {
  const env = new Rng(t.seed * 2 + 1);
  const policy = makePolicy({ kind: t.policy, capacity: ITEMS, seed: t.seed * 2 + 2, priorAlpha: 1, priorBeta: 1 }, ITEMS);
  const p = new Float64Array(ITEMS);
  const gen = new Float64Array(ITEMS);
  for (let i = 0; i < ITEMS; i++) p[i] = env.beta(4, 4);
  let pBest = Math.max(...p);
  // the feedback buffer: (slot, generation, reward) of the pulls since the last batch
  const bSlot = new Int32Array(t.delta);
  const bGen = new Float64Array(t.delta);
  const bReward = new Float64Array(t.delta);
  let nb = 0;
  let regret = 0;
  for (let step = 1; step <= t.horizon; step++) {
    if (env.uniform() < 1e-3) {
      const s = env.below(ITEMS);
      p[s] = env.beta(4, 4);
      gen[s]++;
      policy.close(s);
      policy.open(s); // a fresh item: the prior again
      pBest = p[0];
      for (let i = 1; i < ITEMS; i++) if (p[i] > pBest) pBest = p[i];
    }
    const a = policy.choose(null);
    regret += pBest - p[a];
    bSlot[nb] = a;
    bGen[nb] = gen[a];
    bReward[nb++] = env.uniform() < p[a] ? 1 : 0;
    if (nb === t.delta) {
      for (let i = 0; i < nb; i++) if (bGen[i] === gen[bSlot[i]]) policy.update(bSlot[i], bReward[i], null);
      nb = 0;
    }
  }
  return [regret];
}

function run(t: Task): Outcome {
  const t0 = performance.now();
  const regret = t.kind === 'lai' ? lai(t) : chapelle(t);
  return { regret, ms: performance.now() - t0 };
}

if (!isMainThread) {
  parentPort!.on('message', (t: Task | null) => {
    if (t === null) process.exit(0);
    parentPort!.postMessage(run(t));
  });
  parentPort!.postMessage('ready');
} else await main();

/** KL divergence of Bernoulli(p) from Bernoulli(q). */
function kl(p: number, q: number): number {
  return p * Math.log(p / q) + (1 - p) * Math.log((1 - p) / (1 - q));
}

function meanSe(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v / xs.length)];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const runs = Number(opt('runs', '100'));
  const runsK100 = Number(opt('runs-k100', String(runs)));
  // Thompson sampling over 100 arms draws 100 Betas a step: the expensive runs
  const runsK100Ts = Number(opt('runs-k100-thompson', String(runsK100)));
  const horizon = Number(opt('horizon', '1e6'));
  const threads = Number(opt('threads', String(Math.min(2, availableParallelism()))));
  const only = opt('only', 'all');
  const seed = Number(opt('seed', '1'));
  // runs first-run .. first-run + runs - 1 (their seeds): more runs of a setting in a later invocation
  const firstRun = Number(opt('first-run', '0'));
  // every finished run as a JSON line (setting, run, regrets), as it finishes
  const runLog = opt('run-log', '');
  const policies = opt('policies', 'thompson,ucb1').split(',') as PolicyKind[];

  const tasks: { key: string; task: Task }[] = [];
  if (only === 'all' || only === 'lai')
    for (const k of [10, 100])
      for (const eps of [0.1, 0.02])
        for (const policy of policies)
          for (let r = firstRun; r < firstRun + (k === 100 ? (policy === 'thompson' ? runsK100Ts : runsK100) : runs); r++) tasks.push({ key: `lai ${policy} ${k} ${eps}`, task: { kind: 'lai', policy, k, eps, horizon, seed: seed * 1_000_003 + r } });
  if (only === 'all' || only === 'chapelle')
    for (const delta of [1, 100, 1000])
      for (const policy of ['thompson', 'ucb1'] as const)
        for (let r = firstRun; r < firstRun + runs; r++) tasks.push({ key: `chapelle ${policy} ${delta}`, task: { kind: 'chapelle', policy, delta, horizon, seed: seed * 1_000_003 + r } });
  // the long tasks first, so that the threads finish together
  const cost = (t: Task): number => (t.kind === 'lai' ? (t.policy === 'thompson' ? 6 : 1) * t.k : t.policy === 'thompson' ? 10 : 2);
  tasks.sort((a, b) => cost(b.task) - cost(a.task));

  const results = new Map<string, Outcome[]>();
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: threads }, () => new Promise<void>((resolve, reject) => {
      // the workers run this file too, through tools/tsx-worker.mjs (tsx's loader for the thread)
      const w = new Worker(new URL('./tools/tsx-worker.mjs', import.meta.url), { workerData: { entry: import.meta.url } });
      let current: { key: string; task: Task } | undefined;
      const feed = (): void => {
        if (next >= tasks.length) {
          w.postMessage(null);
          return;
        }
        current = tasks[next++];
        w.postMessage(current.task);
      };
      w.on('message', (m: Outcome | 'ready') => {
        if (m !== 'ready') {
          results.set(current!.key, [...(results.get(current!.key) ?? []), m]);
          if (runLog) appendFileSync(runLog, `${JSON.stringify({ key: current!.key, seed: current!.task.seed, ...m })}\n`);
          if (++done % 20 === 0 || done === tasks.length) process.stderr.write(`\r${done}/${tasks.length} runs, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
        }
        feed();
      });
      w.on('error', reject);
      w.on('exit', () => resolve());
    })),
  );
  process.stderr.write('\n');

  const wall = (performance.now() - t0) / 1000;
  const lines: string[] = [];
  const json: Record<string, unknown> = { horizon, runs, runsK100, threads, seed, wallSeconds: wall };
  if (only === 'all' || only === 'lai') {
    const marks = checkpoints(horizon);
    lines.push(`### Lai-Robbins settings (horizon ${horizon.toExponential(0)})`, '');
    lines.push(`| K | eps | bound slope | policy | runs | ${marks.map((m) => `R(${m.toExponential(0)})`).join(' | ')} | R(T)/ln T | (R(T) - R(T/10))/ln 10 | s/run |`);
    lines.push(`|---|---|---|---|---|${marks.map(() => '---|').join('')}---|---|---|`);
    for (const k of [10, 100])
      for (const eps of [0.1, 0.02]) {
        const bound = ((k - 1) * eps) / kl(0.5 - eps, 0.5);
        for (const policy of policies) {
          const key = `lai ${policy} ${k} ${eps}`;
          const rs = results.get(key) ?? [];
          if (!rs.length) continue;
          const at = marks.map((_, i) => meanSe(rs.map((r) => r.regret[i])));
          const last = at.length - 1;
          const slope = meanSe(rs.map((r) => r.regret[last] / Math.log(horizon)));
          const tail = meanSe(rs.map((r) => (r.regret[last] - r.regret[last - 1]) / Math.log(marks[last] / marks[last - 1])));
          const ms = meanSe(rs.map((r) => r.ms))[0];
          json[key] = { bound, at, slope, tail, runs: rs.length, msPerRun: ms };
          lines.push(`| ${k} | ${eps} | ${bound.toFixed(1)} | ${policy} | ${rs.length} | ${at.map(([m, se]) => `${m.toFixed(0)} ± ${se.toFixed(0)}`).join(' | ')} | ${slope[0].toFixed(1)} ± ${slope[1].toFixed(1)} | ${tail[0].toFixed(1)} ± ${tail[1].toFixed(1)} | ${(ms / 1000).toFixed(2)} |`);
        }
      }
    lines.push('');
  }
  if (only === 'all' || only === 'chapelle') {
    const paper: Record<number, [number, number]> = { 1: [24_145, 9_105], 100: [37_141, 11_550], 1000: [226_220, 59_256] };
    lines.push(`### Chapelle & Li (2011), delayed feedback (horizon ${horizon.toExponential(0)}, ${runs} runs)`, '');
    lines.push('| delta | Thompson | paper TS | TS / paper | UCB1 | paper UCB | TS < UCB1 |', '|---|---|---|---|---|---|---|');
    for (const delta of [1, 100, 1000]) {
      const ts = meanSe((results.get(`chapelle thompson ${delta}`) ?? []).map((r) => r.regret[0]));
      const ucb = meanSe((results.get(`chapelle ucb1 ${delta}`) ?? []).map((r) => r.regret[0]));
      json[`chapelle ${delta}`] = { thompson: ts, ucb1: ucb, paper: paper[delta] };
      lines.push(`| ${delta} | ${ts[0].toFixed(0)} ± ${ts[1].toFixed(0)} | ${paper[delta][1]} | ${(ts[0] / paper[delta][1]).toFixed(3)} | ${ucb[0].toFixed(0)} ± ${ucb[1].toFixed(0)} | ${paper[delta][0]} | ${ts[0] < ucb[0] ? 'yes' : 'NO'} |`);
    }
    lines.push('');
  }
  lines.push(`${tasks.length} runs on ${threads} threads in ${wall.toFixed(0)} s.`);
  console.log(lines.join('\n'));
  const out = opt('json', '');
  if (out) (await import('node:fs')).writeFileSync(out, JSON.stringify(json, null, 1));
}

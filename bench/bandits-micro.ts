// choose + reward per second on one core (per second of CPU time), per policy: the Bandit API the routes and the
// experiments call (a decision id, the pending ring, the reward joined by id), without
// HTTP. Bernoulli rewards (arm i pays with p = 0.3 + 0.4 i / K); the contextual policies
// get a context of `--dim` values (intercept included) given as request fields.
//
// npx tsx bench/bandits-micro.ts [--arms 2,10,100] [--seconds 2] [--trials 3] [--dim 8]
import { Bandit } from '../src/bandits/bandit.js';
import { Rng } from '../src/bandits/random.js';
import { loadConfigText } from '../src/config/load.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const armsList = opt('arms', '2,10,100').split(',').map(Number);
const seconds = Number(opt('seconds', '2'));
const trials = Number(opt('trials', '3'));
const dim = Number(opt('dim', '8'));

const POLICIES = ['epsilon_greedy', 'ucb1', 'thompson', 'gaussian_thompson', 'linucb', 'lin_thompson'] as const;

function make(policy: (typeof POLICIES)[number], k: number): { bandit: Bandit; ctx: { fields: Record<string, number> } } {
  const fields = Array.from({ length: dim - 1 }, (_, i) => `f${i}`);
  const linear = policy === 'linucb' || policy === 'lin_thompson';
  const yaml = `
streams: { s: { keys: { e: id } } }
entities: { e: { features: { n: { agg: count, window: 1h } } } }
bandits:
  b:
    policy: ${policy}
    arms: [${Array.from({ length: k }, (_, i) => `a${i}`).join(', ')}]
    seed: 1
    ${linear ? `context: [${fields.map((f) => `{ field: ${f} }`).join(', ')}]` : ''}`;
  const def = loadConfigText(yaml).bandits[0];
  const ctx = { fields: Object.fromEntries(fields.map((f, i) => [f, (i % 3) - 1])) };
  return { bandit: new Bandit(def, null), ctx };
}

/**
 * choose + reward pairs per second of this process's CPU time (user + system) over
 * `seconds` of wall time: per core, whatever else the machine runs meanwhile.
 */
function trial(policy: (typeof POLICIES)[number], k: number): number {
  const { bandit, ctx } = make(policy, k);
  const env = new Rng(9);
  const p = Float64Array.from({ length: k }, (_, i) => 0.3 + (0.4 * i) / k);
  const index = new Map(Array.from({ length: k }, (_, i) => [`a${i}`, i]));
  const now = Date.now();
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let t = t0;
  while (t < end) {
    for (let i = 0; i < 1000; i++) {
      const d = bandit.choose(ctx, now);
      bandit.reward(d.decisionId, env.uniform() < p[index.get(d.arm)!] ? 1 : 0, now);
    }
    n += 1000;
    t = performance.now();
  }
  if (bandit.rewards.applied !== n) throw new Error('a reward was not applied');
  const cpu = process.cpuUsage(cpu0);
  return n / ((cpu.user + cpu.system) / 1e6);
}

const rows: string[] = [`| policy | arms | choose+reward per CPU second (median of ${trials}) | trials |`, '|---|---|---|---|'];
for (const policy of POLICIES)
  for (const k of armsList) {
    const rates = Array.from({ length: trials }, () => trial(policy, k)).sort((a, b) => a - b);
    const med = rates[Math.floor(trials / 2)];
    rows.push(`| ${policy}${policy.startsWith('lin') ? ` (d = ${dim})` : ''} | ${k} | ${(med / 1e6).toFixed(2)} M/s | ${rates.map((r) => (r / 1e6).toFixed(2)).join(', ')} |`);
    process.stderr.write('.');
  }
process.stderr.write('\n');
console.log(rows.join('\n'));
console.log(`\nNode ${process.version}, one thread, ${seconds} s per trial.`);

// The cost of the hardening on the feature-read hot path: this checkout's build, three
// configs, in alternating trials (A, B, C, A, B, C, ...), each a fresh server process:
//   A: the shipped hotpath.yaml: no auth, no rate limits (OPEN_POLICY);
//   B: the same plus auth (one API key, features:read) and token buckets for the features
//      class per client address and per credential, set high enough never to refuse: a
//      verified key is counted per credential (the default);
//   C: B with limits.rate.per_address_authenticated: every request also reads the client
//      address (a getpeername system call in uWS) and takes from its bucket.
// All get the same requests, Authorization header included (A ignores it), so the
// difference is the server's work. Reported: per round B/A and C/A, the medians of those
// ratios, and each config's noise against itself. The goal (issue 11): B/A >= 0.95.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { describeBuild, loadStandardData, mdTable, msOf, pct, ratioOf, runWrk, startHotpath } from '../src/bench/harness.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { pairedRatios } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { ours, viaWrk, warnBad } from './measure.js';

const PORT = 18620;
export const AUTH_KEEP = 0.95;

/** The configs, in a temporary directory: the shipped file with absolute model paths, and B and C beside it. */
function configs(root: string, key: string): Record<Config, string> {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-auth-ab-'));
  const shipped = readFileSync(join(root, 'hotpath.yaml'), 'utf8').replace(/^(\s*repository:\s*)(\S+)/gm, (_, p: string, path: string) => `${p}${resolve(root, path)}`);
  const hash = createHash('sha256').update(key).digest('hex');
  writeFileSync(join(dir, 'keys.yaml'), `keys:\n  - { name: bench, sha256: ${hash}, scopes: [features:read, events:write] }\n`);
  const never = '{ rate: 1000000000, burst: 1000000000 }';
  const b = `${shipped}
auth:
  keys_file: keys.yaml
  metrics: open
limits:
  rate:
    per_address: { features: ${never} }
    per_credential: { features: ${never} }
`;
  const files = { A: shipped, B: b, C: `${b}    per_address_authenticated: true\n` };
  for (const [c, text] of Object.entries(files)) writeFileSync(join(dir, `${c}.yaml`), text);
  return { A: join(dir, 'A.yaml'), B: join(dir, 'B.yaml'), C: join(dir, 'C.yaml') };
}

type Config = 'A' | 'B' | 'C';
const CONFIGS: Config[] = ['A', 'B', 'C'];

interface Trial {
  round: number;
  config: Config;
  rps: number;
  p99Us: number;
  /** the server's CPU time (all threads) per answered request, µs */
  cpuUs: number;
  errors: number;
}

export async function runAuthAb(ctx: Context): Promise<Section> {
  const key = `hp_${randomBytes(32).toString('base64url')}`;
  const headers = { authorization: `Bearer ${key}` };
  const cfg = configs(ctx.root, key);
  const trials: Trial[] = [];
  console.error(`auth: ${ctx.rounds * 3} trials, about ${((ctx.rounds * 3 * (ctx.durationMs / 1000 + ctx.warmupMs / 1000 + 2)) / 60).toFixed(1)} min`);
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const config of CONFIGS) {
      const server = await startHotpath(ctx.root, PORT, { cpus: ctx.pin?.server, config: cfg[config] });
      try {
        // The standard data goes in with the key (A ignores it).
        await loadStandardData(server.url, Date.now(), headers);
        let t: Trial;
        if (ctx.gen === 'wrk') {
          if (ctx.warmupMs > 0) await runWrk({ url: server.url, connections: ctx.connections, script: 'bench/features.lua', cwd: ctx.root, cpus: ctx.pin?.generator, headers, durationS: Math.max(1, Math.round(ctx.warmupMs / 1000)) });
          const c0 = cpuSeconds(server.pid);
          const w = await viaWrk(ctx, server.url, 'features', false, headers);
          const cpuUs = ((cpuSeconds(server.pid) - c0) * 1e6) / (w.rps * (ctx.durationMs / 1000));
          t = { round, config, rps: w.rps, p99Us: w.p99Us, cpuUs, errors: w.non2xx + w.socketErrors };
        } else {
          const { r, cpu } = await ours(ctx, server.url, server.pid, 'features', { headers });
          warnBad(`auth ${config} round ${round}`, [r]);
          t = { round, config, rps: r.throughput, p99Us: r.latencyUs.p99, cpuUs: cpu * 1000, errors: r.answered - r.ok };
        }
        trials.push(t);
        console.error(`auth round ${round} ${config}: ${(t.rps / 1000).toFixed(1)}k req/s, p99 ${msOf(t.p99Us)}${t.errors ? `, ${t.errors} errors` : ''}`);
      } finally {
        await server.stop();
      }
    }
  }
  const of = (c: Config, f: (t: Trial) => number) => trials.filter((t) => t.config === c).map(f);
  const vs = (c: Config) => ({
    rps: pairedRatios(of('A', (t) => t.rps), of(c, (t) => t.rps)),
    p99: pairedRatios(of('A', (t) => t.p99Us), of(c, (t) => t.p99Us)),
    cpu: pairedRatios(of('A', (t) => t.cpuUs), of(c, (t) => t.cpuUs)),
  });
  const b = vs('B');
  const c = vs('C');
  const errors = trials.reduce((n, t) => n + t.errors, 0);
  const gen = ctx.gen === 'wrk' ? `wrk -t1 -c${ctx.connections}` : `ours, ${ctx.connections} conn.`;
  const head = ['config', 'req/s median', '**req/s ÷ A** (median of per-round ratios)', 'range', 'self (consecutive rounds)', 'spread', `≥ ${AUTH_KEEP}`, 'p99', 'server CPU µs/request', 'CPU ÷ A (median, range)'];
  const k = (v: number) => `${(v / 1000).toFixed(1)}k req/s`;
  const us = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(2));
  const rows = [
    ['A: off', k(b.rps.a), '1', '-', ratioOf(b.rps.selfA.median), pct(b.rps.selfA.spread), '-', msOf(b.p99.a), us(b.cpu.a), '1'],
    ...([['B: auth + limits (verified keys per credential)', b], ['C: B + per_address_authenticated', c]] as const).map(([name, x]) => [
      name, k(x.rps.b), `**${ratioOf(x.rps.ratio)}**`, `${x.rps.ratioMin.toFixed(3)}–${x.rps.ratioMax.toFixed(3)}`, ratioOf(x.rps.selfB.median), pct(x.rps.selfB.spread),
      x.rps.ratio >= AUTH_KEEP ? 'yes' : '**no**', msOf(x.p99.b), us(x.cpu.b), `${ratioOf(x.cpu.ratio)}, ${x.cpu.ratioMin.toFixed(3)}–${x.cpu.ratioMax.toFixed(3)}`,
    ]),
  ];
  const perRound = mdTable(
    ['round', 'A req/s', 'B req/s', 'C req/s', 'B/A', 'C/A', 'CPU µs/request A / B / C'],
    Array.from({ length: ctx.rounds }, (_, i) => {
      const [ta, tb, tc] = CONFIGS.map((cf) => trials.find((t) => t.round === i + 1 && t.config === cf)!);
      return [String(i + 1), k(ta.rps), k(tb.rps), k(tc.rps), (tb.rps / ta.rps).toFixed(3), (tc.rps / ta.rps).toFixed(3), `${us(ta.cpuUs)} / ${us(tb.cpuUs)} / ${us(tc.cpuUs)}`];
    }),
  );
  const method = [
    `Feature reads (GET /v1/features/user/{id}, ${gen}). One build (${describeBuild(ctx.root)}), three configs: A = the shipped hotpath.yaml (no auth, no limits: the route table skips the policy);`,
    'B = the same with `auth` (an API key with features:read, in a keys file) and token buckets for the features class per client address and per credential',
    '(rate and burst 1e9: every request takes a token, none is refused); a verified key is counted per credential, so B reads no client address;',
    'C = B with `limits.rate.per_address_authenticated: true` (every request also reads the client address, a getpeername system call in uWS, and takes from its bucket).',
    'All get the same requests, with `Authorization: Bearer <key>`.',
    `Per round, A, B, C, each a fresh \`hotpath serve\` gated on /readyz and loaded with the standard data, then ${ctx.durationMs / 1000} s measured after ${ctx.warmupMs / 1000} s of warm-up.`,
    `÷ A: the median over rounds of the config over A in the same round; self: consecutive rounds of the same config (the noise of the method on this machine).`,
    'Server CPU per request: the server process\'s CPU time (all threads, /proc) over the measured window divided by the requests answered; on a shared machine it moves less than',
    `throughput, because time the server waits for a CPU is not counted. Non-2xx answers: ${errors}.`,
  ].join(' ');
  return {
    key: 'auth',
    title: 'A/B: feature reads with auth (API key) and rate limits on, against everything off',
    md: `${method}\n\n${mdTable(head, rows)}\n\nPer round:\n\n${perRound}\n`,
    json: { keep: AUTH_KEEP, b, c, trials },
    tables: [{ caption: 'auth + limits / off', head: head.map((h) => h.replace(/\*/g, '')), rows: rows.map((r) => r.map((x) => x.replace(/\*/g, ''))) }],
    plots: [],
  };
}

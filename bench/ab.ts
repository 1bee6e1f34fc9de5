// A/B of two built checkouts (--a, --b) for the speed constraint of a redesign: feature
// reads, predicts and binary WebSocket ingest, in alternating trials (A, B, A, B, ...),
// each trial a fresh server process of that build, gated on /readyz, loaded with the
// standard data, then measured. Reported per scenario: the median of the per-round B/A
// ratios, and each build's noise against itself (the ratios of its consecutive rounds).
import { describeBuild, loadStandardData, mdTable, msOf, pct, ratioOf, startHotpath } from '../src/bench/harness.js';
import { pairedRatios } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { eventsPerS, INGEST_BATCH, INGEST_CONNECTIONS, ours, viaWrk, warnBad } from './measure.js';

const PORT = { A: 18600, B: 18601 };
/** The ratio a redesign must keep (issue 10: "each median ratio >= 0.97"). */
export const KEEP = 0.97;

interface Trial {
  round: number;
  build: 'A' | 'B';
  /** req/s (events/s for ingest) */
  value: number;
  p99Us: number;
  cpuPer1k: number;
  errors: number;
  generator: string;
}

type AbScenario = { key: 'features' | 'predict' | 'ws-events'; what: string; unit: string };
export const AB_SCENARIOS: AbScenario[] = [
  { key: 'features', what: 'feature reads, GET /v1/features/user/{id}', unit: 'req/s' },
  { key: 'predict', what: 'predicts, POST /v1/predict/fraud', unit: 'req/s' },
  { key: 'ws-events', what: `binary WebSocket ingest, ${INGEST_BATCH} events per frame, ${INGEST_CONNECTIONS} connections`, unit: 'events/s' },
];

/** One trial: a fresh server of `dir`, the standard data, one measurement, stopped. */
async function trial(ctx: Context, dir: string, build: 'A' | 'B', round: number, s: AbScenario): Promise<Trial> {
  const server = await startHotpath(dir, PORT[build], { cpus: ctx.pin?.server });
  try {
    await loadStandardData(server.url);
    if (s.key === 'ws-events') {
      const { r, cpu } = await ours(ctx, server.url, server.pid, 'ws-events', { connections: INGEST_CONNECTIONS, batch: INGEST_BATCH });
      warnBad(`${build} ${s.key} round ${round}`, [r]);
      return { round, build, value: eventsPerS(r), p99Us: r.latencyUs.p99, cpuPer1k: cpu, errors: r.answered - r.ok, generator: 'ours' };
    }
    if (ctx.gen === 'wrk') {
      const w = await viaWrk(ctx, server.url, s.key);
      return { round, build, value: w.rps, p99Us: w.p99Us, cpuPer1k: NaN, errors: w.non2xx + w.socketErrors, generator: 'wrk' };
    }
    const { r, cpu } = await ours(ctx, server.url, server.pid, s.key);
    warnBad(`${build} ${s.key} round ${round}`, [r]);
    return { round, build, value: r.throughput, p99Us: r.latencyUs.p99, cpuPer1k: cpu, errors: r.answered - r.ok, generator: 'ours' };
  } finally {
    await server.stop();
  }
}

const fmtValue = (v: number) => (Number.isNaN(v) ? '-' : v >= 1e6 ? `${(v / 1e6).toFixed(3)}M` : `${(v / 1000).toFixed(2)}k`);
const range = (lo: number, hi: number) => `${lo.toFixed(3)}–${hi.toFixed(3)}`;

export async function runAb(ctx: Context): Promise<Section> {
  const a = ctx.a!;
  const b = ctx.b!;
  const trials = AB_SCENARIOS.length * ctx.rounds * 2;
  const perTrial = ctx.durationMs / 1000 + Math.max(ctx.gen === 'wrk' ? 1 : 0, ctx.warmupMs / 1000) + 1.5; // + start, data, stop
  console.error(`ab: ${trials} trials, about ${((trials * perTrial) / 60).toFixed(1)} min`);
  const results: { scenario: AbScenario; trials: Trial[]; summary: ReturnType<typeof pairedRatios>; p99: ReturnType<typeof pairedRatios> }[] = [];
  for (const s of AB_SCENARIOS) {
    const trials: Trial[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const [build, dir] of [['A', a], ['B', b]] as const) {
        const t = await trial(ctx, dir, build, round, s);
        trials.push(t);
        console.error(`ab ${s.key} round ${round} ${build}: ${fmtValue(t.value)} ${s.unit}, p99 ${msOf(t.p99Us)}${t.errors ? `, ${t.errors} errors` : ''}`);
      }
    }
    const of = (build: 'A' | 'B', f: (t: Trial) => number) => trials.filter((t) => t.build === build).map(f);
    results.push({
      scenario: s,
      trials,
      summary: pairedRatios(of('A', (t) => t.value), of('B', (t) => t.value)),
      p99: pairedRatios(of('A', (t) => t.p99Us), of('B', (t) => t.p99Us)),
    });
  }
  const head = ['scenario', 'generator', 'A median', 'B median', '**B/A** (median of per-round ratios)', 'B/A range', 'A vs A (consecutive rounds: median, range)', 'B vs B', 'spread A / B', `B/A ≥ ${KEEP}`, 'p99 A / B'];
  const rows = results.map(({ scenario: s, trials, summary: x, p99 }) => [
    s.what,
    trials[0]?.generator === 'wrk' ? `wrk -t1 -c${ctx.connections}` : s.key === 'ws-events' ? `ours, ${INGEST_CONNECTIONS} conn.` : `ours, ${ctx.connections} conn.`,
    `${fmtValue(x.a)} ${s.unit}`,
    `${fmtValue(x.b)} ${s.unit}`,
    `**${ratioOf(x.ratio)}**`,
    range(x.ratioMin, x.ratioMax),
    `${ratioOf(x.selfA.median)}, ${range(x.selfA.min, x.selfA.max)}`,
    `${ratioOf(x.selfB.median)}, ${range(x.selfB.min, x.selfB.max)}`,
    `${pct(x.selfA.spread)} / ${pct(x.selfB.spread)}`,
    x.ratio >= KEEP ? 'yes' : '**no**',
    `${msOf(p99.a)} / ${msOf(p99.b)}`,
  ]);
  const perRound = mdTable(
    ['scenario', ...Array.from({ length: ctx.rounds }, (_, i) => `round ${i + 1}: A / B`)],
    results.map(({ scenario: s, trials }) => [s.key, ...Array.from({ length: ctx.rounds }, (_, i) => {
      const [ta, tb] = [trials.find((t) => t.round === i + 1 && t.build === 'A'), trials.find((t) => t.round === i + 1 && t.build === 'B')];
      return `${fmtValue(ta?.value ?? NaN)} / ${fmtValue(tb?.value ?? NaN)}`;
    })]),
  );
  const method = [
    `A = ${describeBuild(a)}, B = ${describeBuild(b)} (each a built checkout: its own dist/ and build/Release/hotpath.node, its own hotpath.yaml and models).`,
    `Method: per scenario, ${ctx.rounds} rounds of A then B; every trial is a fresh \`node dist/cli/main.js serve --config hotpath.yaml\` of that build,`,
    `gated on /readyz (models loaded), loaded with the standard data (20,000 demo transactions: users 1..1000, merchants 1..100), then measured for`,
    `${ctx.durationMs / 1000} s after ${ctx.warmupMs / 1000} s of warm-up, and stopped.`,
    `B/A: the median over rounds of B's value divided by A's in the same round. A vs A: A's round i+1 over its round i (likewise B):`,
    `what a ratio between two runs of the same build looks like on this machine; spread: (max − min) / median of a build's rounds.`,
    ctx.gen === 'ours' ? "Feature reads and predicts by our generator (wrk not used): its ceiling (the peers scenario measures it) can bound feature reads, so a ratio near 1 there can hide a regression." : '',
  ].filter(Boolean).join(' ');
  return {
    key: 'ab',
    title: 'A/B: feature reads, predicts, binary WebSocket ingest',
    md: `${method}\n\n${mdTable(head, rows)}\n\nPer round (${AB_SCENARIOS.map((s) => `${s.key} in ${s.unit}`).join(', ')}):\n\n${perRound}\n`,
    json: { a, b, keep: KEEP, scenarios: results.map((x) => ({ key: x.scenario.key, unit: x.scenario.unit, summary: x.summary, p99Us: x.p99, trials: x.trials })) },
    tables: [{ caption: 'A/B (B / A)', head: head.map((h) => h.replace(/\*/g, '')), rows: rows.map((r) => r.map((c) => c.replace(/\*/g, ''))) }],
    plots: [],
  };
}

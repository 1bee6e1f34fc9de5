// The targets hotpath set itself, hotpath only: ingest over HTTP NDJSON and binary
// WebSocket, closed-loop throughput of feature reads and predicts (wrk when installed: our
// generator's ceiling is below these targets on a small box), open-loop p99 of feature
// reads at 50k req/s and predicts at 25k req/s beside the same open loop against a uWS
// server that does no work (the part of the tail that is this box and this generator),
// and freshness (write an event, read until it shows).
import { runFreshness } from '../src/bench/freshness.js';
import { kilo, loadStandardData, mdTable, msOf, spawnTracked, startHotpath, waitReady } from '../src/bench/harness.js';
import type { LoadResult } from '../src/bench/loadgen.js';
import { median, strip } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { eventsPerS, INGEST_BATCH, INGEST_CONNECTIONS, ours, type Run, viaWrk } from './measure.js';

const HP = 18520;
const UWS = 18521;

interface Target { what: string; target: string; value: number; unit: 'events/s' | 'req/s' | 'us'; pass: boolean; runs: Run[]; floor?: Run[] }

export async function runTargets(ctx: Context): Promise<Section> {
  const hp = await startHotpath(ctx.root, HP, { cpus: ctx.pin?.server });
  const uws = spawnTracked('uws', process.execPath, ['bench/uws-hello.mjs', String(UWS)], { cwd: ctx.root, cpus: ctx.pin?.server });
  try {
    await waitReady(`http://127.0.0.1:${UWS}/`, { proc: uws });
    await loadStandardData(hp.url);
    const targets: Target[] = [];
    const rounds = async (fn: () => Promise<Run>): Promise<Run[]> => {
      const out: Run[] = [];
      for (let i = 0; i < ctx.rounds; i++) out.push(await fn());
      return out;
    };
    const medianOf = (runs: Run[], f: (r: LoadResult) => number) => median(runs.map((x) => f(x.r)));
    for (const [scenario, target] of [['events', 200_000], ['ws-events', 1_000_000]] as const) {
      const runs = await rounds(() => ours(ctx, hp.url, hp.pid, scenario, { connections: INGEST_CONNECTIONS, batch: INGEST_BATCH }));
      const eps = medianOf(runs, (r) => eventsPerS(r));
      targets.push({ what: `ingest, ${scenario === 'events' ? 'HTTP NDJSON' : 'binary WebSocket'}, ${INGEST_BATCH} events per request, ${INGEST_CONNECTIONS} connections`, target: `>= ${kilo(target)} events/s`, value: eps, unit: 'events/s', pass: eps >= target, runs });
    }
    for (const [scenario, target] of [['features', 100_000], ['predict', 50_000]] as const) {
      const xs: number[] = [];
      for (let i = 0; i < ctx.rounds; i++) xs.push(ctx.wrk ? (await viaWrk(ctx, hp.url, scenario)).rps : (await ours(ctx, hp.url, hp.pid, scenario)).r.throughput);
      const t = median(xs);
      targets.push({ what: `${scenario}, closed loop, ${ctx.connections} connections, ${ctx.wrk ? 'wrk -t1' : 'our generator (bounded by its ceiling)'}`, target: `>= ${kilo(target)} req/s`, value: t, unit: 'req/s', pass: t >= target, runs: [] });
    }
    for (const [scenario, rate, p99] of [['features', 50_000, 1000], ['predict', 25_000, 2000]] as const) {
      const runs = await rounds(() => ours(ctx, hp.url, hp.pid, scenario, { rate, connections: 256 }));
      const floor = await rounds(() => ours(ctx, `http://127.0.0.1:${UWS}`, undefined, scenario === 'features' ? 'hello' : 'predict', { rate, connections: 256 }));
      const v = medianOf(runs, (r) => r.latencyUs.p99);
      targets.push({ what: `${scenario}, open loop at ${kilo(rate)} req/s, 256 connections: p99`, target: `<= ${p99 / 1000} ms`, value: v, unit: 'us', pass: v <= p99, runs, floor });
    }
    const fresh = await runFreshness({
      url: hp.url, samples: 5000, entity: 'user', feature: 'last_amount', timeoutMs: 5000,
      event: (id, value) => ({ user_id: id, merchant_id: 'fresh-merchant', amount: value, country: 'FR', channel: 'web' }),
    });
    targets.push({ what: `freshness: write an event, read until it shows (${fresh.samples} samples): p99`, target: '<= 1 ms', value: fresh.latencyUs.p99, unit: 'us', pass: fresh.latencyUs.p99 <= 1000, runs: [] });

    /** Open-loop rounds that did not keep their rate: their percentiles are the generator's backlog. */
    const missed = (runs: Run[]) => runs.filter((x) => !x.r.reachedRate).length;
    const fmt = (t: Target) => (t.unit === 'us' ? msOf(t.value) : t.unit === 'events/s' ? `${(t.value / 1e6).toFixed(2)} M events/s` : `${kilo(t.value)} req/s`);
    const floorOf = (t: Target) => {
      if (!t.floor) return '';
      const m = missed(t.floor);
      if (m > 0) return `none: the generator could not keep the rate against a uWS server that does no work (${m} of ${t.floor.length} rounds)`;
      return `${msOf(medianOf(t.floor, (r) => r.latencyUs.p99))} (uWS server that does no work, same rate)`;
    };
    const lagOf = (t: Target) => (t.runs[0]?.r.sendLagUs ? msOf(medianOf(t.runs, (r) => r.sendLagUs?.p99 ?? NaN)) : '');
    const head = ['what', 'target', 'hotpath', 'pass', 'send lag p99', 'generator floor p99'];
    const rows = targets.map((t) => [t.what, t.target, `${fmt(t)}${missed(t.runs) ? ` (rate not kept in ${missed(t.runs)} of ${t.runs.length} rounds)` : ''}`, t.pass ? 'pass' : '**miss**', lagOf(t), floorOf(t)]);
    const medianRun = (runs: Run[]) => [...runs].sort((x, y) => x.r.latencyUs.p99 - y.r.latencyUs.p99)[runs.length >> 1];
    return {
      key: 'targets',
      title: 'Targets',
      md: [
        `One server for the whole run, loaded with the standard data; ${ctx.rounds} rounds per target, medians.`,
        '',
        mdTable(head, rows),
        '',
        "Send lag: time from a request's due time to its send (a connection was not free, or the generator was late); it is part of the open-loop latency. Generator floor: the same open loop against a uWS server that does no work (GET constant, or POST that parses the predict body), so the part of the p99 that is this box and this generator.",
      ].join('\n'),
      json: { targets: targets.map(({ runs, floor, ...t }) => ({ ...t, runs: runs.map((x) => strip(x.r)), floor: floor?.map((x) => strip(x.r)) })), freshness: { ...fresh, histogram: undefined } },
      tables: [{ caption: 'Targets', head, rows: rows.map((r) => r.map((c) => c.replace(/\*/g, ''))) }],
      plots: [
        ...targets.filter((t) => t.floor).map((t) => ({
          title: t.what,
          series: [{ label: 'hotpath', histogram: medianRun(t.runs).r.histogram }, { label: 'uWS server that does no work (generator floor)', histogram: medianRun(t.floor!).r.histogram }],
        })),
        { title: 'Freshness', series: [{ label: 'write -> first read that sees it', histogram: fresh.histogram }] },
      ],
    };
  } finally {
    await hp.stop();
    await uws.stop();
  }
}

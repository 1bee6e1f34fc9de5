// Serving over HTTP (what bench/serving.sh did): feature reads and predicts against the
// shipped config, closed loop with wrk -t1 (our generator when wrk is not installed),
// beside the uWebSockets.js servers that do no work (bench/uws-hello.mjs: GET answers a
// constant, POST parses the predict body as JSON) in the same rounds; the hotpath/ceiling
// ratio is the number to compare across machines. Then the server's own view of
// predicts from /metrics: batch sizes and the request-duration histogram.
import { kilo, loadStandardData, mdTable, msOf, pct, ratioOf, spawnTracked, startHotpath, waitReady } from '../src/bench/harness.js';
import type { Scenario } from '../src/bench/scenarios.js';
import { median, spread } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { ours, viaWrk } from './measure.js';

const HELLO = 18090;
const HP = 18091;

interface Target { what: string; port: number; scenario: Scenario }

/** The fraud model's batches and request-duration quantiles (bucket bounds) from /metrics text. */
export function serverView(text: string): string {
  const val = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const rows = val(/^hotpath_model_inference_count_total\{model="fraud"\} (\S+)/m);
  const execs = val(/^hotpath_model_execution_count_total\{model="fraud"\} (\S+)/m);
  const buckets = [...text.matchAll(/^hotpath_model_request_duration_seconds_bucket\{model="fraud",le="([^"]+)"\} (\S+)/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  if (!buckets.length) return 'no model histogram in /metrics';
  const total = buckets.at(-1)![1];
  const q = (p: number) => buckets.find(([, c]) => c >= p * total)?.[0] ?? NaN;
  return `fraud: ${rows} rows in ${execs} batches (mean batch ${(rows / execs).toFixed(1)}); request duration p50 <= ${q(0.5) * 1e6} us, ` +
    `p99 <= ${q(0.99) * 1e6} us (histogram bucket bounds, over every round and warm-up)`;
}

export async function runServing(ctx: Context): Promise<Section> {
  const gen = ctx.wrk ? 'wrk' : 'ours';
  const hello = spawnTracked('uws-hello', process.execPath, ['bench/uws-hello.mjs', String(HELLO)], { cwd: ctx.root, cpus: ctx.pin?.server });
  const hp = await startHotpath(ctx.root, HP, { cpus: ctx.pin?.server });
  try {
    await waitReady(`http://127.0.0.1:${HELLO}/`, { proc: hello });
    await loadStandardData(hp.url);
    const targets: Target[] = [
      { what: 'uWS GET hello world (ceiling for reads)', port: HELLO, scenario: 'hello' },
      { what: 'hotpath GET /v1/features/user/{id}', port: HP, scenario: 'features' },
      { what: 'uWS POST, JSON body parsed (ceiling for predict)', port: HELLO, scenario: 'predict' },
      { what: 'hotpath POST /v1/predict/fraud', port: HP, scenario: 'predict' },
    ];
    const got = targets.map(() => ({ rps: [] as number[], p50: [] as number[], p99: [] as number[], errors: 0 }));
    for (let round = 1; round <= ctx.rounds; round++)
      for (const [i, t] of targets.entries()) {
        const url = `http://127.0.0.1:${t.port}`;
        if (gen === 'wrk') {
          const w = await viaWrk(ctx, url, t.scenario);
          got[i].rps.push(w.rps);
          got[i].p50.push(w.p50Us);
          got[i].p99.push(w.p99Us);
          got[i].errors += w.non2xx + w.socketErrors;
        } else {
          const { r } = await ours(ctx, url, undefined, t.scenario);
          got[i].rps.push(r.throughput);
          got[i].p50.push(r.latencyUs.p50);
          got[i].p99.push(r.latencyUs.p99);
          got[i].errors += r.answered - r.ok;
        }
        console.error(`serving round ${round}: ${t.what}: ${kilo(got[i].rps.at(-1)!)} req/s`);
      }
    const view = serverView(await (await fetch(`${hp.url}/metrics`)).text());
    const head = ['target', 'req/s (median)', 'spread', 'p50', 'p99', 'non-2xx + errors', 'hotpath / ceiling'];
    const rows = targets.map((t, i) => {
      const ceiling = t.port === HP ? got[targets.findIndex((c) => c.port === HELLO && c.scenario === (t.scenario === 'features' ? 'hello' : 'predict'))] : undefined;
      return [t.what, kilo(median(got[i].rps)), pct(spread(got[i].rps)), msOf(median(got[i].p50)), msOf(median(got[i].p99)), String(got[i].errors),
        ceiling ? `**${ratioOf(median(got[i].rps) / median(ceiling.rps), 2)}**` : ''];
    });
    const method = `${gen === 'wrk' ? `wrk -t1 -c${ctx.connections}` : `our generator (wrk is not installed), ${ctx.connections} connections`}, closed loop, ` +
      `${ctx.rounds} rounds of every target in turn, ${ctx.durationMs / 1000} s each after ${ctx.warmupMs / 1000} s of warm-up; one server of each kind for the whole run, ` +
      `hotpath loaded with the standard data. Scripts: bench/features.lua, bench/predict.lua.`;
    return {
      key: 'serving',
      title: 'Serving over HTTP, beside uWS servers that do no work',
      md: `${method}\n\n${mdTable(head, rows)}\n\nServer side, ${view}.\n`,
      json: { generator: gen, targets: targets.map((t, i) => ({ ...t, ...got[i] })), serverView: view },
      tables: [{ caption: 'Serving over HTTP', head, rows: rows.map((r) => r.map((c) => c.replace(/\*/g, ''))) }],
      plots: [],
      notes: [`Server side, ${view}.`],
    };
  } finally {
    await hp.stop();
    await hello.stop();
  }
}

// One measurement of a running target, by our generator (src/bench/loadgen.ts) or by wrk,
// the way every scenario of the suite takes it.
import { type LoadResult, runLoad } from '../src/bench/loadgen.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { runWrk, type WrkResult } from '../src/bench/harness.js';
import { buildRequests, type Scenario, scenarioWsPath } from '../src/bench/scenarios.js';
import type { Context } from './context.js';

export interface Run {
  r: LoadResult;
  /** the server's CPU seconds per 1,000 answers (all its threads), NaN when unknown */
  cpu: number;
}

export const OPTS = { ids: 1000, model: 'fraud', entity: 'user', batch: 100, dim: 10, stream: 'transactions' };
/** Events per binary frame (and per NDJSON request) in the ingest measurements. */
export const INGEST_BATCH = 1000;
export const INGEST_CONNECTIONS = 8;

function cpuOf(pid: number | undefined): number {
  try {
    return pid ? cpuSeconds(pid) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Our generator against `url`: closed loop with ctx.connections, or open loop at `rate`.
 * `atWarmupEnd` runs when the warm-up is over and the measured window begins.
 */
export async function ours(
  ctx: Context,
  url: string,
  pid: number | undefined,
  scenario: Scenario,
  more: { rate?: number; connections?: number; batch?: number; atWarmupEnd?: () => void; headers?: Record<string, string>; labelled?: boolean } = {},
): Promise<Run> {
  const c0 = cpuOf(pid);
  const host = new URL(url).host;
  const timer = more.atWarmupEnd ? setTimeout(more.atWarmupEnd, ctx.warmupMs) : undefined;
  const r = await runLoad({
    url,
    requests: buildRequests(scenario, { ...OPTS, batch: more.batch ?? OPTS.batch, host, headers: more.headers, labelled: more.labelled }),
    connections: more.connections ?? ctx.connections,
    durationMs: ctx.durationMs,
    warmupMs: ctx.warmupMs,
    timeoutMs: 5000,
    rate: more.rate,
    ws: scenarioWsPath(scenario),
  });
  clearTimeout(timer);
  const cpu = ((cpuOf(pid) - c0) / Math.max(1, r.answeredTotal)) * 1000;
  return { r, cpu };
}

export const WRK_SCRIPT: Partial<Record<Scenario, string>> = { features: 'bench/features.lua', predict: 'bench/predict.lua' };

/** wrk -t1 closed loop, after a 1 s wrk warm-up (not counted); the scripts are this checkout's. */
export async function viaWrk(ctx: Context, url: string, scenario: Scenario, warm = true, headers?: Record<string, string>): Promise<WrkResult> {
  const script = WRK_SCRIPT[scenario];
  const o = { url, connections: ctx.connections, script, cwd: ctx.root, cpus: ctx.pin?.generator, headers };
  if (warm && ctx.warmupMs > 0) await runWrk({ ...o, durationS: Math.max(1, Math.round(ctx.warmupMs / 1000)) });
  const r = await runWrk({ ...o, durationS: ctx.durationMs / 1000 });
  if (r.non2xx || r.socketErrors) console.error(`wrk ${scenario} on ${url}: ${r.non2xx} non-2xx answers, ${r.socketErrors} socket errors`);
  return r;
}

/** Events in 2xx-answered requests per second. */
export const eventsPerS = (r: LoadResult, batch = INGEST_BATCH): number => (r.ok * batch) / r.durationS;

/** Rounds with errors or non-2xx answers, said on stderr. */
export function warnBad(what: string, runs: LoadResult[]): void {
  const bad = runs.filter((r) => r.answered === 0 || r.ok < r.answered);
  if (bad.length) console.error(`${what}: ${bad.length} of ${runs.length} rounds with errors or non-2xx answers (${bad.flatMap((r) => r.notes).join('; ')})`);
}

// Test hooks, off unless the config turns them on (server.fault_injection): POST
// /v1/debug/fault makes a model stall or fail, or an inference worker crash, in a server
// that runs in another process (the fault bench, bench/faults.ts). In-process tests call
// pool.fault() directly. Off, the route answers HP_ERR_FAULT_INJECTION_OFF (404) before it
// looks at the body; on, it still needs the admin scope.
// GET /v1/debug/slow (admin, always on): the slowest requests of the last minute with their
// stage split (src/server/stages.ts, slow-log.ts).
import { HotpathError } from '../../errors.js';
import { nowMs } from '../../runtime/records.js';
import { MAX_SLOW } from '../slow-log.js';
import { parseJsonBody } from '../http.js';
import type { ServerContext } from './context.js';
import type { Route } from './route.js';

/** The body of POST /v1/debug/fault. */
interface FaultBody {
  /**
   * stall: each batch of the model sleeps `ms`; fail: its next `count` batches throw; crash:
   * the worker's next batch ends its thread; device: the model's next GPU run fails as on a
   * lost device (it answers on the CPU from then on; a model on the CPU is refused)
   */
  fault: 'stall' | 'fail' | 'crash' | 'device';
  model?: string;
  ms?: number;
  count?: number;
  /** stall, fail: the fault ends by itself after this long (without it, it lasts until changed) */
  for_ms?: number;
  /** the worker (default: every worker for stall and fail, worker 0 for crash) */
  worker?: number;
}

const invalid = (why: string) => new HotpathError('HP_ERR_QUERY_INVALID', `POST /v1/debug/fault: ${why}`);

function number(b: Record<string, unknown>, key: string, max: number, integer = false): number | undefined {
  const v = b[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max || (integer && !Number.isInteger(v)))
    throw invalid(`${key} must be ${integer ? 'an integer' : 'a number'} from 0 to ${max}`);
  return v;
}

function parseFault(raw: unknown, workers: number): FaultBody {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('the body must be a JSON object');
  const b = raw as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!['fault', 'model', 'ms', 'count', 'for_ms', 'worker'].includes(k)) throw invalid(`unknown key '${k}'`);
  if (b.fault !== 'stall' && b.fault !== 'fail' && b.fault !== 'crash' && b.fault !== 'device') throw invalid('fault must be stall, fail, crash or device');
  if (b.fault !== 'crash' && typeof b.model !== 'string') throw invalid(`a ${b.fault} fault names its model`);
  if (b.fault === 'stall' && b.ms === undefined) throw invalid('a stall gives ms, the time each batch sleeps (0 ends the stall)');
  return {
    fault: b.fault,
    model: b.model as string | undefined,
    ms: number(b, 'ms', 600_000),
    count: number(b, 'count', 1e9, true),
    for_ms: number(b, 'for_ms', 600_000),
    worker: number(b, 'worker', workers - 1, true),
  };
}

function inject(f: FaultBody, ctx: ServerContext): Record<string, unknown> {
  const pool = ctx.pool;
  const until = f.for_ms === undefined ? 0 : Date.now() + f.for_ms;
  if (f.fault === 'crash') {
    const worker = f.worker ?? 0;
    pool.fault({ type: 'fault', kind: 'crash' }, worker);
    return { fault: 'crash', workers: [worker] };
  }
  const e = ctx.models.get(f.model!);
  if (!e.current) throw new HotpathError('HP_ERR_MODEL_NOT_READY', `model '${e.def.name}' has no version loaded`);
  if (f.fault === 'device' && e.current.device !== 'cuda') throw invalid(`model '${e.def.name}' runs on the ${e.current.device}, not on a GPU`);
  const workers = f.worker === undefined ? Array.from({ length: pool.size }, (_, i) => i) : [f.worker];
  for (const w of workers) pool.fault({ type: 'fault', kind: f.fault, slot: e.current.slot, ms: f.ms, count: f.count ?? 1, until }, w);
  return { fault: f.fault, model: e.def.name, version: e.current.version, workers, until: until || null };
}

/** ?limit= of GET /v1/debug/slow: 1..MAX_SLOW, default 20. */
export function slowLimit(query: string): number {
  const raw = query.length > 0 ? new URLSearchParams(query).get('limit') : null;
  if (raw === null) return 20;
  const n = /^[0-9]{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= MAX_SLOW)) throw new HotpathError('HP_ERR_QUERY_INVALID', `GET /v1/debug/slow: limit must be an integer from 1 to ${MAX_SLOW} (got ${JSON.stringify(raw.slice(0, 32))})`);
  return n;
}

export const debugRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/debug/slow',
    scope: 'admin',
    body: 'none',
    about: 'the slowest requests of the last 60 s with their stage split (?limit=, default 20, at most 100)',
    handle(c, ctx) {
      c.send(200, JSON.stringify(ctx.stages.slowest(slowLimit(c.query), nowMs(), ctx.config.server.stageTiming)));
    },
  },
  {
    method: 'post',
    path: '/v1/debug/fault',
    scope: 'admin',
    body: 'bytes',
    about: 'inject a fault (only with server.fault_injection): {"fault":"stall"|"fail"|"crash"|"device","model",...}',
    handle(c, ctx) {
      if (!ctx.config.server.faultInjection) throw new HotpathError('HP_ERR_FAULT_INJECTION_OFF', 'fault injection is off: set server.fault_injection to true (tests and benchmarks only)');
      c.send(200, JSON.stringify(inject(parseFault(parseJsonBody(c.body), ctx.pool.size), ctx)));
    },
  },
];

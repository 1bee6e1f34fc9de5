// The server a fault-table row runs against (bench/faults.ts): a fresh child process of this
// checkout on a config made from the shipped hotpath.yaml, with its model repositories
// copied to a temporary directory (a row may write a new version into one), the fault
// settings (server.queue_delay_budget, server.fault_injection: true) and the row's own
// server keys, plus `fraud_bare`: the fraud model without a fallback or a breaker (a shed
// is then a 503), and the row's own edits. Loaded with the standard data.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse, stringify } from 'yaml';

import { type HotpathServer, loadStandardData, startHotpath } from '../src/bench/harness.js';
import type { Context } from './context.js';

/** The queue-delay budget the fault rows run with, unless a row turns it off. */
export const BUDGET = '5ms';

export interface FaultServer {
  url: string;
  /** the server process (a new one after restart()) */
  readonly pid: number;
  /** the directory holding each model's repository (<repo>/<model>/<version>/model.onnx) */
  repo: string;
  /** the config the server runs, as YAML */
  yaml: string;
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  /** the samples of /metrics by `name{labels}` */
  metrics(): Promise<Map<string, number>>;
  /** the server's resident memory (KiB), from /proc */
  rssKiB(): number;
  /** stops the server (SIGTERM: it drains) and starts it again on the same config and port */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The row's config: hotpath.yaml's, with `server` keys merged over the fault settings (a key
 * set to null is removed, e.g. `queue_delay_budget: null` for no budget).
 */
export function faultConfig(root: string, repo: string, server: Record<string, unknown> = {}, edit?: (c: Record<string, any>) => void): string {
  const c = parse(readFileSync(join(root, 'hotpath.yaml'), 'utf8')) as Record<string, any>;
  const s: Record<string, unknown> = { ...c.server, host: '127.0.0.1', queue_delay_budget: BUDGET, fault_injection: true, ...server };
  for (const [k, v] of Object.entries(s)) if (v === null) delete s[k];
  c.server = s;
  delete c.demo; // nothing feeds it: the bench sends the traffic
  for (const [name, m] of Object.entries(c.models as Record<string, any>)) {
    cpSync(join(root, m.repository), join(repo, name), { recursive: true });
    m.repository = join(repo, name);
  }
  const { fallback: _f, circuit_breaker: _b, ...bare } = c.models.fraud;
  c.models.fraud_bare = structuredClone(bare);
  edit?.(c);
  return stringify(c);
}

const answer = async (r: Response) => {
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) };
  } catch {
    return { status: r.status, body: text };
  }
};

export async function startFaultServer(ctx: Context, port: number, server?: Record<string, unknown>, edit?: (c: Record<string, any>) => void): Promise<FaultServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hotpath-faults-'));
  const repo = join(dir, 'models');
  const yaml = faultConfig(ctx.root, repo, server, edit);
  const file = join(dir, 'hotpath.yaml');
  writeFileSync(file, yaml);
  let hp: HotpathServer;
  try {
    hp = await startHotpath(ctx.root, port, { config: file, cpus: ctx.pin?.server });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = hp.url;
  const s: FaultServer = {
    url,
    get pid() {
      return hp.pid;
    },
    repo,
    yaml,
    post: async (path, body) => answer(await fetch(url + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) })),
    get: async (path) => answer(await fetch(url + path, { signal: AbortSignal.timeout(2000) })),
    async metrics() {
      const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (line.startsWith('#') || line.length === 0) continue;
        const sp = line.lastIndexOf(' ');
        out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
      }
      return out;
    },
    rssKiB() {
      try {
        return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${hp.pid}/status`, 'utf8'))?.[1] ?? NaN);
      } catch {
        return NaN;
      }
    },
    async restart() {
      await hp.stop(30_000);
      hp = await startHotpath(ctx.root, port, { config: file, cpus: ctx.pin?.server });
    },
    async stop() {
      await hp.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await loadStandardData(url);
  } catch (err) {
    await s.stop();
    throw err;
  }
  return s;
}

/** The change of each sample between two scrapes whose name starts with `prefix` (only those that moved). */
export function delta(before: Map<string, number>, after: Map<string, number>, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (k.startsWith(prefix) && v !== (before.get(k) ?? 0)) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

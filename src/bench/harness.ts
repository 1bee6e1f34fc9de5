// What every benchmark trial needs, written once for the suite (bench/suite.ts and its
// scenario files): start a server in a fresh process (optionally pinned to CPUs with
// taskset), wait until it is ready, load the standard data, stop it; run wrk; render a
// markdown table; describe the machine; name the results file.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { standardEvents } from './scenarios.js';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** the last few KB of its stderr (for the message when it dies) */
  stderr(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
// Interrupted: exit through 'exit' above, so no server is left holding its port.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

/** `cmd args` in `cwd`, under `taskset -c <cpus>` when cpus is given; killed when this process exits. */
export function spawnTracked(name: string, cmd: string, args: string[], o: { cwd: string; cpus?: string; env?: NodeJS.ProcessEnv }): Proc {
  // taskset execs the command: the pid is the server's own.
  const [file, argv] = o.cpus ? ['taskset', ['-c', o.cpus, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { cwd: o.cwd, stdio: ['ignore', 'ignore', 'pipe'], env: o.env ?? process.env });
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    live.delete(child);
    if (code !== null && code !== 0) console.error(`${name} exited with ${code}: ${err.slice(-500)}`);
    else if (signal && signal !== 'SIGTERM' && signal !== 'SIGKILL') console.error(`${name} died of ${signal}`);
  });
  return {
    name,
    child,
    pid: child.pid!,
    stderr: () => err,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Resolves when `url` answers below 500 (or exactly 200 with `ok200`); throws when `proc` exits first or time runs out. */
export async function waitReady(url: string, o: { proc?: Proc; timeoutMs?: number; ok200?: boolean } = {}): Promise<void> {
  const until = Date.now() + (o.timeoutMs ?? 15_000);
  while (Date.now() < until) {
    if (o.proc && (o.proc.child.exitCode !== null || o.proc.child.signalCode !== null))
      throw new Error(`${o.proc.name} exited before it was ready: ${o.proc.stderr().slice(-500)}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (o.ok200 ? r.status === 200 : r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

export interface HotpathServer extends Proc {
  url: string;
  dir: string;
}

/** A built hotpath checkout: dist/cli/main.js and build/Release/hotpath.node. */
export function checkBuilt(dir: string): void {
  for (const f of ['dist/cli/main.js', 'build/Release/hotpath.node', 'hotpath.yaml'])
    if (!existsSync(join(dir, f))) throw new Error(`${dir} is not a built hotpath checkout: ${f} is missing (npx tsc -p tsconfig.build.json; npm run build)`);
}

/**
 * `node [nodeArgs] dist/cli/main.js serve --config hotpath.yaml [args]` of the checkout `dir`, on
 * 127.0.0.1:port, returned once /readyz answers 200 (every model loaded).
 */
export async function startHotpath(dir: string, port: number, o: { cpus?: string; nodeArgs?: string[]; config?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<HotpathServer> {
  checkBuilt(dir);
  const args = [...(o.nodeArgs ?? []), 'dist/cli/main.js', 'serve', '--config', o.config ?? 'hotpath.yaml', '--host', '127.0.0.1', '--port', String(port), ...(o.args ?? [])];
  const p = spawnTracked(`hotpath (${dir})`, process.execPath, args, { cwd: dir, cpus: o.cpus, env: o.env });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${url}/readyz`, { proc: p, ok200: true });
  } catch (err) {
    await p.stop();
    throw err;
  }
  return { ...p, url, dir };
}

/**
 * The standard data (src/bench/scenarios.ts: 20,000 demo transactions, users 1..1000 and
 * merchants 1..100), in NDJSON requests of 5,000 events: a body stays under the shipped
 * config's 1 MiB limit.
 */
export async function loadStandardData(url: string, now = Date.now()): Promise<void> {
  const events = standardEvents(now);
  for (let part = 0; part < events.length; part += 5000) {
    const body = events.slice(part, part + 5000).map((e) => JSON.stringify(e)).join('\n');
    const r = await fetch(`${url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
    if (r.status !== 200) throw new Error(`ingest into ${url}: ${r.status} ${await r.text()}`);
  }
}

/** Whether wrk is installed (`wrk --version` exits 1 when it is). */
export function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1;
  }
}

export interface WrkResult {
  rps: number;
  p50Us: number;
  p99Us: number;
  non2xx: number;
  socketErrors: number;
}

const usOf = (m: RegExpExecArray | null) => (m ? Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1e6) : NaN);

/** Parses wrk --latency output. */
export function parseWrk(out: string): WrkResult {
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Us: usOf(/\n\s+50%\s+([\d.]+)(us|ms|s)\b/.exec(out)),
    p99Us: usOf(/\n\s+99%\s+([\d.]+)(us|ms|s)\b/.exec(out)),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: errs ? errs.slice(1).reduce((s, x) => s + Number(x), 0) : 0,
  };
}

/** wrk -t1 closed loop (async: a server in this process keeps answering). */
export function runWrk(o: { url: string; connections: number; durationS: number; script?: string; cwd: string; cpus?: string }): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--latency', ...(o.script ? ['-s', o.script] : []), `${o.url}/`];
  const [file, argv] = o.cpus ? ['taskset', ['-c', o.cpus, 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const c = spawn(file, argv, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(c);
    c.once('exit', () => live.delete(c));
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited with ${code}: ${out.slice(-500)}`))));
  });
}

/** Pins this process (all its threads) to `cpus` with taskset; the generator runs here. */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

/** "--pin 0/1": the server's CPUs, then the generator's (taskset lists). */
export function parsePin(v: string | undefined): { server: string; generator: string } | undefined {
  if (!v || v === 'none') return undefined;
  const m = /^([\d,-]+)\/([\d,-]+)$/.exec(v);
  if (!m) throw new Error(`--pin wants SERVER_CPUS/GENERATOR_CPUS (taskset lists, e.g. 0/1), got '${v}'`);
  return { server: m[1], generator: m[2] };
}

export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'cpu'}, ${process.version}, ${process.platform}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the start`;
}

export function mdTable(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** 1.2M, 85.3k */
export const kilo = (v: number): string => (Number.isNaN(v) ? '-' : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1000).toFixed(1)}k`);
/** microseconds as "2.31 ms" */
export const msOf = (us: number): string => (Number.isNaN(us) ? '-' : `${(us / 1000).toFixed(2)} ms`);
export const ratioOf = (x: number, d = 3): string => (Number.isNaN(x) ? '-' : `${x.toFixed(d)}×`);
export const pct = (x: number): string => (Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)} %`);

/** bench/results/<date>-<suite>.<ext>, with -2, -3, ... when a run of the same day and suite is there already. */
export function resultBase(dir: string, date: string, suite: string): string {
  for (let i = 1; ; i++) {
    const base = join(dir, `${date}-${suite}${i === 1 ? '' : `-${i}`}`);
    if (!existsSync(`${base}.md`)) return base;
  }
}

/** "`/path` (git 1a2b3c4, uncommitted changes)": which code a build directory holds. */
export function describeBuild(dir: string): string {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const head = git('rev-parse', '--short', 'HEAD');
  const dirty = head && git('status', '--porcelain', '--untracked-files=no') !== '';
  return `\`${dir}\`${head ? ` (git ${head}${dirty ? ', uncommitted changes' : ''})` : ''}`;
}

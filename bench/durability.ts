// Durability, measured (`npm run bench -- --only durability`):
//   - the write-ahead log's cost on binary WebSocket ingest: no data directory, fsync:
//     interval (10 ms) and fsync: always, a fresh server per trial, in alternating rounds;
//   - recovery: events ingested for a while, the server killed (SIGKILL), restarted: the
//     replay rate and the recovery time per 1M events, from its /metrics;
//   - a snapshot of 1M entities while ingest goes on (bench/durability-snapshot.ts in its
//     own process): time to durable, the ingest thread's longest call, and the restore;
//   - the crash table (src/bench/crash.ts): kill -9 at random moments under HTTP and
//     WebSocket load, restart, count: fsync always and interval.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type CrashReport, runCrash } from '../src/bench/crash.js';
import { kilo, mdTable, ratioOf, startHotpath } from '../src/bench/harness.js';
import { median } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { eventsPerS, INGEST_BATCH, INGEST_CONNECTIONS, ours } from './measure.js';

const PORT = 18540;
type Mode = 'none' | 'interval' | 'always';

/** hotpath.yaml with a durability section (none: as shipped). */
function configFor(ctx: Context, dir: string, mode: Mode, extra = ''): string {
  const path = join(dir, `hotpath-${mode}${extra ? '-x' : ''}.yaml`);
  const shipped = readFileSync(join(ctx.root, 'hotpath.yaml'), 'utf8').replace(/repository: models\//g, `repository: ${ctx.root}models/`);
  writeFileSync(path, mode === 'none' ? shipped : `durability: { fsync: ${mode}, fsync_interval: 10ms${extra} }\n${shipped}`);
  return path;
}

async function walCost(ctx: Context, work: string) {
  const modes: Mode[] = ['none', 'interval', 'always'];
  const eps: Record<Mode, number[]> = { none: [], interval: [], always: [] };
  for (let round = 0; round < ctx.rounds; round++) {
    const order = round % 2 === 0 ? modes : [...modes].reverse();
    for (const mode of order) {
      const data = join(work, `data-${mode}-${round}`);
      const hp = await startHotpath(ctx.root, PORT, { cpus: ctx.pin?.server, config: configFor(ctx, work, mode), args: mode === 'none' ? [] : ['--data-dir', data] });
      try {
        const run = await ours(ctx, hp.url, hp.pid, 'ws-events', { connections: INGEST_CONNECTIONS, batch: INGEST_BATCH });
        eps[mode].push(eventsPerS(run.r));
      } finally {
        await hp.stop();
        rmSync(data, { recursive: true, force: true });
      }
    }
  }
  return eps;
}

async function recovery(ctx: Context, work: string) {
  const data = join(work, 'data-recovery');
  // No snapshot during the run (not by time, not by log size): the restart replays the
  // whole log, and its time is the replay's (a snapshot's restore would be in it too).
  const config = configFor(ctx, work, 'interval', ', snapshot_interval: 0, snapshot_log_bytes: 1000GiB');
  let hp = await startHotpath(ctx.root, PORT, { cpus: ctx.pin?.server, config, args: ['--data-dir', data] });
  await ours({ ...ctx, durationMs: 2 * ctx.durationMs, warmupMs: 0 }, hp.url, hp.pid, 'ws-events', { connections: INGEST_CONNECTIONS, batch: INGEST_BATCH });
  hp.child.kill('SIGKILL');
  await new Promise((r) => hp.child.once('exit', r));
  const t0 = performance.now();
  hp = await startHotpath(ctx.root, PORT, { cpus: ctx.pin?.server, config, args: ['--data-dir', data] });
  const startMs = performance.now() - t0;
  const text = await (await fetch(`${hp.url}/metrics`)).text();
  await hp.stop();
  rmSync(data, { recursive: true, force: true });
  const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const events = num('hotpath_recovery_replayed_events');
  const seconds = num('hotpath_recovery_seconds');
  return { events, seconds, rate: events / seconds, perMillionS: seconds / (events / 1e6), startMs };
}

function snapshotChild(ctx: Context, work: string, entities: number, events: number) {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/durability-snapshot.ts', '--entities', String(entities), '--events', String(events), '--dir', join(work, 'snap')], {
    cwd: ctx.root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error('bench/durability-snapshot.ts printed no RESULT');
  return JSON.parse(line.slice(7)) as Record<string, number>;
}

export async function runDurability(ctx: Context): Promise<Section> {
  const work = mkdtempSync(join(tmpdir(), 'hotpath-bench-durability-'));
  try {
    console.error('durability: WAL cost on binary WebSocket ingest');
    const eps = await walCost(ctx, work);
    console.error('durability: recovery');
    const rec = await recovery(ctx, work);
    console.error('durability: snapshot of 1M entities');
    const snap = snapshotChild(ctx, work, 1_000_000, 10_000_000);
    console.error('durability: crash table');
    const crashes: CrashReport[] = [];
    for (const fsync of ['always', 'interval'] as const)
      crashes.push(await runCrash({ root: ctx.root, fsync, kills: 25, port: PORT + 1, seed: 11, log: (l) => console.error(`  ${l}`) }));

    const ratio = (m: Mode) => eps[m].map((x, i) => x / eps.none[i]);
    const walRows = (['none', 'interval', 'always'] as Mode[]).map((m) => [
      m === 'none' ? 'no data directory' : `fsync: ${m}${m === 'interval' ? ' (10 ms)' : ''}`,
      `${(median(eps[m]) / 1e6).toFixed(2)} M events/s`,
      eps[m].map((x) => (x / 1e6).toFixed(2)).join(', '),
      m === 'none' ? '' : `${ratioOf(median(ratio(m)), 2)} (${ratio(m).map((x) => x.toFixed(2)).join(', ')})`,
      m === 'interval' ? '>= 0.80×' : m === 'always' ? 'reported' : '',
    ]);
    const crashRows = crashes.map((c) => [
      `fsync: ${c.fsync}${c.fsyncIntervalMs ? ` (${c.fsyncIntervalMs} ms)` : ''}`, String(c.kills.length), String(c.acked), String(c.unknown), String(c.recovered), String(c.lost),
      String(c.violations.length), `${median(c.kills.map((k) => k.restartMs)).toFixed(0)} ms`,
      c.fsyncIntervalMs ? `${Math.round((c.ackRate * c.fsyncIntervalMs) / 1000)} events (ack rate ${kilo(c.ackRate)}/s × interval)` : 'none',
    ]);
    const mdSnap = mdTable(['', 'measured', 'target'], [
      ['entities, events', `${snap.entities.toLocaleString('en')} entities, ${snap.events.toLocaleString('en')} events`, ''],
      ['snapshot, cut to durable (fdatasync)', `${(snap.snapshotMs / 1000).toFixed(2)} s (${(snap.bytes / 1e6).toFixed(0)} MB, ${snap.bytesPerEntity.toFixed(0)} B per entity)`, '<= 2 s'],
      ['the cut (synchronous, on the ingest thread)', `${snap.cutMs.toFixed(1)} ms`, ''],
      ['longest ingest call (1,000 events) during the snapshot', `${snap.ingestMaxMsDuring.toFixed(2)} ms (${snap.ingestMaxMsBaseline.toFixed(2)} ms without a snapshot)`, 'a few ms'],
      ['longest copy-aside of a row by the ingest thread', `${(snap.maxStallUs / 1000).toFixed(2)} ms (${snap.writerCopies} rows copied)`, ''],
      ['ingest rate during / without the snapshot', `${(snap.ingestRateDuring / 1e6).toFixed(2)} / ${(snap.ingestRateBaseline / 1e6).toFixed(2)} M events/s`, ''],
      ['restore into a fresh store', `${(snap.restoreMs / 1000).toFixed(2)} s (first touch of as many fresh bytes, ${(snap.allocatedBytes / 1e9).toFixed(2)} GB, in the same process: ${(snap.touchMs / 1000).toFixed(2)} s)`, ''],
    ]);
    const md = [
      '### WAL cost on binary WebSocket ingest',
      '',
      `Our generator, ${INGEST_CONNECTIONS} connections, ${INGEST_BATCH} events per frame, a fresh server per trial (shipped config), modes in alternating order.`,
      '',
      mdTable(['mode', 'median', 'rounds', 'vs no data directory (rounds)', 'target'], walRows),
      '',
      '### Recovery',
      '',
      `Ingest for ${(2 * ctx.durationMs) / 1000} s (fsync: interval), SIGKILL, restart: ${rec.events.toLocaleString('en')} events replayed in ${rec.seconds.toFixed(2)} s: **${(rec.rate / 1e6).toFixed(2)} M events/s** (target >= 1M/s), ${rec.perMillionS.toFixed(2)} s per 1M events; kill to ready ${(rec.startMs / 1000).toFixed(2)} s (process start, replay, model load).`,
      '',
      '### Snapshot of 1M entities under ingest',
      '',
      'bench/durability-snapshot.ts: the store micro-benchmark\'s ten features, uniform ids; one thread ingests batches of 1,000 events while the snapshot is written on the thread pool.',
      '',
      mdSnap,
      '',
      '### Crash table',
      '',
      'src/bench/crash.ts: 2,000 entities; 4 HTTP clients (20-event JSON batches) and 2 WebSocket clients (200-event binary frames); SIGKILL after 150-600 ms of load, restart, 25 times; snapshots every second and every 2 MiB of log, so kills also land during snapshots. "in flight" events were sent but not answered when the server died (their outcome is unknown); a count below the acknowledged one is a loss.',
      '',
      mdTable(['mode', 'kills', 'acknowledged', 'in flight at a kill', 'recovered', 'lost', 'entities off', 'kill to ready (median)', 'machine crash could lose'], crashRows),
      '',
      'With `interval` and `off` a record is written (write(2)) before its batch is acknowledged, so a killed process loses nothing acknowledged; only a crash of the machine loses what was not yet fsynced, at most about one interval of acknowledged events (the last column: the measured acknowledgement rate times the interval).',
    ].join('\n');
    return {
      key: 'durability',
      title: 'Durability: WAL cost, recovery, snapshot, crash table',
      md,
      json: { walEventsPerS: eps, recovery: rec, snapshot: snap, crashes },
      tables: [
        { caption: 'WAL cost on binary WebSocket ingest', head: ['mode', 'median', 'rounds', 'vs no data directory', 'target'], rows: walRows },
        { caption: 'Crash table', head: ['mode', 'kills', 'acknowledged', 'in flight', 'recovered', 'lost', 'entities off', 'kill to ready', 'machine crash could lose'], rows: crashRows },
      ],
      plots: [],
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

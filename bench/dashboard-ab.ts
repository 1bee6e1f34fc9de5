// The dashboard's cost to the server (issue 16: a page open for an hour costs at most 1 % of
// throughput), and the page's memory over time.
//
//   npx tsx bench/dashboard-ab.ts [--cpu-rounds 3] [--cpu-seconds 30] [--rounds 8] [--seconds 10] [--heap-minutes 4]
//
// 0. CPU: the server's CPU time (all threads, /proc/<pid>/stat) over --cpu-seconds with no
//    page and with one page open, alternating, with a steady light load (200 feature reads a
//    second, so that the snapshot has rates and quantiles to compute). The difference per
//    second is the share of a core the dashboard takes: on a server whose main thread is
//    saturated, the most throughput it can cost.
// 1. Throughput: one server process (this checkout's dist/, the shipped hotpath.yaml, the
//    standard data), feature reads with wrk (bench/features.lua, 1 thread, 32 connections)
//    in alternating rounds: A with no dashboard page, B with one page subscribed to
//    /dashboard/ws (a WebSocket client that reads the snapshots: the server does for it
//    exactly what it does for a browser). Reported: each round, the median of the per-round
//    ratios B/A, and A's noise against itself (its consecutive rounds).
// 2. Memory: chromium (playwright-core, headless) keeps the page open against the same server
//    under a light load of reads; every 20 s a garbage collection is forced (CDP
//    HeapProfiler.collectGarbage) and the JS heap in use is read (Runtime.getHeapUsage).
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';
import WebSocket from 'ws';

import { describeBuild, loadStandardData, machine, mdTable, runWrk, startHotpath } from '../src/bench/harness.js';
import { cpuSeconds } from '../src/bench/proc.js';
import { median, pairedRatios } from '../src/bench/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PORT = 18640;
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 8);
const SECONDS = arg('seconds', 10);
const HEAP_MINUTES = arg('heap-minutes', 4);
const CPU_ROUNDS = arg('cpu-rounds', 3);
const CPU_SECONDS = arg('cpu-seconds', 30);

function openPage(url: string): Promise<{ close(): void; received: () => number }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/dashboard/ws`);
  let n = 0;
  ws.on('message', () => n++);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ close: () => ws.close(), received: () => n }));
    ws.once('error', reject);
  });
}

const server = await startHotpath(ROOT, PORT);
try {
  await loadStandardData(server.url);
  if (CPU_ROUNDS > 0) {
    const steady = setInterval(() => void fetch(`${server.url}/v1/features/user/user-${1 + Math.floor(Math.random() * 1000)}`).then((r) => r.text()), 5);
    const cpuOver = async () => {
      const c0 = cpuSeconds(server.child.pid!);
      const t0 = performance.now();
      await new Promise((res) => setTimeout(res, CPU_SECONDS * 1000));
      return (cpuSeconds(server.child.pid!) - c0) / ((performance.now() - t0) / 1000);
    };
    const rows: string[][] = [];
    const diffs: number[] = [];
    try {
      for (let r = 0; r < CPU_ROUNDS; r++) {
        const without = await cpuOver();
        const page = await openPage(server.url);
        const withPage = await cpuOver();
        const got = page.received();
        page.close();
        diffs.push(withPage - without);
        rows.push([String(r + 1), (without * 100).toFixed(2), (withPage * 100).toFixed(2), ((withPage - without) * 100).toFixed(3), String(got)]);
        console.log(`cpu round ${r + 1}: no page ${(without * 100).toFixed(2)} % of a core, one page ${(withPage * 100).toFixed(2)} % (${got} snapshots)`);
      }
    } finally {
      clearInterval(steady);
    }
    console.log(`\n${mdTable(['round', 'server CPU, no page (% of a core)', 'server CPU, one page (%)', 'difference (points)', 'snapshots received'], rows)}`);
    console.log(`\nmedian difference: ${(median(diffs) * 100).toFixed(3)} % of a core\n`);
  }

  const wrk = () => runWrk({ url: server.url, connections: 32, durationS: SECONDS, script: 'bench/features.lua', cwd: ROOT });
  const a: number[] = [];
  const b: number[] = [];
  const rows: string[][] = [];
  if (ROUNDS > 0) await wrk(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const ra = await wrk();
    const page = await openPage(server.url);
    await new Promise((res) => setTimeout(res, 1100)); // the feed's timer is running
    const rb = await wrk();
    const got = page.received();
    page.close();
    a.push(ra.rps);
    b.push(rb.rps);
    rows.push([String(r + 1), ra.rps.toFixed(0), rb.rps.toFixed(0), (rb.rps / ra.rps).toFixed(3), String(got), String(ra.non2xx + rb.non2xx)]);
    console.log(`round ${r + 1}: A ${ra.rps.toFixed(0)} req/s, B ${rb.rps.toFixed(0)} req/s (${got} snapshots), B/A ${(rb.rps / ra.rps).toFixed(3)}`);
  }
  const p = pairedRatios(a, b);
  if (ROUNDS > 0) console.log(`\n${machine()}; ${describeBuild(ROOT)}; node ${process.version}; ${ROUNDS} rounds of ${SECONDS} s\n`);
  if (ROUNDS > 0) console.log(mdTable(['round', 'A: no page (req/s)', 'B: one page (req/s)', 'B/A', 'snapshots received in B', 'non-2xx'], rows));
  if (ROUNDS > 0) console.log(`\nmedian B/A ${p.ratio.toFixed(3)} (range ${p.ratioMin.toFixed(3)}..${p.ratioMax.toFixed(3)}); A against itself: median ${p.selfA.median.toFixed(3)} (range ${p.selfA.min.toFixed(3)}..${p.selfA.max.toFixed(3)})`);

  if (HEAP_MINUTES > 0) {
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
    const load = setInterval(() => void fetch(`${server.url}/v1/features/user/user-${1 + Math.floor(Math.random() * 1000)}`).then((r) => r.text()), 5);
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
      const cdp = await page.context().newCDPSession(page);
      await page.goto(`${server.url}/dashboard`);
      const heap: string[][] = [];
      const start = Date.now();
      for (;;) {
        const elapsed = (Date.now() - start) / 1000;
        await cdp.send('HeapProfiler.collectGarbage');
        const u = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
        const snaps = (await page.evaluate(() => (window as any).hotpathDashboard.snapshots)) as number;
        const dom = (await page.evaluate(() => document.getElementsByTagName('*').length)) as number;
        heap.push([elapsed.toFixed(0), String(snaps), (u.usedSize / 1024).toFixed(0), (u.totalSize / 1024).toFixed(0), String(dom)]);
        console.log(`t=${elapsed.toFixed(0)} s: ${snaps} snapshots, JS heap used ${(u.usedSize / 1024).toFixed(0)} KiB, DOM nodes ${dom}`);
        if (elapsed >= HEAP_MINUTES * 60) break;
        await page.waitForTimeout(20_000);
      }
      console.log(`\n${mdTable(['t (s)', 'snapshots', 'JS heap used after GC (KiB)', 'JS heap total (KiB)', 'DOM nodes'], heap)}`);
    } finally {
      clearInterval(load);
      await browser.close();
    }
  }
} finally {
  await server.stop();
}

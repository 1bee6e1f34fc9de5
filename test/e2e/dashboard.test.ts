// The live dashboard in a real browser: playwright-core drives the Debian chromium,
// headless, against a real server on port 0 under a light load (events, predicts and
// feature reads in a loop). The charts receive data and update, the page logs no error,
// and it reconnects by itself after the server restarts on the same port. It takes a
// screenshot under load: docs/dashboard.png with HOTPATH_DASHBOARD_SCREENSHOT=1.
//
// Skipped, with a line that says so, only when chromium is absent and HOTPATH_CI is unset:
// CI installs it (apt-get install -y chromium) and must run this.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';

import { type Proc, spawnTracked, waitReady } from '../../src/bench/harness.js';
import { FRAUD_INPUTS, FRAUD_V1, makeRepo, postJson, STORE_YAML } from '../support/inference-server.js';

// The screenshot is always taken; it replaces the committed docs/dashboard.png only when
// asked (HOTPATH_DASHBOARD_SCREENSHOT=1), so that a test run leaves the tree clean.
const SCREENSHOT = process.env.HOTPATH_DASHBOARD_SCREENSHOT === '1' ? fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url)) : join(tmpdir(), `hotpath-dashboard-${process.pid}.png`);

function findChromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const executablePath = findChromium();
const skip = executablePath === undefined && !process.env.HOTPATH_CI;
if (skip) console.log('test/e2e/dashboard.test.ts: skipped: no chromium (apt-get install chromium, or CHROMIUM=<path>); HOTPATH_CI makes this a failure');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
writeFileSync(
  join(repo, 'hotpath.yaml'),
  `
server: { workers: 2 }
${STORE_YAML}
models:
  fraud:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    fallback: { constant: 0.5 }
    circuit_breaker: { error_rate: 0.5, window: 10s, min_requests: 20, open_for: 5s }
bandits:
  homepage: { policy: thompson, arms: [a, b] }
experiments:
  ranker:
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: fraud }
`,
);

// The same with auth on: one API key with the scope admin.
const KEY = `hp_${randomBytes(24).toString('base64url')}`;
writeFileSync(join(repo, 'keys.yaml'), `keys:\n  - { name: dashboard, sha256: ${createHash('sha256').update(KEY).digest('hex')}, scopes: [admin] }\n`);
writeFileSync(join(repo, 'auth.yaml'), `${readFileSync(join(repo, 'hotpath.yaml'), 'utf8')}\nauth:\n  keys_file: keys.yaml\n`);

/** \`hotpath serve\` from the sources in a child process (a restart is a new process, as in production). */
async function start(port: number, config = 'hotpath.yaml'): Promise<Proc> {
  const p = spawnTracked('hotpath (dashboard e2e)', process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', join(repo, config), '--host', '127.0.0.1', '--port', String(port)], { cwd: ROOT });
  await waitReady(`http://127.0.0.1:${port}/readyz`, { proc: p, ok200: true, timeoutMs: 60_000 });
  return p;
}

async function stop(p: Proc): Promise<void> {
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await exited;
}

/** A port free now (the child listens on it, and again after its restart). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Events (one in 20 late), predicts and feature reads against `base` until stopped. */
function load(base: string): () => void {
  let i = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    const events = [];
    for (let k = 0; k < 10; k++, i++) events.push({ user_id: `u${i % 50}`, merchant_id: `m${i % 7}`, amount: (i * 37) % 1000, country: 'FR', ts: i % 20 === 0 ? now - 3 * 3600_000 : now });
    const done = () => undefined;
    postJson(base, '/v1/events', events).catch(done);
    for (let k = 0; k < 5; k++) postJson(base, '/v1/predict/fraud', { entities: { user: `u${(i + k) % 50}`, merchant: 'm1' }, fields: { amount: 10 + k } }).catch(done);
    fetch(`${base}/v1/features/user/u${i % 50}`).then((r) => r.text(), done);
    postJson(base, '/v1/bandits/homepage/choose', {}).then((r) => postJson(base, '/v1/bandits/homepage/reward', { decision_id: r.body.decision_id, reward: r.body.arm === 'a' ? 1 : 0 }), done).catch(done);
    postJson(base, '/v1/experiments/ranker/serve', { unit: `u${i % 50}`, entities: { user: `u${i % 50}`, merchant: 'm1' }, fields: { amount: 10 } }).catch(done);
  }, 10);
  return () => clearInterval(timer);
}

const state = async (page: Page) =>
  page.evaluate(() => {
    const d = (window as any).hotpathDashboard;
    return { snapshots: d.snapshots as number, connects: d.connects as number, points: Object.fromEntries(Object.entries(d.charts).map(([k, c]: [string, any]) => [k, c.points as number])) as Record<string, number> };
  });

async function waitFor<T>(page: Page, what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await page.waitForTimeout(200);
  }
}

describe.skipIf(skip)('the dashboard in chromium', () => {
  let browser: Browser | undefined;
  let server: Proc | undefined;
  let stopLoad = () => {};
  afterAll(async () => {
    stopLoad();
    await browser?.close();
    if (server) await stop(server);
  });

  it('draws live data under load, logs no error, and reconnects after a restart on the same port', async () => {
    if (executablePath === undefined) throw new Error('HOTPATH_CI is set and chromium is not installed (apt-get install -y chromium)');
    const port = await freePort();
    server = await start(port);
    const base = `http://127.0.0.1:${port}`;
    stopLoad = load(base);

    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    const answer = await page.goto(`${base}/dashboard`);
    expect(answer?.status()).toBe(200);

    // Data arrives and every chart draws it.
    const first = await waitFor(page, 'snapshots', () => state(page), (s) => s.snapshots >= 3);
    expect(first.connects).toBe(1);
    expect(await page.locator('.uplot canvas').count()).toBe(10);
    await page.waitForTimeout(2500);
    const later = await state(page);
    expect(later.snapshots).toBeGreaterThanOrEqual(first.snapshots + 2);
    for (const chart of ['rates', 'routes', 'stages', 'latency', 'queue', 'batch', 'batchSizes', 'rings', 'freshness', 'fallbacks'])
      expect(later.points[chart], chart).toBeGreaterThan(first.points[chart]);
    expect(await page.locator('#status').textContent()).toBe('live');
    expect(Number(await page.locator('#count').textContent())).toBeGreaterThanOrEqual(later.snapshots - 1);
    // The bandit's arms and the experiment's variants, one row each, with what they learned and saw
    expect(await page.locator('#bandits tbody tr').count()).toBe(2);
    const pulls = (await page.locator('#bandits tbody tr td:nth-child(3)').allTextContents()).map(Number);
    expect(pulls[0] + pulls[1]).toBeGreaterThan(0);
    expect(await page.locator('#experiments tbody tr td:nth-child(2)').allTextContents()).toEqual(['control', 'treatment']);
    const exposures = (await page.locator('#experiments tbody tr td:nth-child(3)').allTextContents()).map(Number);
    expect(exposures[0] + exposures[1]).toBeGreaterThan(0);
    const last = await page.evaluate(() => (window as any).hotpathDashboard.last);
    expect(last.rates.events).toBeGreaterThan(100);
    expect(last.rates.predicts).toBeGreaterThan(50);
    expect(last.rings).toHaveLength(2);

    // A screenshot with a few seconds of history under load.
    await waitFor(page, 'history', () => state(page), (s) => s.snapshots >= 12, 20_000);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
    expect(errors).toEqual([]);

    // The stage chart shows one route class, the one picked in its select: the events' stages
    // once events is picked.
    const routes = await page.locator('#stage-route option').allTextContents();
    expect(routes.sort()).toEqual(['events', 'features', 'predict']);
    const stageLabels = () => page.evaluate(() => (window as any).hotpathDashboard.charts.stages.names.split('\u0000'));
    await page.selectOption('#stage-route', 'events');
    await waitFor(page, 'the events stages', stageLabels, (l: string[]) => l.join() === 'parse p50,parse p99,parse p99.9,apply p50,apply p99,apply p99.9,durable p50,durable p99,durable p99.9');
    await waitFor(page, 'events stage points', () => state(page), (s) => s.points.stages >= 2);

    // The server stops; a new one starts on the same port; the page comes back by itself.
    const before = await state(page);
    await stop(server);
    server = undefined;
    await waitFor(page, 'the page to see the close', () => page.locator('#status').textContent(), (t) => t === 'reconnecting');
    await page.waitForTimeout(1500); // at least one attempt fails while nothing listens
    server = await start(port);
    const after = await waitFor(page, 'reconnect', () => state(page), (s) => s.connects === 2 && s.snapshots >= before.snapshots + 3, 20_000);
    expect(after.connects).toBe(2);
    expect(await page.locator('#status').textContent()).toBe('live');
    // Chromium reports the attempts made while nothing listened as failed connections: those
    // are the restart's; nothing else may have been logged.
    expect(errors.filter((e) => !/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/dashboard\/ws' failed/.test(e))).toEqual([]);
  }, 90_000);

  it('with auth on: refuses the page without a key, and works with ?key= (assets and WebSocket included)', async () => {
    if (executablePath === undefined) throw new Error('HOTPATH_CI is set and chromium is not installed (apt-get install -y chromium)');
    const port = await freePort();
    const secured = await start(port, 'auth.yaml');
    try {
      browser ??= await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
      // Without a key: refused (a page of its own: chromium logs the 401, and then asks for a favicon).
      const refused = await browser.newPage();
      expect((await refused.goto(`http://127.0.0.1:${port}/dashboard`))?.status()).toBe(401);
      await refused.close();
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
      expect((await page.goto(`http://127.0.0.1:${port}/dashboard?key=${encodeURIComponent(KEY)}`))?.status()).toBe(200);
      const s = await waitFor(page, 'snapshots', () => state(page), (v) => v.snapshots >= 2);
      expect(s.connects).toBe(1);
      expect(await page.locator('.uplot canvas').count()).toBe(10);
      expect(errors, errors.join('\n')).toEqual([]);
    } finally {
      await stop(secured);
    }
  }, 60_000);
});

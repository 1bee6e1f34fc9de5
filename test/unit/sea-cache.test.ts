// The single executable's cache directory (src/native/sea.ts removeStaleSeaDirs): old
// builds' directories go, those in use or recently touched stay, whatever does not look like
// a build's directory is never touched. No executable is built here (test/integration/
// sea.test.ts runs the real one).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import { IN_USE, removeStaleSeaDirs, STALE_AFTER_MS } from '../../src/native/sea.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const NOW = Date.UTC(2026, 11, 6, 12);
const DAY = 24 * 3600_000;
const key = (n: number) => n.toString(16).padStart(32, 'a');
const KEEP = key(0);
const DEAD = 900_001;
const LIVE = 900_002;
const alive = (pid: number) => pid === LIVE;
const nothingMapped = () => new Set<string>();

let cache: string;
afterEach(() => rmSync(cache, { recursive: true, force: true }));

/** A build's directory: its files, users registered (pid -> ms since touched), the directory touched `ageMs` ago. */
function build(name: string, ageMs: number, users: Record<number, number> = {}): string {
  const dir = join(cache, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'hotpath.node'), 'x');
  if (Object.keys(users).length > 0) mkdirSync(join(dir, IN_USE));
  for (const [pid, touched] of Object.entries(users)) {
    const m = join(dir, IN_USE, pid);
    writeFileSync(m, '');
    utimesSync(m, new Date(NOW - touched), new Date(NOW - touched));
  }
  utimesSync(dir, new Date(NOW - ageMs), new Date(NOW - ageMs));
  return dir;
}

describe('removeStaleSeaDirs', () => {
  it('removes old builds nobody uses, and keeps the current one, those in use and those touched lately', () => {
    cache = mkdtempSync(join(tmpdir(), 'hotpath-sea-cache-'));
    build(KEEP, 30 * DAY); // the running build's own: never, however old
    build(key(1), 2 * DAY); // old, from before the registry: no user
    build(key(2), 2 * DAY, { [DEAD]: 2 * DAY }); // its last user died long ago
    build(key(3), 2 * DAY, { [DEAD]: 2 * DAY, [LIVE]: 2 * DAY }); // a user alive (a build running beside this one)
    build(key(4), 2 * DAY, { [DEAD]: 3600_000 }); // a user not seen alive, but its registration touched an hour ago (another PID namespace)
    build(key(5), 60_000); // written a minute ago: a process of that build is starting
    build(key(6), STALE_AFTER_MS + 1000); // just past the age
    const removed = removeStaleSeaDirs(cache, KEEP, { now: NOW, alive, mapped: nothingMapped });
    expect(removed.sort()).toEqual([key(1), key(2), key(6)]);
    expect(readdirSync(cache).sort()).toEqual([KEEP, key(3), key(4), key(5)]);
  });

  it('keeps an old build whose files a live process maps', () => {
    cache = mkdtempSync(join(tmpdir(), 'hotpath-sea-cache-'));
    const dir = build(key(7), 2 * DAY);
    build(key(8), 2 * DAY);
    const removed = removeStaleSeaDirs(cache, KEEP, { now: NOW, alive, mapped: () => new Set([dir, '/usr/lib']) });
    expect(removed).toEqual([key(8)]);
    expect(existsSync(dir)).toBe(true);
  });

  it('sees through /proc a library this process has loaded from an old build directory', () => {
    cache = mkdtempSync(join(tmpdir(), 'hotpath-sea-cache-'));
    const dir = build(key(9), 2 * DAY);
    const gone = build(key(10), 2 * DAY);
    // A copy of the addon, loaded from there as the executable loads its own.
    copyFileSync(join(root, 'build/Release/hotpath.node'), join(dir, 'hotpath.node'));
    process.dlopen({ exports: {} }, join(dir, 'hotpath.node'));
    utimesSync(dir, new Date(NOW - 2 * DAY), new Date(NOW - 2 * DAY));
    const removed = removeStaleSeaDirs(cache, KEEP, { now: NOW, alive });
    expect(removed).toEqual([key(10)]);
    expect(existsSync(join(dir, 'hotpath.node'))).toBe(true);
    expect(existsSync(gone)).toBe(false);
  });

  it('counts this process as a live user by its pid', () => {
    cache = mkdtempSync(join(tmpdir(), 'hotpath-sea-cache-'));
    build(key(11), 2 * DAY, { [process.pid]: 2 * DAY });
    expect(removeStaleSeaDirs(cache, KEEP, { now: NOW, mapped: nothingMapped })).toEqual([]);
  });

  it('leaves alone what does not look like a build directory', () => {
    cache = mkdtempSync(join(tmpdir(), 'hotpath-sea-cache-'));
    const other = build('not-a-key', 2 * DAY);
    const upper = build(key(12).toUpperCase(), 2 * DAY);
    writeFileSync(join(cache, key(13)), 'a file named like a key');
    const target = build('elsewhere', 2 * DAY);
    symlinkSync(target, join(cache, key(14)));
    expect(removeStaleSeaDirs(cache, KEEP, { now: NOW, alive, mapped: nothingMapped })).toEqual([]);
    for (const p of [other, upper, join(cache, key(13)), join(cache, key(14)), join(target, 'hotpath.node')]) expect(existsSync(p)).toBe(true);
  });

  it('finishes a removal another process left half done, unless that process still runs', () => {
    cache = mkdtempSync(join(tmpdir(), 'hotpath-sea-cache-'));
    build(`.${key(15)}.${DEAD}.removing`, 0);
    build(`.${key(16)}.${LIVE}.removing`, 0);
    removeStaleSeaDirs(cache, KEEP, { now: NOW, alive, mapped: nothingMapped });
    expect(readdirSync(cache)).toEqual([`.${key(16)}.${LIVE}.removing`]);
  });
});

// The native files of a single-executable build (scripts/build-sea.sh, docs/sea.md).
//
// Inside the executable, the hotpath addon, uWebSockets.js, onnxruntime-node (its binding
// and libonnxruntime.so.1) and the inference worker's bundle are assets, gzip-compressed,
// listed in the asset 'manifest.json' with the sha256 of each uncompressed file and a key
// (the sha256 of all of them). The first run writes them to <cache>/hotpath/<key>/ (cache:
// $XDG_CACHE_HOME, else ~/.cache; HOTPATH_CACHE_DIR overrides the whole directory), each
// file written under a temporary name and renamed, so two processes starting at once never
// load a half-written file; later runs find them there. onnxruntime's binding finds its
// library beside it (its RUNPATH is $ORIGIN).
//
// Old builds' directories are removed (removeStaleSeaDirs, at each start): each process
// registers itself in its directory first (<key>/.in-use/<pid>, touched every hour, deleted
// at exit), and a sibling directory goes only when it is named like a key, no process
// registered in it is alive, none of it was touched for a day, and (Linux) no process maps
// a file from it. So a build running beside another keeps its files, and so does one from
// before the registry existed, as long as it runs (its addon is mapped).
//
// Outside an executable, inSea() is false and nothing here is used.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
  getAsset(key: string, encoding: string): string;
}

/** The manifest the build writes: file name -> sha256 of its uncompressed bytes. */
export interface SeaManifest {
  key: string;
  files: Record<string, string>;
}

// node:sea exists from Node 20.12; required lazily so that an older Node outside a SEA never
// asks. (A require of a builtin only: createRequire needs some absolute path to start from.)
const requireBuiltin = createRequire(process.execPath);
let sea: SeaModule | null | undefined;
function seaModule(): SeaModule | null {
  if (sea === undefined) {
    try {
      const m = requireBuiltin('node:sea') as SeaModule;
      sea = m.isSea() ? m : null;
    } catch {
      sea = null;
    }
  }
  return sea;
}

/** True when this process is the single executable. */
export function inSea(): boolean {
  return seaModule() !== null;
}

let dir: string | undefined;

/** The directory holding the executable's native files, written there on first use. */
export function seaDir(): string {
  if (dir !== undefined) return dir;
  const m = seaModule();
  if (!m) throw new Error('hotpath: seaDir() outside a single executable');
  const manifest = JSON.parse(m.getAsset('manifest.json', 'utf8')) as SeaManifest;
  const cache = process.env.HOTPATH_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hotpath');
  const target = join(cache, manifest.key);
  mkdirSync(target, { recursive: true });
  registerUse(target); // before anything in it is used: a cleaner now sees this process
  for (const [name, sha] of Object.entries(manifest.files)) {
    const path = join(target, name);
    if (existsSync(path)) continue;
    const bytes = gunzipSync(new Uint8Array(m.getAsset(name)));
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== sha) throw new Error(`hotpath: the executable's asset ${name} is corrupt (sha256 ${got}, expected ${sha})`);
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o755 });
    renameSync(tmp, path);
  }
  dir = target;
  try {
    removeStaleSeaDirs(cache, manifest.key);
  } catch {
    // Best effort: an unreadable cache directory keeps its old builds.
  }
  return dir;
}

/** A build's cache directory is named by its key: 32 hex digits (scripts/build-sea.mjs). */
const KEY_RE = /^[0-9a-f]{32}$/;
/** Where a directory's users register: one empty file per process, named by its pid. */
export const IN_USE = '.in-use';
/** A directory none of whose users is alive, and untouched this long, is removed. */
export const STALE_AFTER_MS = 24 * 3600_000;
/** How often a running process touches its registration (well inside STALE_AFTER_MS). */
const TOUCH_EVERY_MS = 3600_000;

/** Registers this process as a user of `target` until it exits. */
function registerUse(target: string): void {
  const marker = join(target, IN_USE, String(process.pid));
  mkdirSync(join(target, IN_USE), { recursive: true });
  writeFileSync(marker, '');
  // A process in another PID namespace (a container sharing the cache) cannot be seen
  // alive by pid; the marker's age shows it instead.
  setInterval(() => {
    const t = new Date();
    try {
      utimesSync(marker, t, t);
    } catch {
      // removed meanwhile: nothing to keep fresh
    }
  }, TOUCH_EVERY_MS).unref();
  process.once('exit', () => {
    try {
      unlinkSync(marker);
    } catch {
      // gone already
    }
  });
}

export interface StaleOptions {
  /** epoch ms (default: now) */
  now?: number;
  staleAfterMs?: number;
  /** whether a process of this pid is alive (default: kill(pid, 0)) */
  alive?: (pid: number) => boolean;
  /** the directories live processes map files from (default: /proc/<pid>/maps of every process readable; empty where there is no /proc) */
  mapped?: () => Set<string>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** The directories holding files that some process maps (its loaded libraries), from /proc. */
function mappedDirs(): Set<string> {
  const dirs = new Set<string>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return dirs;
  }
  for (const pid of pids) {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue; // gone, or not ours to read
    }
    for (const line of maps.split('\n')) {
      const at = line.indexOf('/');
      if (at < 0) continue;
      const path = line.slice(at).replace(/ \(deleted\)$/, '');
      dirs.add(path.slice(0, path.lastIndexOf('/')));
    }
  }
  return dirs;
}

/** Newest modification time (ms) of the directory and its registrations. */
function lastTouched(dir: string): number {
  let t = statSync(dir).mtimeMs;
  try {
    for (const m of readdirSync(join(dir, IN_USE))) t = Math.max(t, statSync(join(dir, IN_USE, m)).mtimeMs);
  } catch {
    // no registry (a build from before it, or a half-made directory)
  }
  return t;
}

/** Whether a registered user of `dir` is alive. */
function registeredAlive(dir: string, alive: (pid: number) => boolean): boolean {
  let users: string[];
  try {
    users = readdirSync(join(dir, IN_USE));
  } catch {
    return false;
  }
  return users.some((u) => /^\d+$/.test(u) && alive(Number(u)));
}

/**
 * Removes the cache directories of other builds under `cache` (siblings of `keep`) that no
 * process uses: named like a key, a real directory (not a link), no registered user alive,
 * nothing in its registry or the directory itself touched within staleAfterMs, and no live
 * process mapping a file from it. Each is first renamed to a hidden name (one rename, so a
 * process of that build starting now finds either the whole directory or none, and writes
 * its files again), then deleted; leftovers of an interrupted removal go too. Returns the
 * keys removed.
 */
export function removeStaleSeaDirs(cache: string, keep: string, o: StaleOptions = {}): string[] {
  const now = o.now ?? Date.now();
  const staleAfter = o.staleAfterMs ?? STALE_AFTER_MS;
  const alive = o.alive ?? pidAlive;
  let mapped: Set<string> | undefined;
  const removed: string[] = [];
  for (const name of readdirSync(cache)) {
    const path = join(cache, name);
    const leftover = /^\.([0-9a-f]{32})\.(\d+)\.removing$/.exec(name);
    if (leftover) {
      if (!alive(Number(leftover[2]))) rmSync(path, { recursive: true, force: true });
      continue;
    }
    if (name === keep || !KEY_RE.test(name)) continue;
    try {
      if (!lstatSync(path).isDirectory()) continue;
      if (registeredAlive(path, alive) || now - lastTouched(path) < staleAfter) continue;
      mapped ??= (o.mapped ?? mappedDirs)();
      const real = realpathSync(path); // /proc shows resolved paths
      if ([...mapped].some((d) => d === real || d.startsWith(`${real}/`))) continue;
      const away = join(cache, `.${name}.${process.pid}.removing`);
      renameSync(path, away);
      rmSync(away, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // removed by another process meanwhile, or not ours to remove: leave it
    }
  }
  return removed;
}

/** Path of one of the executable's native files (e.g. 'hotpath.node'), written if needed. */
export function seaFile(name: string): string {
  return join(seaDir(), name);
}

/** Loads a native addon of the executable (process.dlopen on its extracted file). */
export function loadSeaNative(name: string): unknown {
  const mod = { exports: {} as unknown };
  process.dlopen(mod, seaFile(name));
  return mod.exports;
}

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
// Outside an executable, inSea() is false and nothing here is used.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
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
  return dir;
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

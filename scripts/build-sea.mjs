#!/usr/bin/env node
// npm run build:sea: dist/hotpath, one executable (Node's single executable applications,
// docs/sea.md). Needs the addon built (npm ci / npm run build) and Node >= 20.12.
//
// 1. esbuild bundles the CLI (src/cli/main.ts) and the inference worker (src/runtime/worker.ts)
//    into one CommonJS file each; uWebSockets.js and onnxruntime's binding are redirected to
//    loadSeaNative (src/native/sea.ts), which loads them from the cache directory, and the
//    config validators are ajv's standalone code, compiled here (below).
// 2. The native files, the worker bundle and the dashboard's files become gzip-compressed assets, with a manifest of
//    their sha256 (the cache directory's key).
// 3. node --experimental-sea-config makes the blob; postject injects it into a copy of node
//    (stripped of its symbol table when `strip` is there; the dynamic symbols addons link against stay).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

import { build } from 'esbuild';
import { register } from 'tsx/esm/api';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'sea');
const EXE = join(ROOT, 'dist', 'hotpath');
const require = createRequire(join(ROOT, 'package.json'));

function fail(msg) {
  process.stderr.write(`build:sea: ${msg}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 12)) fail(`Node ${process.versions.node}: single executables with assets need Node >= 20.12`);
if (process.platform !== 'linux') fail(`platform ${process.platform}: this build script makes Linux (ELF) executables only`);

const addon = join(ROOT, 'build', 'Release', 'hotpath.node');
if (!existsSync(addon)) fail(`no addon at ${addon}: build it first (npm ci, or npm run build)`);
const uwsDir = dirname(require.resolve('uWebSockets.js/package.json'));
const uws = join(uwsDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
const ortDir = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
const natives = {
  'hotpath.node': addon,
  'uws.node': uws,
  'onnxruntime_binding.node': join(ortDir, 'onnxruntime_binding.node'),
  'libonnxruntime.so.1': join(ortDir, 'libonnxruntime.so.1'),
};
for (const [name, path] of Object.entries(natives)) if (!existsSync(path)) fail(`${name}: no file at ${path}`);

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------------- 1. bundles

// The config validators, compiled by ajv here rather than at each start (compiling the
// config schema was half the time to ready without models): ajv's standalone code for each
// schema a module compiles at load (src/config/validators.ts, with its options) replaces
// that call in the bundle. The build fails if a module no longer has the line it replaces.
register();
const { Ajv } = require('ajv');
const standaloneCode = require('ajv/dist/standalone').default;
const { VALIDATOR_OPTIONS } = await import(pathToFileURL(join(ROOT, 'src', 'config', 'validators.ts')).href);
const PRECOMPILED = [
  {
    file: join(ROOT, 'src', 'config', 'load.ts'),
    schema: 'configSchema',
    from: join(ROOT, 'src', 'config', 'schema.ts'),
    options: VALIDATOR_OPTIONS.config,
    line: "const validate = validator('config', configSchema);",
    into: 'const validate',
  },
  {
    file: join(ROOT, 'src', 'config', 'security.ts'),
    schema: 'keysSchema',
    from: join(ROOT, 'src', 'config', 'security.ts'),
    options: VALIDATOR_OPTIONS.keys,
    line: "const validateKeys = validator('keys', keysSchema);",
    into: 'const validateKeys',
  },
];
for (const p of PRECOMPILED) {
  const schema = (await import(pathToFileURL(p.from).href))[p.schema];
  const ajv = new Ajv({ ...p.options, code: { source: true } });
  p.validator = join(OUT, `validate-${p.schema}.cjs`);
  writeFileSync(p.validator, standaloneCode(ajv, ajv.compile(schema)));
}

const SEA_TS = join(ROOT, 'src', 'native', 'sea.ts');
const ORT_REQUIRE = 'require(`../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`)';
const seaPlugin = {
  name: 'hotpath-sea',
  setup(b) {
    b.onResolve({ filter: /^uWebSockets\.js$/ }, () => ({ path: 'uws.node', namespace: 'sea-native' }));
    // debug (under ioredis) tries require('supports-color') at load, in a try: esbuild leaves
    // that require to run time, where the executable's require takes builtins only and Node
    // warns at every start. It is not installed: an empty module says the same.
    b.onResolve({ filter: /^supports-color$/ }, () => ({ path: 'supports-color', namespace: 'sea-empty' }));
    b.onLoad({ filter: /.*/, namespace: 'sea-empty' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    b.onResolve({ filter: /^hotpath-sea-native:/ }, (a) => ({ path: a.path.slice('hotpath-sea-native:'.length), namespace: 'sea-native' }));
    b.onLoad({ filter: /.*/, namespace: 'sea-native' }, (a) => ({
      contents: `module.exports = require(${JSON.stringify(SEA_TS)}).loadSeaNative(${JSON.stringify(a.path)});`,
      resolveDir: ROOT,
      loader: 'js',
    }));
    b.onLoad({ filter: /[\\/]src[\\/]config[\\/][a-z]+\.ts$/ }, (a) => {
      const p = PRECOMPILED.find((q) => q.file === a.path);
      if (!p) return undefined;
      const src = readFileSync(a.path, 'utf8');
      if (!src.includes(p.line)) throw new Error(`${a.path} no longer compiles its schema with:\n${p.line}`);
      return { contents: src.replace(p.line, `${p.into} = require(${JSON.stringify(p.validator)});`), loader: 'ts' };
    });
    b.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, (a) => {
      const src = readFileSync(a.path, 'utf8');
      if (!src.includes(ORT_REQUIRE)) throw new Error(`onnxruntime-node's binding.js no longer loads its addon with ${ORT_REQUIRE}`);
      return { contents: src.replace(ORT_REQUIRE, 'require("hotpath-sea-native:onnxruntime_binding.node")'), loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${major}`,
  // The sources are ES modules; the bundle is CommonJS (a single executable's main script
  // must be), where import.meta is empty. Only paths outside the executable use it.
  define: { 'import.meta.url': JSON.stringify('file:///hotpath-sea/bundle.cjs') },
  plugins: [seaPlugin],
  logLevel: 'warning',
  legalComments: 'none',
};
await build({ ...common, entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')], outfile: join(OUT, 'hotpath.cjs') });
await build({ ...common, entryPoints: [join(ROOT, 'src', 'runtime', 'worker.ts')], outfile: join(OUT, 'worker.cjs') });

// ------------------------------------------------------------------- 2. assets

// The dashboard's page (src/server/routes/dashboard.ts reads them through seaFile).
const dashboard = {
  'dashboard-index.html': join(ROOT, 'dashboard', 'index.html'),
  'dashboard-dashboard.js': join(ROOT, 'dashboard', 'dashboard.js'),
  'dashboard-dashboard.css': join(ROOT, 'dashboard', 'dashboard.css'),
  'dashboard-uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'dashboard-uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};
const files = { ...natives, 'worker.cjs': join(OUT, 'worker.cjs'), ...dashboard };
const manifest = { key: '', files: {} };
const assets = {};
const all = createHash('sha256');
for (const [name, path] of Object.entries(files)) {
  const bytes = readFileSync(path);
  const sha = createHash('sha256').update(bytes).digest('hex');
  manifest.files[name] = sha;
  all.update(`${name}\0${sha}\0`);
  const gz = join(OUT, `${name}.gz`);
  writeFileSync(gz, gzipSync(bytes, { level: 9 }));
  assets[name] = gz;
}
manifest.key = all.digest('hex').slice(0, 32);
writeFileSync(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 2));
assets['manifest.json'] = join(OUT, 'manifest.json');

// ------------------------------------------------------------------- 3. executable

const blob = join(OUT, 'sea-prep.blob');
const config = { main: join(OUT, 'hotpath.cjs'), output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets };
writeFileSync(join(OUT, 'sea-config.json'), JSON.stringify(config, null, 2));
execFileSync(process.execPath, ['--experimental-sea-config', join(OUT, 'sea-config.json')], { stdio: 'inherit' });

rmSync(EXE, { force: true });
copyFileSync(process.execPath, EXE);
chmodSync(EXE, 0o755);
try {
  execFileSync('strip', [EXE], { stdio: 'ignore' });
} catch {
  process.stderr.write('build:sea: no `strip`: the executable keeps node\'s symbol table\n');
}
const postject = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
// postject (LIEF) warns about every note section of an ELF file: its output is shown only on a failure.
try {
  execFileSync(process.execPath, [postject, EXE, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'pipe' });
} catch (err) {
  fail(`postject failed: ${err.stderr}${err.stdout}`);
}
process.stdout.write(`build:sea: ${EXE} (${(statSync(EXE).size / 1e6).toFixed(1)} MB, cache key ${manifest.key})\n`);

// The two native builds (node-gyp from binding.gyp, cmake-js from CMakeLists.txt) must
// compile the same sources, and every source file under native/ must be in both.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');

function gypSources(): string[] {
  // binding.gyp is a Python literal; ours stays JSON apart from # comments.
  const text = read('binding.gyp').replace(/^\s*#.*$/gm, '');
  const gyp = JSON.parse(text) as { targets: { target_name: string; sources: string[] }[] };
  const target = gyp.targets.find((t) => t.target_name === 'hotpath');
  if (!target) throw new Error('binding.gyp has no hotpath target');
  return target.sources;
}

function cmakeList(name: string): string[] {
  const m = new RegExp(`set\\(${name}\\s([^)]*)\\)`).exec(read('CMakeLists.txt'));
  if (!m) throw new Error(`CMakeLists.txt sets no ${name}`);
  return m[1].split(/\s+/).filter(Boolean);
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.cc'))
    .map((f) => `${dir}/${f}`);
}

describe('native build source lists', () => {
  it('binding.gyp and CMakeLists.txt name the same core and binding sources', () => {
    const cmake = [...cmakeList('HOTPATH_CORE_SOURCES'), ...cmakeList('HOTPATH_BINDING_SOURCES'), 'native/cuda/cuda_none.cc'];
    expect([...gypSources()].sort()).toEqual([...cmake].sort());
  });

  it('every .cc file of native/core and native/binding is built', () => {
    const built = new Set(gypSources());
    for (const f of [...sourcesUnder('native/core'), ...sourcesUnder('native/binding')]) expect(built.has(f), f).toBe(true);
  });

  it('the CUDA build swaps cuda_none.cc for the .cu sources, and the core tests build the core list', () => {
    const cmake = read('CMakeLists.txt');
    const cu = /set\(HOTPATH_CUDA_SOURCES ([^)]*\.cu)\)/.exec(cmake)?.[1].split(/\s+/) ?? [];
    const cuFiles = readdirSync(join(ROOT, 'native/cuda')).filter((f) => f.endsWith('.cu')).map((f) => `native/cuda/${f}`);
    expect(cu.sort()).toEqual(cuFiles.sort());
    expect(cu).toContain('native/cuda/dense.cu');
    expect(cmake).toMatch(/set\(HOTPATH_CUDA_SOURCES native\/cuda\/cuda_none\.cc\)/);
    expect(cmake).toMatch(/add_executable\(core_test [^)]*\$\{HOTPATH_CORE_SOURCES\} \$\{HOTPATH_CUDA_SOURCES\}\)/);
  });

  it('N-API appears only in native/binding', () => {
    for (const dir of ['native/core', 'native/cuda']) {
      for (const f of readdirSync(join(ROOT, dir))) {
        const text = read(`${dir}/${f}`);
        expect(/#include\s*[<"](napi|node_api|node)\.h[">]/.test(text), `${dir}/${f}`).toBe(false);
      }
    }
  });
});

import { describe, expect, it } from 'vitest';

import { classify, latestPerfMap, parsePerfScript, shares, stageOfFile } from '../../bench/perf-stages.js';

// perf script -F comm,tid,ip,sym,dso output, four samples of process 100: a kernel send, a
// JIT'd route function, a libc memmove under the addon, a scavenge on another thread.
const TEXT = [
  'node 100 ',
  '\tffffffff82064420 tcp_sendmsg_locked+0x7f0 ([kernel.kallsyms])',
  '\tffffffff81e7763d __sys_sendto+0x22d ([kernel.kallsyms])',
  '\tffffffff81000130 entry_SYSCALL_64_after_hwframe+0x76 ([kernel.kallsyms])',
  '\t          10aba4 __send+0x64 (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
  'node 100 ',
  '\t    7fba8a0b8170 JS:*onRequest file:///w/dist/server/routes/route.js:161:27+0xb30 (/tmp/perf-100.map)',
  '\t         14ce0dc Builtins_JSEntryTrampoline+0x5c (/usr/bin/node)',
  '',
  'node 100 ',
  '\t          1a2b3c __memmove_avx_unaligned_erms+0x1c (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '\t          2a2b3c napi_get_value_string_utf8+0x10 (/usr/bin/node)',
  '\t            4b3c hotpath::Store::ReadJson+0x40 (/w/build/Release/hotpath.node)',
  '\t    7fba8a0b52cb JS:*readJson file:///w/dist/server/features.js:126:13+0x90b (/tmp/perf-100.map)',
  '',
  'V8 DefaultWorke 103 ',
  '\t          c00000 v8::internal::Scavenger::Process+0x20 (/usr/bin/node)',
  '\t          c00100 v8::internal::ScavengerCollector::JobTask::Run+0x20 (/usr/bin/node)',
  '',
].join('\n');

describe('perf stages', () => {
  const samples = parsePerfScript(TEXT);

  it('parses samples, threads and frames', () => {
    expect(samples).toHaveLength(4);
    expect(samples[3]).toMatchObject({ comm: 'V8 DefaultWorke', tid: 103 });
    expect(samples[0].frames[0]).toEqual({ sym: 'tcp_sendmsg_locked', dso: '[kernel.kallsyms]' });
    expect(samples[1].frames[0].dso).toBe('/tmp/perf-100.map');
  });

  it('charges each sample to its stage', () => {
    expect(classify(samples[0])).toEqual({ group: 'kernel', stage: 'kernel: network/TCP' });
    expect(classify(samples[1]).stage).toBe('JS: route (routes/, app, security/)');
    // the C library and N-API frames are looked through to the addon that called them
    expect(classify(samples[2]).group).toBe('addon (hotpath.node)');
    expect(classify(samples[3]).group).toBe('GC');
  });

  it('sorts JS files into stages', () => {
    expect(stageOfFile('file:///w/dist/server/http.js')).toMatch(/^JSON encode/);
    expect(stageOfFile('file:///w/dist/server/features.js')).toMatch(/^JSON encode/);
    expect(stageOfFile('file:///w/dist/native/binding.js')).toMatch(/^store/);
    expect(stageOfFile('file:///w/dist/server/stages.js')).toMatch(/^metrics/);
    expect(stageOfFile('file:///w/dist/server/predict.js')).toMatch(/^parse/);
    expect(stageOfFile('file:///w/dist/runtime/pool.js')).toMatch(/^inference runtime/);
    expect(stageOfFile('node:internal/timers')).toBe('Node internals (node:*)');
  });

  it('sums shares of the whole process, the main thread apart', () => {
    const s = shares(samples, 100);
    expect(s.total).toBe(4);
    expect(s.groups.find((g) => g.group === 'kernel')!.share).toBe(0.25);
    expect(s.threads).toEqual([
      { thread: 'main thread', samples: 3, share: 0.75 },
      { thread: 'V8 DefaultWorke (other threads)', samples: 1, share: 0.25 },
    ]);
    expect(s.mainGroups.find((g) => g.group === 'GC')!.samples).toBe(0);
    expect(s.top[0].samples).toBe(1);
  });
});

describe('latestPerfMap', () => {
  it('keeps the latest entry for an address, drops the ones a later entry overlaps', () => {
    const map = [
      '1000 100 JS:~lexer node:internal/deps/cjs-module-lexer/lexer:1:1', // startup code, dropped later
      '2000 10 Builtin:A',
      '1080 40 JS:*handle file:///w/dist/server/routes/predict.js:30:35', // reuses 1080..10c0
      '3000 20 JS:*other file:///w/dist/server/x.js:1:1',
      '2010 10 Builtin:B', // adjacent, not overlapping
    ].join('\n');
    const { text, dropped } = latestPerfMap(map);
    expect(dropped).toBe(1);
    expect(text.split('\n').filter(Boolean)).toEqual([
      '2000 10 Builtin:A',
      '1080 40 JS:*handle file:///w/dist/server/routes/predict.js:30:35',
      '3000 20 JS:*other file:///w/dist/server/x.js:1:1',
      '2010 10 Builtin:B',
    ]);
  });
});

// Preloaded into a server (`node --require bench/gc-observer.cjs dist/cli/main.js serve ...`,
// as bench/gc.ts starts it): the main thread's garbage collections from perf_hooks 'gc'
// entries, written every 200 ms to the file named by HOTPATH_BENCH_GC_FILE as
// {"at": ms, "minor": [count, ms], "major": [count, ms], "minorPauses": [ms, ...]}:
// cumulative counts and total pause time since start, and every scavenge's pause.
// Worker threads inherit --require; there it does nothing (their isolates are not the
// main thread's, and the issue is the main thread).
'use strict';
const { isMainThread } = require('node:worker_threads');
const file = process.env.HOTPATH_BENCH_GC_FILE;
if (isMainThread && file) {
  const { PerformanceObserver, constants } = require('node:perf_hooks');
  const { writeFileSync, renameSync } = require('node:fs');
  const minor = [0, 0];
  const major = [0, 0];
  const minorPauses = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = e.detail ? e.detail.kind : e.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        minor[0]++;
        minor[1] += e.duration;
        minorPauses.push(Math.round(e.duration * 1000) / 1000);
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        major[0]++;
        major[1] += e.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  const write = () => {
    // Written aside and renamed: a reader never sees half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify({ at: performance.timeOrigin + performance.now(), minor, major, minorPauses }));
    renameSync(`${file}.tmp`, file);
  };
  write();
  setInterval(write, 200).unref();
}

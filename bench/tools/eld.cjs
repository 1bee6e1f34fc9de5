// Event-loop delay of a server's main thread, printed to stderr once a second while it
// is busy (p99 and max of monitorEventLoopDelay at 1 ms resolution). Preload it:
//   NODE_OPTIONS="--require ./bench/tools/eld.cjs" node dist/cli/main.js serve ...
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { isMainThread } = require('node:worker_threads');

if (isMainThread) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  setInterval(() => {
    if (h.count > 100) console.error(`event-loop delay: p99 ${(h.percentile(99) / 1e6).toFixed(2)} ms, max ${(h.max / 1e6).toFixed(1)} ms`);
    h.reset();
  }, 1000).unref();
}

// Reads `perf script -F comm,tid,ip,sym,dso` output (call chains recorded with
// `perf record -g -p PID` on a server started with `node --perf-basic-prof`) and sums the
// samples per stage: every sample of the whole process (all threads, kernel included)
// counts once, in the stage of its leaf frame, where the leaf is looked through to who
// called it when it is a C library, V8 builtin or Node glue frame (rules in classify()).
// Used by bench/perf-profile.ts; tested in test/unit/perf-stages.test.ts.

export interface Frame {
  sym: string;
  dso: string;
}

export interface Sample {
  comm: string;
  tid: number;
  /** leaf first */
  frames: Frame[];
}

/** The groups a stage belongs to, in the order tables list them. */
export const GROUPS = ['kernel', 'uWS/libuv', 'V8 (JIT\'d JS and the builtins it calls)', 'V8 runtime and compiler', 'GC', 'addon (hotpath.node)', 'onnxruntime', 'other'] as const;
export type Group = (typeof GROUPS)[number];

export interface Stage {
  group: Group;
  stage: string;
  /** JS stages: the source file (its path from dist/ or src/, or node:...) */
  file?: string;
}

/** Parses perf script output: a header line `comm tid` per sample, then one `\taddr sym (dso)` line per frame. */
export function parsePerfScript(text: string): Sample[] {
  const out: Sample[] = [];
  let cur: Sample | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      cur = undefined;
      continue;
    }
    if (!/^\s/.test(line)) {
      const m = /^(.*?)\s+(\d+)(?:\/(\d+))?\s*$/.exec(line);
      if (!m) continue;
      cur = { comm: m[1].trim(), tid: Number(m[3] ?? m[2]), frames: [] };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const f = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$/.exec(line);
    if (!f) continue;
    cur.frames.push({ sym: f[1].replace(/\+0x[0-9a-f]+$/, ''), dso: f[2] });
  }
  return out;
}

const isKernel = (f: Frame) => f.dso === '[kernel.kallsyms]' || f.dso.startsWith('[kernel') || f.dso === '[vdso]';
/** C and C++ runtime libraries: looked through to their caller */
const isLibc = (f: Frame) => /\/(libc|libstdc\+\+|libm|libpthread|ld-linux[^/]*|libgcc_s|libdl)[.-][^/]*$/.test(f.dso) || /^(libc|libstdc\+\+|libm|libpthread)\.so/.test(f.dso);
const isPerfMap = (f: Frame) => /\/perf-\d+\.map$/.test(f.dso);
/** a JIT'd JavaScript function with its source (perf map: `JS:*name file:///...:line:col`, or `LazyCompile:`) */
const jsFile = (f: Frame): string | undefined => {
  if (!isPerfMap(f)) return undefined;
  const m = /\s((?:file:\/\/|node:)\S*?)(?::\d+:\d+)?$/.exec(f.sym);
  return m ? m[1] : undefined;
};
const isUws = (f: Frame) => /\/uws_[^/]*\.node$/.test(f.dso);
const isAddon = (f: Frame) => /\/hotpath\.node$/.test(f.dso);
const isOnnx = (f: Frame) => /onnxruntime/i.test(f.dso);
const isNodeBinary = (f: Frame) => /(^|\/)node$/.test(f.dso);
const isLibuv = (f: Frame) => (isNodeBinary(f) && /^uv_|^uv__/.test(f.sym)) || /libuv/.test(f.dso);
const GC_RE = /v8::internal::(Heap::(CollectGarbage|PerformGarbageCollection|Scavenge|MarkCompact|MinorMarkCompact|CollectAllGarbage|HandleGCRequest)|Scavenger|ScavengerCollector|ScavengeJob|MarkCompactCollector|MinorMarkCompactCollector|MinorMarkSweep|ConcurrentMarking|IncrementalMarking|MarkingVisitor|MainMarkingVisitor|ConcurrentMarkingVisitor|Sweeper|GCTracer|ArrayBufferSweeper|Evacuat|PointersUpdating|MemoryReducer|MarkingBarrier|IncrementalMarkingJob|ConcurrentMarkingState|YoungGenerationMarkingVisitor|PagedSpaceBase::RefillLabMain|Heap::CollectGarbageShared|ScavengeVisitor|StrongRootsEntry|RootsReferencesExtractor|GlobalHandles::(IterateYoung|ProcessWeak|PostGarbageCollection)|Heap::Iterate)/;
const BARRIER_RE = /^Builtins_(RecordWrite|EphemeronKeyBarrier|IndirectPointerBarrier)|WriteBarrier/;
const COMPILER_RE = /v8::internal::(compiler::|maglev::|baseline::|Compiler::|OptimizingCompileDispatcher|Parser::|PreParser|interpreter::BytecodeGenerator|BackgroundCompileTask|Deoptimizer|wasm::)|^Builtins_(CompileLazy|InterpreterEntryTrampoline)$/;

/** The stage of a JavaScript source file (dist/ paths of the built server). */
export function stageOfFile(file: string): string {
  if (file.startsWith('node:')) return 'Node internals (node:*)';
  if (file.includes('/node_modules/')) return 'libraries (node_modules)';
  const p = /\/dist\/(.*)$/.exec(file)?.[1] ?? /\/src\/(.*)$/.exec(file)?.[1] ?? file;
  if (/^server\/(routes\/|app\.|security\/)/.test(p)) return 'route (routes/, app, security/)';
  if (/^server\/(predict|kserve\.|ws-decode|ws-frames|ws-protocol)|^ingest\/(decode|columns|rows)/.test(p)) return 'parse (predict/kserve body, WebSocket frames, ingest decode)';
  // server/features.ts is the feature read's JSON text (readJson), its native read apart (the addon)
  if (/^server\/(http\.|kserve-encode|ws-encode|features\.|feast)/.test(p)) return 'JSON encode and the uWS write (features readJson, http, kserve-encode, ws-encode)';
  if (/^(native\/|cache\/|ingest\/|durability\/|state-parts)/.test(p)) return 'store (native/ binding, caches, ingest, WAL)';
  if (/(^|\/)[a-z-]*metrics\.|^server\/(stages|slow-log|observe\/)/.test(p)) return 'metrics, stage timing, logs, tracing';
  if (/^runtime\//.test(p)) return 'inference runtime (runtime/: pool, rings, batcher, worker)';
  return 'other hotpath JS';
}

function kernelStage(frames: Frame[]): string {
  const k: string[] = [];
  for (const f of frames) {
    if (!isKernel(f)) break;
    k.push(f.sym);
  }
  const any = (re: RegExp) => k.some((s) => re.test(s));
  if (any(/tcp|inet|sock|skb|^ip_|^__ip_|ip_rcv|ip_local|ip_finish|netif|napi|net_rx|^dev_|__dev_|loopback|__sys_send|__sys_recv|sendmsg|recvmsg|sendto|recvfrom/)) return 'kernel: network/TCP';
  if (any(/schedule|futex|epoll|ep_poll|ep_send|ep_item|ep_done|pick_next|finish_task_switch|__switch_to|try_to_wake_up|wake_up|nanosleep|hrtimer_sleep|do_idle|sched_|select_task_rq|enqueue_task|dequeue_task/)) return 'kernel: scheduler, futex, epoll';
  if (/^(entry_SYSCALL|do_syscall_64|syscall_exit|syscall_return|exit_to_user_mode|__x64_sys_|x64_sys_call|syscall_enter|__pfx_)/.test(k[0] ?? '') || (k.length <= 3 && any(/^entry_SYSCALL|^do_syscall_64/))) return 'kernel: syscall entry and exit';
  return 'kernel: other (page faults, timers, memory, ...)';
}

/** The stage of one sample (rules in order: kernel leaf, GC, compiler, then the leaf's owner frame). */
export function classify(s: Sample): Stage {
  const fr = s.frames;
  if (!fr.length) return { group: 'other', stage: 'no frames' };
  if (isKernel(fr[0])) return { group: 'kernel', stage: kernelStage(fr) };
  if (fr.some((f) => GC_RE.test(f.sym))) return { group: 'GC', stage: 'GC (scavenges, marking, sweeping; all threads)' };
  if (BARRIER_RE.test(fr[0].sym)) return { group: 'GC', stage: 'GC write barriers (in JS)' };
  if (fr.some((f) => COMPILER_RE.test(f.sym) && !isPerfMap(f))) return { group: 'V8 runtime and compiler', stage: 'V8 compiler, parser, deoptimizer' };
  // The owner: the first frame that is not the C library, V8's builtins or runtime, or Node's
  // glue; a JIT'd JS function, a native module, or libuv.
  for (const f of fr) {
    if (isLibc(f) || f.dso === '[unknown]') continue;
    if (isAddon(f)) return { group: 'addon (hotpath.node)', stage: 'addon (hotpath.node, with the N-API and C library calls it makes)' };
    if (isOnnx(f)) return { group: 'onnxruntime', stage: 'onnxruntime' };
    if (isUws(f)) return { group: 'uWS/libuv', stage: 'uWS (uws_*.node, with the V8 and C library calls it makes)' };
    if (isLibuv(f)) return { group: 'uWS/libuv', stage: 'libuv (event loop, epoll wait, threadpool)' };
    const file = jsFile(f);
    if (file) return { group: "V8 (JIT'd JS and the builtins it calls)", stage: `JS: ${stageOfFile(file)}`, file: /\/((?:dist|src|node_modules)\/.*)$/.exec(file)?.[1] ?? file };
    if (isPerfMap(f) || isNodeBinary(f)) continue;
    return { group: 'other', stage: `other native (${f.dso.split('/').at(-1)})` };
  }
  const leaf = fr[0];
  if (isNodeBinary(leaf) && /^Builtins_/.test(leaf.sym)) return { group: 'V8 runtime and compiler', stage: 'V8 builtins with no JS or native caller in the chain' };
  if (isNodeBinary(leaf) || isLibc(leaf)) return { group: 'V8 runtime and compiler', stage: 'V8 and Node runtime (C++, no JS or native caller in the chain)' };
  if (isPerfMap(leaf)) return { group: "V8 (JIT'd JS and the builtins it calls)", stage: 'JS: V8 stubs and code without a source' };
  return { group: 'other', stage: 'other (unknown frames)' };
}

export interface StageShare extends Stage {
  samples: number;
  share: number;
}

export interface Shares {
  total: number;
  stages: StageShare[];
  groups: { group: Group; samples: number; share: number }[];
  /** leaf frames (self samples), most first */
  top: { frame: string; dso: string; samples: number; share: number }[];
  /** JS stages by source file, most first */
  files: { file: string; stage: string; samples: number; share: number }[];
  /** the main thread's samples per group (share of all the process's samples); empty without a pid */
  mainGroups: { group: Group; samples: number; share: number }[];
  /** samples per thread: the main thread (tid = pid) apart, others by name */
  threads: { thread: string; samples: number; share: number }[];
}

export function shares(samples: Sample[], pid?: number, topN = 20): Shares {
  const total = samples.length;
  const st = new Map<string, StageShare>();
  const gr = new Map<Group, number>();
  const top = new Map<string, { frame: string; dso: string; samples: number; share: number }>();
  const th = new Map<string, number>();
  const mg = new Map<Group, number>();
  const fl = new Map<string, { file: string; stage: string; samples: number; share: number }>();
  for (const s of samples) {
    const c = classify(s);
    if (pid !== undefined && s.tid === pid) mg.set(c.group, (mg.get(c.group) ?? 0) + 1);
    if (c.file) {
      const f = fl.get(c.file) ?? { file: c.file, stage: c.stage, samples: 0, share: 0 };
      f.samples++;
      fl.set(c.file, f);
    }
    const key = `${c.group}\u0000${c.stage}`;
    const e = st.get(key) ?? { group: c.group, stage: c.stage, samples: 0, share: 0 };
    e.samples++;
    st.set(key, e);
    gr.set(c.group, (gr.get(c.group) ?? 0) + 1);
    const leaf = s.frames[0] ?? { sym: '(none)', dso: '' };
    const dso = leaf.dso.split('/').at(-1) ?? '';
    const tk = `${leaf.sym}\u0000${dso}`;
    const t = top.get(tk) ?? { frame: leaf.sym, dso, samples: 0, share: 0 };
    t.samples++;
    top.set(tk, t);
    const thread = pid !== undefined && s.tid === pid ? 'main thread' : `${s.comm} (other threads)`;
    th.set(thread, (th.get(thread) ?? 0) + 1);
  }
  const sh = (n: number) => (total ? n / total : 0);
  const order = (g: Group) => GROUPS.indexOf(g);
  return {
    total,
    stages: [...st.values()].map((e) => ({ ...e, share: sh(e.samples) })).sort((a, b) => order(a.group) - order(b.group) || b.samples - a.samples),
    groups: GROUPS.map((g) => ({ group: g, samples: gr.get(g) ?? 0, share: sh(gr.get(g) ?? 0) })),
    files: [...fl.values()].sort((a, b) => b.samples - a.samples).map((f) => ({ ...f, share: sh(f.samples) })),
    mainGroups: pid === undefined ? [] : GROUPS.map((g) => ({ group: g, samples: mg.get(g) ?? 0, share: sh(mg.get(g) ?? 0) })),
    top: [...top.values()].sort((a, b) => b.samples - a.samples).slice(0, topN).map((t) => ({ ...t, share: sh(t.samples) })),
    threads: [...th.entries()].map(([thread, n]) => ({ thread, samples: n, share: sh(n) })).sort((a, b) => b.samples - a.samples),
  };
}

/**
 * A perf map (`/tmp/perf-PID.map`: `start size name` per line, appended as V8 makes code)
 * with every entry that a later entry overlaps left out: V8 reuses the addresses of code it
 * has dropped (startup code, say), and perf would otherwise name a sample in today's code
 * after the function that lived there first. The profile is taken after the warm-up, so
 * the latest entry for an address is the one to keep.
 */
export function latestPerfMap(text: string): { text: string; dropped: number } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const ents = lines.map((l) => {
    const m = /^([0-9a-fA-F]+) ([0-9a-fA-F]+) /.exec(l);
    return m ? { start: Number.parseInt(m[1], 16), end: Number.parseInt(m[1], 16) + Number.parseInt(m[2], 16) } : undefined;
  });
  const keptStarts: number[] = [];
  const keptEnds: number[] = [];
  const keep = new Array<boolean>(lines.length).fill(false);
  for (let i = lines.length - 1; i >= 0; i--) {
    const e = ents[i];
    if (!e) continue;
    // the kept intervals are disjoint and sorted: the one starting last before e.end has the largest end of those
    let lo = 0;
    let hi = keptStarts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keptStarts[mid] < e.end) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && keptEnds[lo - 1] > e.start) continue;
    keptStarts.splice(lo, 0, e.start);
    keptEnds.splice(lo, 0, e.end);
    keep[i] = true;
  }
  const out = lines.filter((_, i) => keep[i]);
  return { text: `${out.join('\n')}\n`, dropped: lines.length - out.length };
}

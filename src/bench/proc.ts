// Server cost from /proc (Linux, local targets only): which process listens on a TCP
// port, and how many CPU seconds it has used (user + system, all threads).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ: the unit of /proc/<pid>/stat times on Linux

/** The pid of the process listening on 127.0.0.1/0.0.0.0:port, or undefined. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      if (Number.parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let dirs: string[];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of dirs) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // not ours to read, or gone
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** CPU seconds the process (or "pid/task/tid": one thread) has used so far, in user and system (kernel) mode. */
export function cpuTimes(pid: number | string): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK }; // utime, stime (fields 14 and 15)
}

/** CPU seconds (user + system) the process (or "pid/task/tid": one thread) has used so far. */
export function cpuSeconds(pid: number | string): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** Per thread of the process: voluntary context switches and CPU seconds so far (/proc/<pid>/task). */
export function threadStats(pid: number): Map<string, { switches: number; cpu: number }> {
  const out = new Map<string, { switches: number; cpu: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const name = tid === String(pid) ? 'main thread' : (/^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?');
      out.set(`${tid} ${name}`, { switches: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0), cpu: cpuSeconds(`${pid}/task/${tid}`) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Between two threadStats of one process: its voluntary context switches, and its busiest threads' CPU seconds, most first. */
export function threadDelta(before: ReturnType<typeof threadStats>, after: ReturnType<typeof threadStats>, top = 3): { switches: number; busiest: { thread: string; cpu: number }[] } {
  let switches = 0;
  const busy: { thread: string; cpu: number }[] = [];
  for (const [t, a] of after) {
    const b = before.get(t) ?? { switches: 0, cpu: 0 };
    switches += a.switches - b.switches;
    busy.push({ thread: t, cpu: a.cpu - b.cpu });
  }
  return { switches, busiest: busy.sort((x, y) => y.cpu - x.cpu).slice(0, top) };
}

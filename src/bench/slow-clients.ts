// Misbehaving HTTP clients for the fault bench (bench/faults.ts), run beside the normal load:
//   non-readers: send pipelined requests and never read an answer, so their answers fill
//     the socket buffers on both sides, then whatever the server keeps per connection;
//   tricklers: send a request a byte every trickleMs (slowloris), holding a connection and
//     a half-read body for as long as the server lets them.
// The bench measures the normal load beside them; these report what happened to them.
import { connect, type Socket } from 'node:net';

export interface SlowClientOptions {
  host: string;
  port: number;
  /** the non-readers' request and the tricklers', encoded (http-client.ts encodeRequest) */
  request: Buffer;
  trickle: Buffer;
  nonReaders: number;
  /** a non-reader sends a request every this many ms */
  everyMs: number;
  tricklers: number;
  trickleMs: number;
}

export interface SlowClientReport {
  nonReaders: number;
  tricklers: number;
  /** requests the non-readers wrote */
  sent: number;
  /** bytes the tricklers wrote */
  trickled: number;
  /** connections the server closed while they misbehaved */
  closedByServer: number;
}

export interface SlowClients {
  stop(): SlowClientReport;
}

export function startSlowClients(o: SlowClientOptions): SlowClients {
  const sockets: Socket[] = [];
  const readers: Socket[] = [];
  const tricklers: { s: Socket; at: number }[] = [];
  let sent = 0;
  let trickled = 0;
  let closedByServer = 0;
  let stopping = false;
  const open = (): Socket => {
    const s = connect({ host: o.host, port: o.port, noDelay: true });
    s.on('error', () => {});
    s.on('close', () => {
      if (!stopping) closedByServer++;
    });
    sockets.push(s);
    return s;
  };
  for (let i = 0; i < o.nonReaders; i++) {
    const s = open();
    s.pause(); // never read: the kernel's receive buffer fills, then the server's sends back up
    readers.push(s);
  }
  for (let i = 0; i < o.tricklers; i++) {
    const s = open();
    s.on('data', () => {}); // reads (and drops) what comes back
    tricklers.push({ s, at: 0 });
  }
  // One timer per kind, not one per socket: these run in the load generator's process, and
  // must not make it late.
  const timers = [
    setInterval(() => {
      for (const s of readers) {
        if (s.destroyed || s.connecting) continue;
        s.write(o.request);
        sent++;
      }
    }, o.everyMs),
    setInterval(() => {
      for (const t of tricklers) {
        if (t.s.destroyed || t.s.connecting) continue;
        t.s.write(o.trickle.subarray(t.at, t.at + 1));
        trickled++;
        t.at = (t.at + 1) % o.trickle.length;
      }
    }, o.trickleMs),
  ];
  return {
    stop() {
      stopping = true;
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      return { nonReaders: o.nonReaders, tricklers: o.tricklers, sent, trickled, closedByServer };
    },
  };
}

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
  const timers: NodeJS.Timeout[] = [];
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
    s.once('connect', () => {
      timers.push(setInterval(() => {
        if (s.destroyed) return;
        s.write(o.request);
        sent++;
      }, o.everyMs));
    });
  }
  for (let i = 0; i < o.tricklers; i++) {
    const s = open();
    let at = 0;
    s.once('connect', () => {
      // One byte at a time, request after request, reading (and dropping) what comes back.
      s.on('data', () => {});
      timers.push(setInterval(() => {
        if (s.destroyed) return;
        s.write(o.trickle.subarray(at, at + 1));
        trickled++;
        at = (at + 1) % o.trickle.length;
      }, o.trickleMs));
    });
  }
  return {
    stop() {
      stopping = true;
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      return { nonReaders: o.nonReaders, tricklers: o.tricklers, sent, trickled, closedByServer };
    },
  };
}

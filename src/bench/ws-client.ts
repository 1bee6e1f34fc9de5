// A minimal WebSocket client (RFC 6455) for the load generator: the upgrade, binary frames
// out, hotpath's binary answers in. One frame in flight per connection, as the HTTP
// Connection: request(bytes) sends a pre-encoded client frame (clientFrame) and resolves
// with the next answer. Client frames must be masked; the mask key is zero, which leaves
// the payload as it is, so a frame is encoded once and sent many times for free (the
// server unmasks it like any other). Hand-written for the same reason as http-client.ts:
// the generator must cost less than the server it measures.
import { randomBytes } from 'node:crypto';

import { errorStatus } from '../errors.js';
import { WS_OP } from '../server/ws-protocol.js';
import { OneInFlight } from './http-client.js';

const CRLF2 = Buffer.from('\r\n\r\n');

/** A binary client frame (FIN, opcode 2) with a zero mask key around payload. */
export function clientFrame(payload: Uint8Array, opcode = 2): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  // mask key: four zero bytes at head..head+4
  out.set(payload, head + 4);
  return out;
}

export class WsConnection extends OneInFlight {
  #buf: Buffer = Buffer.alloc(0);
  #upgraded = false;
  #ready: Promise<void>;
  #onReady: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(host: string, port: number, timeoutMs: number, path: string) {
    super(host, port, timeoutMs);
    this.#ready = new Promise((resolve, reject) => {
      this.#onReady = { resolve, reject };
    });
    this.#ready.catch(() => {}); // awaited by ready(); a close before that must not go unhandled
    this.socket.once('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}:${port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`);
    });
  }

  /** Resolves once upgraded; rejects when refused, unreachable or not upgraded. */
  async ready(): Promise<void> {
    await this.#ready;
  }

  protected override onClose(): void {
    this.#onReady?.reject(new Error('connect'));
  }

  protected onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    if (!this.#upgraded) {
      const head = this.#buf.indexOf(CRLF2);
      if (head < 0) return;
      if (this.#buf.toString('latin1', 0, 12) !== 'HTTP/1.1 101') {
        this.#onReady?.reject(new Error(`not upgraded: ${this.#buf.toString('latin1', 0, Math.min(head, 64))}`));
        this.close();
        return;
      }
      this.#upgraded = true;
      this.#onReady?.resolve();
      this.#onReady = null;
      this.#buf = this.#buf.subarray(head + 4);
    }
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      if ((b[0] & 0xf0) !== 0x80) {
        this.#protocolError(); // a fragment, or reserved bits: hotpath sends neither
        return;
      }
      const opcode = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b[1] & 0x80) {
        this.#protocolError(); // servers never mask
        return;
      }
      if (b.length < at + len) return;
      const payload = b.subarray(at, at + len);
      this.#buf = b.subarray(at + len);
      if (opcode === 0x9) this.socket.write(clientFrame(payload, 0xa)); // ping -> pong
      else if (opcode === 0x8) this.close();
      else if (opcode === 0x2) this.#answerFrame(payload);
      else if (opcode !== 0xa) {
        this.#protocolError(); // text or a continuation: hotpath answers binary frames in one piece
        return;
      }
    }
  }

  #answerFrame(payload: Buffer): void {
    // An error frame is an answer with its code's HTTP status; anything else a 200.
    if (payload[0] !== WS_OP.ERROR) return this.answer({ status: 200 });
    const codeLen = payload[8];
    this.answer({ status: errorStatus(payload.toString('latin1', 9, 9 + codeLen)) });
  }

  #protocolError(): void {
    this.answer('protocol');
    this.close();
  }
}

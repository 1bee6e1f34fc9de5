// An append-only file kept beside the write-ahead log (in its folder, so --discard-state
// moves it aside with the log) that is rewritten from memory when it has grown: the ids of
// applied events (event-ids-file.ts) and of applied shared-log batches
// (src/redis/applied-file.ts). Writes throw; the owners log and go on.
import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';

export class SideFile {
  readonly path: string;
  readonly #minRewrite: number;
  #fd: number;
  #size: number;
  #rewriteAt: number;

  /** Opens path for appending; a rewrite is due once it passes minRewriteBytes (or twice what the last rewrite wrote). */
  constructor(path: string, minRewriteBytes: number) {
    this.path = path;
    this.#minRewrite = minRewriteBytes;
    this.#rewriteAt = minRewriteBytes;
    this.#fd = openSync(path, 'a', 0o600);
    this.#size = fstatSync(this.#fd).size;
  }

  get open(): boolean {
    return this.#fd >= 0;
  }

  /** true once the file has grown past its rewrite size */
  get due(): boolean {
    return this.#size > this.#rewriteAt;
  }

  /** Appends the first len bytes of buf (all of it by default). Throws on a failed write. */
  append(buf: Uint8Array, len = buf.length): void {
    let off = 0;
    while (off < len) off += writeSync(this.#fd, buf, off, len - off);
    this.#size += len;
  }

  /** The file again from what fill puts: written to a temporary file, then renamed over it. Throws on failure (the old file stays). */
  rewrite(fill: (put: (buf: Uint8Array, len?: number) => void) => void): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    let bytes = 0;
    try {
      fill((buf, len = buf.length) => {
        let off = 0;
        while (off < len) off += writeSync(fd, buf, off, len - off);
        bytes += len;
      });
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    closeSync(this.#fd);
    this.#fd = openSync(this.path, 'a', 0o600);
    this.#size = bytes;
    this.#rewriteAt = Math.max(this.#minRewrite, 2 * bytes);
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}

// Delivery of alerts to one webhook: a bounded queue and one sender loop that POSTs each
// alert's JSON with Node's fetch, one alert at a time, in order. Nothing here runs on the
// caller's stack but the enqueue (a push into the ring): a slow or down webhook fills its
// own queue, whose overflow is dropped and counted; it never holds up ingest, other
// webhooks or the event loop (fetch is asynchronous, the body a string made once).
//
// Each alert gets one attempt chain: the first POST, then up to `retries` more after a
// network error, a timeout, 408, 429 or a 5xx, waiting `backoff` doubled each time (with
// jitter: a random point in the upper half of the wait, so that webhooks that failed
// together do not retry together) up to `max_backoff`. A 2xx ends it delivered; any other
// answer (3xx: redirects are not followed; other 4xx) or the last retry ends it failed.
// The chain is not persisted: an alert in the queue or in its chain at a restart is lost.
// A receiver can see an alert twice when an attempt timed out after it took it: the alert
// id tells the copies apart (docs/alerts.md).
import type { WebhookDef } from '../config/load.js';

export type Fetch = typeof fetch;

export interface WebhookStats {
  delivered: number;
  failed: number;
  dropped: number;
  /** attempts after the first, over all alerts */
  retries: number;
}

export class WebhookSender {
  readonly def: WebhookDef;
  readonly stats: WebhookStats = { delivered: 0, failed: 0, dropped: 0, retries: 0 };
  readonly #fetch: Fetch;
  readonly #random: () => number;
  readonly #log: (line: string) => void;
  readonly #headers: Record<string, string>;
  // The queue: a ring of def.queue JSON strings.
  readonly #ring: (string | undefined)[];
  #head = 0;
  #size = 0;
  /** the sender loop is running (it stops when the queue is empty) */
  #running: Promise<void> | undefined;
  /** no more alerts are taken (close) */
  #closed = false;
  /** stop now: abort the attempt in flight and the wait between attempts */
  #stopping = false;
  #inflight: AbortController | undefined;
  #wake: (() => void) | undefined;
  /** the last failure logged, so that a down webhook logs once per change, not per alert */
  #lastError = '';

  constructor(def: WebhookDef, o: { fetch?: Fetch; random?: () => number; log?: (line: string) => void } = {}) {
    this.def = def;
    this.#fetch = o.fetch ?? fetch;
    this.#random = o.random ?? Math.random;
    this.#log = o.log ?? (() => {});
    this.#ring = new Array(def.queue);
    this.#headers = { 'content-type': 'application/json', 'user-agent': 'hotpath-alerts' };
    for (const [k, v] of def.headers) this.#headers[k.toLowerCase()] = v;
  }

  /** Alerts waiting (not counting the one being delivered). */
  get depth(): number {
    return this.#size;
  }

  /** Queues one alert's JSON; a full queue drops the oldest waiting alert or this one (def.drop). */
  enqueue(json: string): void {
    if (this.#closed) {
      this.stats.dropped++;
      return;
    }
    const cap = this.#ring.length;
    if (this.#size === cap) {
      this.stats.dropped++;
      if (this.def.drop === 'newest') return;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % cap;
      this.#size--;
    }
    this.#ring[(this.#head + this.#size) % cap] = json;
    this.#size++;
    this.#running ??= this.#run();
  }

  #shift(): string {
    const json = this.#ring[this.#head]!;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    return json;
  }

  async #run(): Promise<void> {
    // Started from enqueue(), on the producer's stack: begin on a later turn, so the
    // producer pays for the push only.
    await Promise.resolve();
    try {
      while (this.#size > 0 && !this.#stopping) await this.#deliver(this.#shift());
    } finally {
      this.#running = undefined;
    }
  }

  async #deliver(json: string): Promise<void> {
    const d = this.def;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt(json);
      if (outcome === 'delivered') {
        this.stats.delivered++;
        if (this.#lastError !== '') this.#log(`alerts: webhook ${d.name} delivers again`);
        this.#lastError = '';
        return;
      }
      if (outcome.retry && attempt < d.retries && !this.#stopping) {
        this.stats.retries++;
        await this.#sleep(this.backoff(attempt));
        if (!this.#stopping) continue;
      }
      this.stats.failed++;
      if (outcome.error !== this.#lastError) this.#log(`alerts: webhook ${d.name}: ${outcome.error} (after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}; an alert was not delivered)`);
      this.#lastError = outcome.error;
      return;
    }
  }

  /** The wait after attempt `attempt` (0-based) failed: backoff × 2^attempt, capped, in its upper half at random. */
  backoff(attempt: number): number {
    const full = Math.min(this.def.maxBackoffMs, this.def.backoffMs * 2 ** attempt);
    return full / 2 + (this.#random() * full) / 2;
  }

  async #attempt(json: string): Promise<'delivered' | { retry: boolean; error: string }> {
    const ac = new AbortController();
    this.#inflight = ac;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.def.timeoutMs);
    try {
      const res = await this.#fetch(this.def.url, { method: 'POST', headers: this.#headers, body: json, signal: ac.signal, redirect: 'manual' });
      // The answer's body is not read (only its status counts); cancel it so the connection is freed.
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return 'delivered';
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      return { retry, error: `answered ${res.status}` };
    } catch (err) {
      if (timedOut) return { retry: true, error: `no answer within ${this.def.timeoutMs} ms (timeout)` };
      if (this.#stopping) return { retry: false, error: 'stopped at shutdown' };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { retry: true, error: cause?.code ?? cause?.message ?? (err as Error).message };
    } finally {
      clearTimeout(timer);
      this.#inflight = undefined;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /**
   * Takes no more alerts, lets the queue drain for up to `deadlineMs`, then stops: the
   * attempt in flight is aborted (counted failed) and what is still queued is dropped
   * (counted).
   */
  async close(deadlineMs: number): Promise<void> {
    this.#closed = true;
    const running = this.#running;
    if (running && deadlineMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
      clearTimeout(timer);
    }
    this.#stopping = true;
    this.#inflight?.abort();
    this.#wake?.();
    await this.#running;
    this.stats.dropped += this.#size;
    while (this.#size > 0) this.#shift();
  }
}

// The recent alerts, a ring of alerts.keep entries for GET /v1/alerts. Ids are consecutive
// (the hub numbers every alert it emits, and every emitted alert lands here), so the ring
// is indexed by id: the oldest kept is `last - size + 1`.
import type { Alert } from './alert.js';

export interface RecentPage {
  /** the alerts' JSON, oldest first */
  json: string[];
  /** the id to pass as `since` next: the last one returned, else `since` (or the newest id) */
  next: number;
  /** alerts of this process after `since` that fell out of the ring before this read */
  missed: number;
}

export class RecentAlerts {
  readonly #alerts: (Alert | undefined)[];
  readonly #json: string[];
  #size = 0;
  /** id of the newest alert kept (0: none yet) */
  #last = 0;

  /** `first`: the first id this process gives out */
  constructor(
    readonly capacity: number,
    readonly first: number,
  ) {
    this.#alerts = new Array(capacity);
    this.#json = new Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(alert: Alert, json: string): void {
    const i = alert.id % this.capacity;
    this.#alerts[i] = alert;
    this.#json[i] = json;
    this.#last = alert.id;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Alerts with an id after `since`, at most `limit`, oldest first; without `since`, the newest `limit`. */
  page(since: number | undefined, limit: number): RecentPage {
    const last = this.#last;
    const oldest = last - this.#size + 1;
    let from: number;
    let missed = 0;
    if (since === undefined) from = Math.max(oldest, last - limit + 1);
    else {
      from = Math.max(oldest, since + 1);
      // Alerts of an earlier process (ids below `first`) were never here: not counted.
      if (this.#size > 0) missed = Math.max(0, oldest - Math.max(since + 1, this.first));
    }
    const to = Math.min(last, from + limit - 1);
    const json: string[] = [];
    for (let id = from; id <= to; id++) json.push(this.#json[id % this.capacity]);
    const next = json.length > 0 ? to : (since ?? last);
    return { json, next, missed };
  }

  /** The newest kept alerts, oldest first (tests, tools). */
  list(): Alert[] {
    const out: Alert[] = [];
    for (let id = this.#last - this.#size + 1; id <= this.#last; id++) out.push(this.#alerts[id % this.capacity]!);
    return out;
  }
}

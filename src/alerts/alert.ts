// What an alert is, as every consumer sees it: GET /v1/alerts, WebSocket subscribers and
// webhooks all get this object as JSON (docs/alerts.md).
import type { Severity } from '../config/load.js';

export type AlertState = 'firing' | 'resolved' | 'event';

export interface Alert {
  /**
   * Increasing over the server's life and across restarts: the first id of a process is
   * its start time in ms × 1000 (so `since` and a receiver's de-duplication survive a
   * restart while fewer than 1000 alerts a millisecond are raised on average).
   */
  readonly id: number;
  /** the rule's name; null for a raised event no rule matches */
  readonly rule: string | null;
  readonly source: string;
  /** the entity, for a per-entity rule (or a raised event that names one) */
  readonly entity?: string;
  readonly state: AlertState;
  readonly severity: Severity;
  /** the observed value (firing, resolved), or the event's (null when it gave none) */
  readonly value: number | null;
  /** firing: the threshold; resolved: the clear level; event: what the producer gave, or null */
  readonly threshold: number | null;
  /** ms since the epoch */
  readonly at: number;
  readonly message: string;
}

/** A discrete event (a drift detected, a learner reset or promoted): AlertHub.raise. */
export interface AlertEvent {
  source: string;
  entity?: string;
  value?: number;
  threshold?: number;
  /** used when no rule matches (a matching rule's severity wins); default 'info' */
  severity?: Severity;
  message?: string;
}

/**
 * Receives each alert once, synchronously, as it is raised (on the ingest path: it must not
 * block). `json` is JSON.stringify(alert), made once for every consumer.
 */
export type AlertSink = (alert: Alert, json: string) => void;

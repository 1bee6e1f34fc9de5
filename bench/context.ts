// What the suite (bench/suite.ts) hands each scenario, and what a scenario hands back: its
// section of the report (markdown, JSON, HTML tables and plots).
import type { HtmlTable, PlotSeries } from '../src/bench/report-html.js';

export interface Context {
  /** this checkout (the suite's own), with a trailing / */
  root: string;
  rounds: number;
  durationMs: number;
  warmupMs: number;
  /** closed-loop connections */
  connections: number;
  /** ab, gc: the two built checkouts, absolute */
  a?: string;
  b?: string;
  /** taskset CPU lists for the servers and for the generator (this process, and wrk) */
  pin?: { server: string; generator: string };
  /** wrk is installed */
  wrk: boolean;
  /** ab: the generator for feature reads and predicts */
  gen: 'wrk' | 'ours';
  /** gc: the open-loop predict rate */
  rate: number;
  /** gc: the connection counts to measure */
  gcConnections: number[];
  /** faults: the steady open-loop predict rate (req/s) the faults are measured under */
  faultRate: number;
  /** faults: the rows to run (their keys); undefined: all */
  faults?: string[];
}

export interface Section {
  /** its key in the JSON file */
  key: string;
  title: string;
  md: string;
  json: unknown;
  tables: HtmlTable[];
  plots: { title: string; series: PlotSeries[] }[];
  notes?: string[];
}

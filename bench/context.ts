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
  /** peers: the instance price the cost per million requests is worked out from */
  price: { perHour: number; vcpus: number };
}

/**
 * Dollars per million requests at ctx.price, from server CPU seconds per 1,000 requests: the
 * instance's price per vCPU-second times the CPU a million requests take (a server that
 * keeps its cores busy; idle capacity is not counted).
 */
export function costPerMillion(cpuSecondsPer1k: number, price: Context['price']): number {
  return (cpuSecondsPer1k * 1000 * price.perHour) / (3600 * price.vcpus);
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

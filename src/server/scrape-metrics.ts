// Metrics read from plain counters when Prometheus scrapes (durability, alerts, learners,
// detectors): nothing on the paths that count. One helper makes the counter or gauge, with
// or without labels; its series are rebuilt at each scrape from what `read` returns (a
// bare number for a metric without labels). Non-finite values (a window with no labels
// yet) are left out.
import client from 'prom-client';

export type Labels = Record<string, string>;

export function scraped(
  registry: client.Registry, kind: 'counter' | 'gauge', name: string, help: string, labelNames: readonly string[],
  read: () => number | Iterable<readonly [Labels, number]>,
): void {
  const samples = (): Iterable<readonly [Labels, number]> => {
    const r = read();
    return typeof r === 'number' ? [[{}, r]] : r;
  };
  const common = { name, help, labelNames: [...labelNames], registers: [registry] };
  if (kind === 'counter')
    new client.Counter({
      ...common,
      collect() {
        this.reset();
        for (const [labels, v] of samples()) if (Number.isFinite(v)) this.inc(labels, v);
      },
    });
  else
    new client.Gauge({
      ...common,
      collect() {
        this.reset();
        for (const [labels, v] of samples()) if (Number.isFinite(v)) this.set(labels, v);
      },
    });
}

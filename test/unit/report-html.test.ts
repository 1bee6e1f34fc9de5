// The bench's HTML page: percentile points from a histogram, and a plot whose lines follow them.
import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';

import { esc, htmlReport, percentilePoints, percentileSvg } from '../../src/bench/report-html.js';

function histogram(values: number[]): hdr.Histogram {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  for (const v of values) h.recordValue(v);
  return h;
}

describe('percentilePoints', () => {
  it('runs from the minimum to the maximum over the decades the sample resolves', () => {
    // 10,000 values 1..10,000 µs: p50 = 5,000, p99 = 9,900, p99.99 = 10,000
    const h = histogram(Array.from({ length: 10_000 }, (_, i) => i + 1));
    const pts = percentilePoints(h);
    expect(pts[0]).toEqual({ x: 0, y: h.getValueAtPercentile(0) });
    expect(pts.at(-1)!.x).toBeCloseTo(4, 6); // 10^4 samples: up to 99.99 %
    const at = (x: number) => pts.find((p) => Math.abs(p.x - x) < 1e-9)!.y;
    expect(at(2)).toBeGreaterThanOrEqual(9890);
    expect(at(2)).toBeLessThanOrEqual(9910);
    for (let i = 1; i < pts.length; i++) expect(pts[i].y).toBeGreaterThanOrEqual(pts[i - 1].y);
    expect(percentilePoints(histogram([]))).toEqual([]);
  });
});

describe('percentileSvg and htmlReport', () => {
  it('draws one line per series, with escaped labels', () => {
    const a = histogram([100, 200, 300, 400]);
    const b = histogram([1000, 2000, 3000, 4000]);
    const svg = percentileSvg([{ label: 'A <fast>', histogram: a }, { label: 'B & slow', histogram: b }]);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('A &lt;fast&gt;');
    expect(svg).toContain('B &amp; slow');
    expect(svg).toContain('latency (ms)'); // 4,000 µs at the top: the axis reads in ms
    // B's line lies above A's: smaller y coordinates at the same x.
    const ys = [...svg.matchAll(/points="([^"]+)"/g)].map((m) => m[1].split(' ').map((p) => Number(p.split(',')[1])));
    expect(ys[1][0]).toBeLessThan(ys[0][0]);
    const page = htmlReport({ title: 't<1>', about: ['x'], tables: [{ caption: 'c', head: ['run', 'p99'], rows: [['r"1', '5']] }], plots: [{ title: 'p1', series: [{ label: 'A', histogram: a }] }, { title: 'p2', series: [{ label: 'B', histogram: b }] }] });
    expect(page.match(/<svg/g)).toHaveLength(2);
    expect(page).toContain('<title>t&lt;1&gt;</title>');
    expect(page).toContain('<td>r&quot;1</td>');
    expect(esc('<&>"')).toBe('&lt;&amp;&gt;&quot;');
  });
});

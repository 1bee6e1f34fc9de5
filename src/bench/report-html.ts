// The HTML page of a bench run: a results table and the latency-by-percentile plot (as
// HdrHistogram's plotter draws it: percentiles on a log axis of 1 / (1 - p), so the tail
// gets as much room as the median). One self-contained file: inline SVG and CSS, no
// script, nothing fetched, so it opens anywhere, offline.
import type * as hdr from 'hdr-histogram-js';

export interface PlotSeries {
  label: string;
  histogram: hdr.Histogram;
}

export interface HtmlTable {
  caption?: string;
  head: string[];
  rows: string[][];
}

export interface HtmlReport {
  title: string;
  /** lines of text under the title (method, machine) */
  about: string[];
  tables: HtmlTable[];
  /** latency-by-percentile plots, each with its own title */
  plots: { title: string; series: PlotSeries[] }[];
  notes?: string[];
}

const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#0a7b83', '#cf222e', '#57606a'];
/** The percentile ticks of the x axis: 0 %, 90 %, 99 %, ... as 1 / (1 - p) = 1, 10, 100, ... */
const X_TICKS = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Points (x = log10(1 / (1 - p)), y = latency in µs) from p = 0 up to the histogram's resolution. */
export function percentilePoints(h: hdr.Histogram, maxNines = 5): { x: number; y: number }[] {
  if (h.totalCount === 0) return [];
  // Beyond 1 / count the percentiles are all the max: stop one decade past it.
  const nines = Math.min(maxNines, Math.ceil(Math.log10(h.totalCount)));
  const pts: { x: number; y: number }[] = [];
  for (let x = 0; x <= nines + 1e-9; x += 0.05) {
    const p = 100 * (1 - 10 ** -x);
    pts.push({ x, y: h.getValueAtPercentile(p) });
  }
  return pts;
}

function niceStep(max: number): number {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** The latency-by-percentile plot as an SVG element. */
export function percentileSvg(series: PlotSeries[], width = 760, height = 380): string {
  const pad = { l: 70, r: 40, t: 20, b: 50 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const all = series.map((s) => percentilePoints(s.histogram));
  const xMax = Math.max(1, ...all.map((pts) => (pts.length ? pts[pts.length - 1].x : 0)));
  const yTop = Math.max(1, ...all.flatMap((pts) => pts.map((p) => p.y)));
  const step = niceStep(yTop);
  const yMax = Math.ceil(yTop / step) * step;
  const X = (x: number) => pad.l + (x / xMax) * w;
  const Y = (y: number) => pad.t + h - (y / yMax) * h;
  const ms = yMax >= 2000;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${h}" fill="#fff" stroke="#d0d7de"/>`,
  ];
  for (let y = 0; y <= yMax + 1e-9; y += step) {
    out.push(`<line x1="${pad.l}" x2="${pad.l + w}" y1="${Y(y).toFixed(1)}" y2="${Y(y).toFixed(1)}" stroke="#eaeef2"/>`);
    out.push(`<text x="${pad.l - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${ms ? `${+(y / 1000).toFixed(2)}` : `${+y.toFixed(0)}`}</text>`);
  }
  for (let i = 0; i <= Math.floor(xMax + 1e-9) && i < X_TICKS.length; i++) {
    out.push(`<line x1="${X(i).toFixed(1)}" x2="${X(i).toFixed(1)}" y1="${pad.t}" y2="${pad.t + h}" stroke="#eaeef2"/>`);
    out.push(`<text x="${X(i).toFixed(1)}" y="${pad.t + h + 16}" text-anchor="middle">${X_TICKS[i]}</text>`);
  }
  out.push(`<text x="${pad.l + w / 2}" y="${height - 8}" text-anchor="middle">percentile</text>`);
  out.push(`<text transform="translate(16 ${pad.t + h / 2}) rotate(-90)" text-anchor="middle">latency (${ms ? 'ms' : 'µs'})</text>`);
  all.forEach((pts, i) => {
    if (pts.length === 0) return;
    const color = COLORS[i % COLORS.length];
    const d = pts.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${d}"><title>${esc(series[i].label)}</title></polyline>`);
    out.push(`<rect x="${pad.l + 10}" y="${pad.t + 10 + i * 18}" width="12" height="3" fill="${color}"/>`);
    out.push(`<text x="${pad.l + 28}" y="${pad.t + 15 + i * 18}">${esc(series[i].label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function tableHtml(t: HtmlTable): string {
  return [
    ...(t.caption ? [`<h2>${esc(t.caption)}</h2>`] : []),
    '<table>',
    `<tr>${t.head.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`,
    ...t.rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`),
    '</table>',
  ].join('\n');
}

export function htmlReport(r: HtmlReport): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(r.title)}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #1f2328; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
p.about { color: #57606a; margin: 0.2em 0; }
</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
${r.about.map((a) => `<p class="about">${esc(a)}</p>`).join('\n')}
${r.tables.map(tableHtml).join('\n')}
${r.plots.map((p) => `<h2>${esc(p.title)}</h2>
<p class="about">Latency by percentile, 2xx answers only. The x axis is 1 / (1 − p) on a log scale, so each decade of the tail gets equal room.</p>
${percentileSvg(p.series)}`).join('\n')}
${(r.notes ?? []).map((n) => `<p>${esc(n)}</p>`).join('\n')}
</body>
</html>
`;
}

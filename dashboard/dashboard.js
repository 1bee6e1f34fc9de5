// hotpath's live dashboard (docs/dashboard.md). Plain JS, no build step: it opens the
// WebSocket /dashboard/ws (with the page's ?key= when it has one), receives one snapshot a
// second (src/server/dashboard.ts) and draws the last WINDOW seconds with uPlot.
//
// Memory stays flat: every chart keeps fixed-size arrays (WINDOW points per series),
// shifted in place as each snapshot arrives; the alert list keeps ALERTS_KEPT items. A
// chart is rebuilt only when its set of series changes (a model, worker or entity appears,
// or another route class is picked for the stage chart).
'use strict';
(() => {
  const WINDOW = 300; // seconds on screen
  const ALERTS_KEPT = 20;
  const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff7b72', '#a5d6ff', '#7ee787', '#e3b341'];

  const key = new URLSearchParams(location.search).get('key');
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/dashboard/ws${key ? `?key=${encodeURIComponent(key)}` : ''}`;

  // What a test (or a curious operator) can read: window.hotpathDashboard.
  const state = { snapshots: 0, connects: 0, last: null, charts: {} };
  window.hotpathDashboard = state;

  const $ = (id) => document.getElementById(id);
  const fmt = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(d));

  /** One chart: uPlot over fixed arrays, x in seconds since the epoch. */
  class Chart {
    constructor(id, unit) {
      this.el = $(id);
      this.unit = unit;
      this.names = null; // the first push builds the chart, with or without series
      this.plot = null;
      this.data = null;
      this.filled = 0; // points pushed since the chart was built (the x axis spans them, up to WINDOW)
    }

    /** Appends one point per series (values in the order of `labels`); rebuilds when the labels change. */
    push(t, labels, values) {
      const names = labels.join('\u0000');
      if (names !== this.names) this.#build(t, labels, names);
      const d = this.data;
      for (let s = 0; s < d.length; s++) {
        const a = d[s];
        a.copyWithin(0, 1);
        a[WINDOW - 1] = s === 0 ? t : values[s - 1] ?? null;
      }
      if (this.filled < WINDOW) this.filled++;
      this.plot.setData(d);
    }

    #build(t, labels, names) {
      this.names = names;
      this.filled = 0;
      if (this.plot) this.plot.destroy();
      // x: the last WINDOW seconds up to now; every series starts empty (null: no line).
      const x = new Array(WINDOW);
      for (let i = 0; i < WINDOW; i++) x[i] = t - (WINDOW - i);
      this.data = [x, ...labels.map(() => new Array(WINDOW).fill(null))];
      const unit = this.unit;
      this.plot = new uPlot(
        {
          width: this.el.clientWidth || 500,
          height: 200,
          legend: { live: false },
          cursor: { show: false },
          // The x axis spans the points received so far (at least a minute), up to WINDOW.
          scales: { x: { time: true, range: (u, min, max) => [Math.min(max - 60, this.data[0][WINDOW - Math.max(this.filled, 1)]), max] } },
          axes: [
            { stroke: '#7d8a97', grid: { stroke: '#26303b' } },
            { stroke: '#7d8a97', grid: { stroke: '#26303b' }, size: 60, values: (u, vals) => vals.map((v) => `${+v.toPrecision(3)}${unit}`) },
          ],
          series: [{}, ...labels.map((l, i) => ({ label: l, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }))],
        },
        this.data,
        this.el,
      );
    }

    resize() {
      if (this.plot) this.plot.setSize({ width: this.el.clientWidth || 500, height: 200 });
    }

    /** points received in this chart's window (a test reads it) */
    get points() {
      return this.data && this.data.length > 1 ? this.data[1].filter((v) => v !== null).length : 0;
    }
  }

  const charts = {
    rates: new Chart('chart-rates', ''),
    routes: new Chart('chart-routes', ''),
    stages: new Chart('chart-stages', 'ms'),
    latency: new Chart('chart-latency', 'ms'),
    queue: new Chart('chart-queue', 'ms'),
    batch: new Chart('chart-batch', ''),
    batchSizes: new Chart('chart-batch-sizes', ''),
    rings: new Chart('chart-rings', '%'),
    freshness: new Chart('chart-freshness', 's'),
    fallbacks: new Chart('chart-fallbacks', ''),
  };
  state.charts = charts;
  window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));

  // The stage chart shows one route class at a time (up to 5 stages x 3 quantiles); the
  // select lists the classes the server has answered (predict by default, else the first).
  const stageSelect = $('stage-route');
  let stageRoute = null;
  stageSelect.addEventListener('change', () => (stageRoute = stageSelect.value));

  function stageChart(t, s) {
    const routes = [...new Set(s.stages.map((x) => x.route))];
    if (routes.join(',') !== stageSelect.dataset.routes) {
      stageSelect.dataset.routes = routes.join(',');
      stageSelect.replaceChildren(
        ...routes.map((r) => {
          const o = document.createElement('option');
          o.value = o.textContent = r;
          return o;
        }),
      );
    }
    if (!routes.includes(stageRoute)) stageRoute = routes.includes('predict') ? 'predict' : routes[0] ?? null;
    if (stageRoute !== null) stageSelect.value = stageRoute;
    const rows = s.stages.filter((x) => x.route === stageRoute);
    charts.stages.push(
      t,
      rows.flatMap((x) => [`${x.stage} p50`, `${x.stage} p99`, `${x.stage} p99.9`]),
      rows.flatMap((x) => [x.p50_ms, x.p99_ms, x.p999_ms]),
    );
  }

  function tiles(s) {
    const items = [
      ['predicts/s', fmt(s.rates.predicts, 0)],
      ['feature reads/s', fmt(s.rates.feature_reads, 0)],
      ['events/s', fmt(s.rates.events, 0)],
      ['late events/s', fmt(s.rates.late, 0)],
      ['queue delay', `${fmt(s.queue.delay_ms, 2)} ms`],
      ['waiting', String(s.queue.waiting)],
      ['pages', String(s.pages)],
    ];
    $('tiles').replaceChildren(
      ...items.map(([label, value]) => {
        const d = document.createElement('div');
        d.className = 'tile';
        const b = document.createElement('b');
        b.textContent = value;
        const sp = document.createElement('span');
        sp.textContent = label;
        d.append(b, sp);
        return d;
      }),
    );
  }

  function breakers(s) {
    $('breakers').tBodies[0].replaceChildren(
      ...s.models.map((m) => {
        const tr = document.createElement('tr');
        for (const [text, cls] of [[m.name], [m.breaker, m.breaker], [fmt(m.rps, 0)]]) {
          const td = document.createElement('td');
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  /** A table body's rows from arrays of cells ([text, class?]); an empty list shows one `none` row. */
  function rows(id, list, width) {
    const body = $(id).tBodies[0];
    if (list.length === 0) {
      const td = document.createElement('td');
      td.colSpan = width;
      td.className = 'muted';
      td.textContent = 'none';
      const tr = document.createElement('tr');
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(
      ...list.map((cells) => {
        const tr = document.createElement('tr');
        for (const [text, cls] of cells) {
          const td = document.createElement('td');
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  // One row per arm (the bandit's rates on its first), one per variant (the experiment's state on its first).
  function banditsAndExperiments(s) {
    rows('bandits', (s.bandits ?? []).flatMap((b) => b.arms.map((a, i) => [
      [i === 0 ? `${b.name} (${b.policy})` : ''], [a.arm], [String(a.pulls)], [fmt(a.mean_reward, 3)],
      [i === 0 ? fmt(b.decisions, 1) : ''], [i === 0 ? fmt(b.rewards, 1) : ''],
    ])), 6);
    rows('experiments', (s.experiments ?? []).flatMap((x) => x.variants.map((v, i) => [
      [i === 0 ? x.name : ''], [v.name, v.rolled_back ? 'open' : v.significant ? 'closed' : ''], [String(v.exposures)], [fmt(v.mean, 3)], [fmt(v.p, 4)],
      [i === 0 ? `${x.status}, ${fmt(x.share * 100, 0)} %, ${fmt(x.srm_p, 3)}` : '', i === 0 && x.srm_p < 0.001 ? 'open' : ''],
    ])), 6);
  }

  function alerts(s) {
    const list = $('alerts');
    for (const a of s.alerts.latest) {
      const li = document.createElement('li');
      li.className = a.severity ?? '';
      li.textContent = `${new Date(a.at ?? s.t).toLocaleTimeString()} ${a.rule ?? a.source} ${a.entity ?? ''} ${a.state ?? ''} ${a.message ?? ''}`;
      list.prepend(li);
    }
    while (list.children.length > ALERTS_KEPT) list.lastElementChild.remove();
  }

  function draw(s) {
    const t = s.t / 1000;
    const models = s.models;
    charts.rates.push(t, ['predicts', 'feature reads', 'events', 'late'], [s.rates.predicts, s.rates.feature_reads, s.rates.events, s.rates.late]);
    charts.routes.push(t, s.routes.map((r) => r.route), s.routes.map((r) => r.rps));
    stageChart(t, s);
    charts.latency.push(
      t,
      models.flatMap((m) => [`${m.name} p50`, `${m.name} p99`, `${m.name} p99.9`]),
      models.flatMap((m) => [m.p50_ms, m.p99_ms, m.p999_ms]),
    );
    charts.queue.push(t, ['delay now', ...models.map((m) => `${m.name} queue p99`)], [s.queue.delay_ms, ...models.map((m) => m.queue_p99_ms)]);
    charts.batch.push(t, models.map((m) => m.name), models.map((m) => m.batch_mean));
    charts.batchSizes.push(
      t,
      models.flatMap((m) => [`${m.name} p50`, `${m.name} p99`]),
      models.flatMap((m) => [m.batch_p50, m.batch_p99]),
    );
    charts.rings.push(t, s.rings.map((r) => `worker ${r.worker}`), s.rings.map((r) => r.request * 100));
    charts.freshness.push(
      t,
      s.freshness.flatMap((f) => [`${f.entity} p50`, `${f.entity} p99`]),
      s.freshness.flatMap((f) => [f.p50_s, f.p99_s]),
    );
    charts.fallbacks.push(t, ['shed', ...models.map((m) => `${m.name} fallbacks`)], [s.queue.shed, ...models.map((m) => m.fallbacks)]);
    tiles(s);
    breakers(s);
    banditsAndExperiments(s);
    alerts(s);
    $('clock').textContent = new Date(s.t).toLocaleTimeString();
    $('count').textContent = String(state.snapshots);
  }

  // Reconnects after 1 s, then backing off to 5 s, for as long as the page is open.
  let delay = 1000;
  function connect() {
    const ws = new WebSocket(wsUrl);
    ws.onopen = () => {
      state.connects++;
      delay = 1000;
      $('status').textContent = 'live';
      $('status').className = 'status up';
    };
    ws.onmessage = (m) => {
      const s = JSON.parse(m.data);
      state.snapshots++;
      state.last = s;
      draw(s);
    };
    ws.onclose = () => {
      $('status').textContent = 'reconnecting';
      $('status').className = 'status down';
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }
  connect();
})();

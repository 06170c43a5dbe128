// Overview: live charts from GET /stats (in-memory counters, cheap to ask every 5 s) and the
// destinations' health.
import {api} from './api.js';
import {badge, el, empty, ms, notice, number, origin, percent, replace, replaceKeepingFocus, seconds, table, time, code} from './dom.js';

const REFRESH_MS = 5000;
const WINDOWS = [
  {key: 'recent', label: 'Last 15 minutes', seconds: 900},
  {key: 'since', label: 'Since start', seconds: 31536000},
];

const COLORS = {ok: '#1a7f37', warn: '#b35900', bad: '#cf222e', blue: '#0969da', purple: '#8250df'};

const CHARTS = [
  {
    title: 'Ingest answers by class',
    counts: true,
    series: [
      {label: '2xx', color: COLORS.ok, get: b => b.ingest['2xx']},
      {label: '4xx', color: COLORS.warn, get: b => b.ingest['4xx']},
      {label: '5xx', color: COLORS.bad, get: b => b.ingest['5xx']},
    ],
  },
  {
    title: 'Deliveries',
    counts: true,
    series: [
      {label: 'succeeded', color: COLORS.ok, get: b => b.deliveries.succeeded},
      {label: 'failed', color: COLORS.bad, get: b => b.deliveries.failed},
      {label: 'retried', color: COLORS.warn, get: b => b.deliveries.retried},
    ],
  },
  {
    title: 'Pending deliveries',
    series: [{label: 'pending', color: COLORS.blue, get: b => b.pending}],
  },
  {
    title: 'Oldest pending age (s)',
    series: [{label: 'age (s)', color: COLORS.purple, get: b => b.oldest_pending_age_s}],
  },
];

let chosen = 'recent';  // kept while the tab lives

// Forgets the chosen window (sign-out: the next user of the tab starts afresh).
export function reset() { chosen = 'recent'; }

// The last bucket is still filling: a count there would draw a dip that is not real, so counts
// end at the last complete bucket (levels, like pending, are samples and stay).
function chartData(chart, buckets) {
  return [buckets.map(b => Date.parse(b.start) / 1000), ...chart.series.map(s => buckets.map((b, i) => {
    if (chart.counts && i === buckets.length - 1) return null;
    const v = s.get(b);
    return v === undefined ? null : v;
  }))];
}

function latestText(chart, buckets, seconds) {
  let i = buckets.length - (chart.counts ? 2 : 1);
  // A level is sampled once per bucket: the bucket in progress may not have its sample yet.
  while (!chart.counts && i > 0 && buckets[i] && buckets[i].pending == null) i -= 1;
  const last = buckets[i];
  if (!last) return 'No data yet.';
  const values = chart.series.map(s => `${s.label}: ${number(s.get(last), 1)}`).join(', ');
  return chart.counts ? `${values} in the last complete ${seconds} s` : `${values} now`;
}

export function render(view, ctx) {
  const status = el('div', {class: 'live'});
  const summary = el('div', {class: 'tiles'});
  const chartsBox = el('div', {class: 'charts'});
  const destBox = el('section', {'aria-labelledby': 'dest-health'},
    el('h2', {id: 'dest-health'}, 'Destinations'), el('div', {}, 'Loading…'));
  const toggles = WINDOWS.map(w => el('button', {
    type: 'button', class: 'toggle', 'aria-pressed': String(w.key === chosen),
    onclick: () => {
      chosen = w.key;
      for (const [i, b] of toggles.entries()) b.setAttribute('aria-pressed', String(WINDOWS[i].key === chosen));
      plots.forEach(p => p.plot.destroy());
      plots = [];
      clearTimeout(timer);
      refresh();
    },
  }, w.label));
  view.append(
    el('div', {class: 'page-head'},
      el('h1', {tabindex: '-1'}, 'Overview'),
      el('div', {class: 'toolbar', role: 'group', 'aria-label': 'Time window'}, toggles)),
    status, summary,
    el('section', {'aria-labelledby': 'charts-title'},
      el('h2', {id: 'charts-title', class: 'visually-hidden'}, 'Charts'), chartsBox),
    destBox);

  let plots = [];
  let stopped = false;
  let timer = null;
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
    plots.forEach(p => p.plot.destroy());
    window.removeEventListener('resize', onResize);
  });

  function width() {
    const w = chartsBox.clientWidth || 600;
    return w >= 900 ? Math.floor((w - 24) / 2) : w;
  }
  function onResize() {
    plots.forEach(p => p.plot.setSize({width: width() - 2, height: 180}));
  }
  window.addEventListener('resize', onResize);

  // The x axis spans the whole window (15 minutes, or since start), not just the buckets there
  // are, so a young server's first bucket is not stretched across the chart.
  let xRange = [0, 1];
  function draw(stats) {
    const buckets = stats.buckets || [];
    const now = Date.parse(stats.now) / 1000;
    const since = Math.max(Date.parse(stats.started_at) / 1000, now - (stats.window || 900));
    xRange = [Math.min(since, buckets.length ? Date.parse(buckets[0].start) / 1000 : since), now];
    if (plots.length === 0) {
      replace(chartsBox);
      for (const chart of CHARTS) {
        const target = el('div', {class: 'plot'});
        const caption = el('figcaption', {}, el('span', {class: 'chart-title'}, chart.title),
          el('span', {class: 'chart-latest'}));
        chartsBox.append(el('figure', {class: 'chart', role: 'group', 'aria-label': chart.title}, caption, target));
        const opts = {
          width: width() - 2, height: 180,
          legend: {show: true, live: false},
          cursor: {drag: {x: false, y: false}},
          scales: {x: {time: true, range: () => xRange}, y: {range: (u, min, max) => [0, Math.max(1, max)]}},
          series: [{}, ...chart.series.map(s => ({label: s.label, stroke: s.color, width: 2, spanGaps: false, points: {show: false}}))],
          axes: [{}, {size: 50}],
        };
        const plot = new window.uPlot(opts, chartData(chart, buckets), target);
        plots.push({plot, chart, caption});
      }
    } else {
      for (const p of plots) p.plot.setData(chartData(p.chart, buckets));
    }
    for (const p of plots) p.caption.querySelector('.chart-latest').textContent = latestText(p.chart, buckets, stats.bucket_seconds);

    const totals = stats.totals || {ingest: {}, deliveries: {}};
    replace(summary,
      tile('Accepted (2xx)', number(totals.ingest['2xx']), 'since start'),
      tile('Refused (4xx)', number(totals.ingest['4xx']), 'since start'),
      tile('Errors (5xx)', number(totals.ingest['5xx']), 'since start'),
      tile('Delivered', number(totals.deliveries.succeeded), 'since start'),
      tile('Failed', number(totals.deliveries.failed), 'since start'),
      tile('Pending now', number(lastDefined(buckets, 'pending')), 'deliveries waiting'));

    const dests = stats.destinations || [];
    replaceKeepingFocus(destBox, el('h2', {id: 'dest-health'}, 'Destinations'),
      dests.length === 0
        ? empty('No destinations are configured. Add one under "destinations" in the config file and restart hookvault.')
        : table('Destination health since start', [
          {label: 'Destination', cell: d => el('a', {href: '#/destinations'}, d.name)},
          {label: 'State', cell: d => badge(d.state)},
          {label: 'Success rate', cell: d => percent(d.success_rate), class: 'num'},
          {label: 'p95 latency', cell: d => ms(d.p95_ms), class: 'num'},
          {label: 'Pending', cell: d => number(d.pending), class: 'num'},
          {label: 'Last error', cell: d => d.last_error
            ? el('span', {}, el('span', {class: 'error-text'}, d.last_error), ' ', time(d.last_error_at))
            : el('span', {class: 'muted'}, 'none')},
        ], dests, {captionHidden: true, key: d => d.name}));

    const noTraffic = !totals.ingest['2xx'] && !totals.ingest['4xx'] && !totals.ingest['5xx'];
    replace(status,
      el('p', {class: 'muted'}, 'Updated ', time(stats.now), ` · every ${REFRESH_MS / 1000} s · running since `, time(stats.started_at)),
      noTraffic ? empty('No webhooks received since start. Send one:',
        el('pre', {class: 'example'}, code(`curl -X POST ${origin()}/webhooks/<source> -H 'X-Auth-Token: <source token>' -H 'Content-Type: application/json' -d '{"hello": "world"}'`))) : null);
  }

  let generation = 0;  // a newer refresh (the window changed) supersedes one in flight
  async function refresh() {
    const mine = ++generation;
    const w = WINDOWS.find(x => x.key === chosen);
    try {
      const stats = await api(`/stats?window=${w.seconds}`);
      if (stopped || mine !== generation) return;
      draw(stats);
    } catch (err) {
      if (stopped || mine !== generation) return;
      replace(status, notice('error', `Could not load the statistics: ${err.message}`));
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
}

function lastDefined(buckets, key) {
  for (let i = buckets.length - 1; i >= 0; i -= 1) {
    if (buckets[i][key] !== null && buckets[i][key] !== undefined) return buckets[i][key];
  }
  return null;
}

function tile(label, value, note) {
  return el('div', {class: 'tile'}, el('div', {class: 'tile-value'}, value), el('div', {class: 'tile-label'}, label),
    el('div', {class: 'tile-note'}, note));
}

// The gpups dashboard: polls api/series once a second and draws every chart as plain SVG.
// window.gpupsChartPoints() returns {chart: points drawn}; each <svg> also carries data-points.
'use strict';
(function () {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 560, H = 240, LEFT = 64, RIGHT = 12, TOP = 10, BOTTOM = 28;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  const points = {};

  function node(tag, attrs, parent, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }

  // 1234567 -> "1.23M"; bytes -> "1.2 MiB".
  function fmt(v, unit) {
    if (!isFinite(v)) return '-';
    if (v === 0) return '0';
    if (unit === 'bytes') {
      const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
      return (i ? v.toFixed(1) : v.toFixed(0)) + ' ' + u[i];
    }
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return v.toFixed(2);
    return v.toFixed(3);
  }

  // Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten (of 1024 for bytes).
  function ticks(lo, hi, unit) {
    let base = 1;
    if (unit === 'bytes') while (Math.max(Math.abs(lo), Math.abs(hi)) / base >= 1024) base *= 1024;
    const raw = (hi - lo) / base / 4, mag = Math.pow(10, Math.floor(Math.log10(raw))), norm = raw / mag;
    const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag * base;
    const out = [];
    for (let v = Math.floor(lo / step) * step; v < hi + step * 0.999; v += step) out.push(v);
    out.step = step;
    return out;
  }

  // An axis label with as many decimals as the tick step needs.
  function tickLabel(v, step, unit) {
    if (unit === 'bytes' || Math.abs(v) >= 1e4 || v === 0) return fmt(v, unit);
    return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  }

  function clock(seconds) {
    const s = Math.round(seconds);
    return s < 300 ? s + ' s' : Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  function empty(svg, text) {
    node('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty'}, svg, text);
  }

  function legend(id, names) {
    const box = document.querySelector('[data-legend="' + id + '"]');
    box.textContent = '';
    names.forEach((n, i) => {
      const s = document.createElement('span');
      s.style.setProperty('--c', COLORS[i % COLORS.length]);
      s.textContent = n;
      box.appendChild(s);
    });
  }

  function lineChart(svg, id, chart) {
    const series = chart.series.filter(s => s.points.length > 0);
    let n = 0, x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    series.forEach(s => s.points.forEach(([x, y]) => {
      n++; x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }));
    legend(id, series.map(s => s.name));
    if (n === 0) { empty(svg, 'no data yet'); return 0; }
    // Rates and sizes start at 0; loss and accuracy zoom to their range.
    if (id !== 'loss' && id !== 'accuracy') y0 = Math.min(0, y0);
    if (y1 === y0) { y1 = y0 + (Math.abs(y0) || 1) * 0.1; }
    const pad = (y1 - y0) * 0.05;
    y0 = id === 'loss' || id === 'accuracy' ? y0 - pad : y0;
    y1 += pad;
    if (x1 === x0) x1 = x0 + 1;
    const yt = ticks(y0, y1, chart.unit);
    y0 = yt[0];
    y1 = yt[yt.length - 1];
    const sx = x => LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    const sy = y => H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    yt.forEach(y => {
      node('line', {x1: LEFT, x2: W - RIGHT, y1: sy(y), y2: sy(y), class: 'grid'}, svg);
      node('text', {x: LEFT - 6, y: sy(y) + 4, 'text-anchor': 'end'}, svg, tickLabel(y, yt.step, chart.unit));
    });
    ticks(x0, x1, '').filter(x => x >= x0 && x <= x1).forEach(x => {
      node('text', {x: sx(x), y: H - 8, 'text-anchor': 'middle'}, svg, clock(x));
    });
    node('line', {x1: LEFT, x2: LEFT, y1: TOP, y2: H - BOTTOM, class: 'axis'}, svg);
    series.forEach((s, i) => {
      const d = s.points.map(([x, y], j) => (j ? 'L' : 'M') + sx(x).toFixed(1) + ' ' + sy(y).toFixed(1)).join(' ');
      node('path', {d: d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.8,
        'stroke-dasharray': / direct$/.test(s.name) ? '4 3' : ''}, svg);
      if (s.points.length === 1) {
        const [x, y] = s.points[0];
        node('circle', {cx: sx(x), cy: sy(y), r: 3, fill: COLORS[i % COLORS.length]}, svg);
      }
    });
    return n;
  }

  // Groups side by side, each scaled to its own largest bar, value above each bar.
  function barChart(svg, id, chart) {
    const groups = chart.groups.filter(g => g.bars.length > 0);
    const names = [];
    groups.forEach(g => g.bars.forEach(b => { if (!names.includes(b.name)) names.push(b.name); }));
    legend(id, groups.length > 1 ? names : []);
    const n = groups.reduce((a, g) => a + g.bars.length, 0);
    if (n === 0) { empty(svg, 'no data yet'); return 0; }
    const gw = (W - 20) / groups.length;
    groups.forEach((g, gi) => {
      const max = Math.max(...g.bars.map(b => b.value), 1e-9);
      const bw = Math.min(48, (gw - 16) / g.bars.length);
      const left = 10 + gi * gw + (gw - bw * g.bars.length) / 2;
      g.bars.forEach((b, bi) => {
        const h = b.value / max * (H - TOP - BOTTOM - 30);
        const x = left + bi * bw;
        const color = groups.length > 1 ? COLORS[names.indexOf(b.name) % COLORS.length] : COLORS[0];
        node('rect', {x: x + 2, y: H - BOTTOM - h, width: bw - 4, height: Math.max(h, 0.5), fill: color}, svg);
        node('text', {x: x + bw / 2, y: H - BOTTOM - h - 4, 'text-anchor': 'middle'}, svg, fmt(b.value, chart.unit));
        if (groups.length === 1) node('text', {x: x + bw / 2, y: H - BOTTOM + 13, 'text-anchor': 'middle'}, svg, b.name);
      });
      if (groups.length > 1) node('text', {x: 10 + gi * gw + gw / 2, y: H - 8, 'text-anchor': 'middle'}, svg, g.name);
      else node('text', {x: W / 2, y: H - 2, 'text-anchor': 'middle'}, svg, g.name + ' per bucket (clocks behind)');
    });
    return n;
  }

  function last(chart) {
    let sum = 0, any = false;
    (chart.series || []).forEach(s => {
      if (s.points.length) { sum += s.points[s.points.length - 1][1]; any = true; }
    });
    return any ? sum : NaN;
  }

  function render(data) {
    const ul = document.getElementById('targets');
    ul.textContent = '';
    data.targets.forEach(t => {
      const li = document.createElement('li');
      li.textContent = t.name + (t.up ? '' : ' (down)');
      li.title = t.address + (t.error ? ': ' + t.error : '');
      if (!t.up) li.className = 'down';
      ul.appendChild(li);
    });
    document.getElementById('summary').textContent =
      fmt(last(data.charts.throughput), '') + ' elements/s updated · ' +
      fmt(last(data.charts.samples), '') + ' samples/s trained · ' + Math.round(data.seconds) + ' s watched';
    for (const id in data.charts) {
      const chart = data.charts[id];
      const svg = document.querySelector('svg[data-chart="' + id + '"]');
      if (!svg) continue;
      document.querySelector('[data-title="' + id + '"]').textContent = chart.title;
      svg.textContent = '';
      const n = chart.kind === 'bars' ? barChart(svg, id, chart) : lineChart(svg, id, chart);
      svg.setAttribute('data-points', n);
      points[id] = n;
    }
  }

  async function refresh() {
    try {
      const r = await fetch('api/series', {cache: 'no-store'});
      if (r.ok) render(await r.json());
    } catch (e) {
      document.getElementById('summary').textContent = 'dashboard server unreachable: ' + e;
    }
  }

  window.gpupsChartPoints = () => Object.assign({}, points);
  refresh();
  setInterval(refresh, 1000);
})();

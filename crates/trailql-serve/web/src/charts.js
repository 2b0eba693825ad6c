// Plain SVG charts: a lane timeline (exposure, history, activity), horizontal bars (counts) and
// a time histogram. Every mark carries a <title> and a class the tests count.
import { el, iso } from './format.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c != null) e.append(c);
  return e;
}

const title = (text) => svg('title', {}, document.createTextNode(text));

function timeAxis(t0, t1, x, y, width) {
  const g = svg('g', { class: 'axis' });
  const ticks = 5;
  for (let i = 0; i <= ticks; i += 1) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    const px = x(t);
    g.append(svg('line', { x1: px, x2: px, y1: y - 4, y2: y }));
    const label = iso(t).slice(0, 16).replace('T', ' ');
    g.append(svg('text', { x: Math.min(Math.max(px, 40), width - 40), y: y + 14, 'text-anchor': 'middle' }, document.createTextNode(label)));
  }
  return g;
}

// items: [{ lane, start, end (or null: still so), kind: 'open'|'closed'|'ok'|'error', label, data }]
export function timeline(items, { onLane = null, onMark = null, laneLabel = (l) => l } = {}) {
  const lanes = [...new Set(items.map((i) => i.lane))];
  const times = items.flatMap((i) => [i.start, i.end]).filter((t) => t != null);
  if (!items.length || !times.length) return el('p', { class: 'empty', text: 'Nothing to chart.' });
  let t0 = Math.min(...times);
  let t1 = Math.max(...times, Date.now() > t0 && Date.now() - t0 < 400 * 864e5 ? Date.now() : t0);
  if (t1 === t0) { t0 -= 3600e3; t1 += 3600e3; }
  const left = 220;
  const width = 960;
  const laneH = 22;
  const top = 8;
  const height = top + lanes.length * laneH + 28;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - 16);
  const root = svg('svg', { class: 'chart timeline', viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img' });
  lanes.forEach((lane, i) => {
    const y = top + i * laneH + laneH / 2;
    const name = svg('text', { x: left - 8, y: y + 4, 'text-anchor': 'end', class: onLane ? 'lane clickable' : 'lane', onclick: onLane ? () => onLane(lane) : null },
      document.createTextNode(String(laneLabel(lane)).slice(0, 32)), title(String(laneLabel(lane))));
    root.append(svg('line', { class: 'lane-rule', x1: left, x2: width - 16, y1: y, y2: y }), name);
  });
  for (const it of items) {
    const y = top + lanes.indexOf(it.lane) * laneH + laneH / 2;
    const click = onMark ? () => onMark(it) : null;
    if (it.end !== undefined && (it.kind === 'open' || it.kind === 'closed')) {
      const x1 = x(it.start);
      const x2 = it.end == null ? x(t1) : x(it.end);
      root.append(svg('rect', { class: `span ${it.kind}`, x: x1, y: y - 5, width: Math.max(2, x2 - x1), height: 10, rx: 2 }, title(it.label)));
    }
    root.append(svg('circle', { class: `mark ${it.kind}${click ? ' clickable' : ''}`, cx: x(it.start), cy: y, r: 5, onclick: click }, title(it.label)));
  }
  root.append(timeAxis(t0, t1, x, height - 18, width));
  return root;
}

// counts: [[label, n]]
export function bars(counts, { onClick = null, cls = () => '' } = {}) {
  if (!counts.length) return el('p', { class: 'empty', text: 'Nothing to chart.' });
  const max = Math.max(...counts.map((c) => c[1]));
  const left = 300;
  const width = 960;
  const h = 20;
  const root = svg('svg', { class: 'chart bars', viewBox: `0 0 ${width} ${counts.length * h + 4}`, width: '100%', role: 'img' });
  counts.forEach(([label, n], i) => {
    const y = i * h + 2;
    const w = Math.max(2, ((width - left - 80) * n) / max);
    const click = onClick ? () => onClick(label) : null;
    root.append(
      svg('text', { x: left - 8, y: y + 14, 'text-anchor': 'end', class: click ? 'clickable' : null, onclick: click }, document.createTextNode(String(label).slice(0, 48)), title(String(label))),
      svg('rect', { class: `bar ${cls(label)}${click ? ' clickable' : ''}`, x: left, y: y + 3, width: w, height: h - 6, onclick: click }, title(`${label}: ${n}`)),
      svg('text', { x: left + w + 6, y: y + 14 }, document.createTextNode(String(n))),
    );
  });
  return root;
}

// times: epoch milliseconds
export function histogram(times, { bins = 48 } = {}) {
  const ts = times.filter((t) => t != null);
  if (!ts.length) return el('p', { class: 'empty', text: 'Nothing to chart.' });
  let t0 = Math.min(...ts);
  let t1 = Math.max(...ts);
  if (t1 === t0) { t0 -= 3600e3; t1 += 3600e3; }
  const counts = new Array(bins).fill(0);
  for (const t of ts) counts[Math.min(bins - 1, Math.floor(((t - t0) / (t1 - t0)) * bins))] += 1;
  const width = 960;
  const height = 140;
  const max = Math.max(...counts);
  const bw = (width - 40) / bins;
  const x = (t) => 20 + ((t - t0) / (t1 - t0)) * (width - 40);
  const root = svg('svg', { class: 'chart histogram', viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img' });
  counts.forEach((n, i) => {
    if (!n) return;
    const h = ((height - 30) * n) / max;
    const from = t0 + ((t1 - t0) * i) / bins;
    root.append(svg('rect', { class: 'bar', x: 20 + i * bw, y: height - 24 - h, width: Math.max(1, bw - 1), height: h },
      title(`${iso(from)}: ${n}`)));
  });
  root.append(timeAxis(t0, t1, x, height - 20, width));
  return root;
}

// Detections: the alerts of the bundled pack (or of a rules folder on this machine) by rule,
// level and time; a click on an alert opens the event behind it.
import * as api from '../api.js';
import { bars, histogram } from '../charts.js';
import { el, time } from '../format.js';
import { runStatement } from '../run.js';

const LEVELS = ['critical', 'high', 'medium', 'low', 'informational'];

function tally(values) {
  const m = new Map();
  for (const v of values) m.set(v ?? '(none)', (m.get(v ?? '(none)') ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

export async function detectionsPage(root, params) {
  await api.getCatalog();
  const rules = el('input', { type: 'text', id: 'rules', size: 40, placeholder: 'bundled pack (or a folder of Sigma rules on this machine)', value: params.get('rules') ?? '' });
  const charts = el('div', { class: 'chart-box', id: 'detections-charts' });
  const table = el('div', { class: 'result' });
  const openEvent = (alert) => {
    const sql = alert.event_id
      ? `SELECT * FROM cloudtrail_logs WHERE eventid = ${api.quote(alert.event_id)}`
      : `SELECT * FROM detections(${rules.value.trim() ? api.quote(rules.value.trim()) : ''}) WHERE rule_id = ${api.quote(alert.rule_id)}`;
    location.hash = `#/query?${new URLSearchParams({ sql, run: '1' })}`;
  };
  const go = async (e) => {
    e?.preventDefault();
    const dir = rules.value.trim();
    charts.replaceChildren(el('p', { class: 'hint', text: 'Scanning…' }));
    const sql = `SELECT * FROM detections(${dir ? api.quote(dir) : ''}) ORDER BY event_time`;
    const s = await runStatement(table, sql, { onRowClick: openEvent });
    if (s?.phase !== 'done') { charts.replaceChildren(); return; }
    const [titles, levels, times] = await Promise.all(['rule_title', 'level', 'event_time'].map((c) => api.column(s.id, c)));
    const byLevel = tally(levels).sort((a, b) => LEVELS.indexOf(a[0]) - LEVELS.indexOf(b[0]));
    charts.replaceChildren(
      el('h3', { text: 'By level' }), bars(byLevel, { cls: (l) => `level-${l}` }),
      el('h3', { text: 'By rule' }), bars(tally(titles).slice(0, 40)),
      el('h3', { text: 'Over time' }), histogram(times.map(time)),
      el('p', { class: 'hint', text: 'Click an alert in the table to open the event behind it.' }),
    );
  };
  root.append(
    el('form', { class: 'toolbar', onsubmit: go }, el('label', { for: 'rules', text: 'Rules ' }), rules,
      el('button', { type: 'submit', class: 'primary', id: 'detect', text: 'Detect ▸' })),
    charts, table,
  );
  go();
}

// History (every change to one resource) and Activity (what one principal did): a form, the
// timeline chart (one lane per API call, red where it failed or was denied) and the table.
import * as api from '../api.js';
import { timeline } from '../charts.js';
import { el, time } from '../format.js';
import { runStatement } from '../run.js';

const ABOUT = {
  history: { label: 'Resource', placeholder: 'sg-0123456789abcdef0, i-…, a bucket, an ARN', intro: 'Every change to one resource, oldest first, with who made it.' },
  activity: { label: 'Principal', placeholder: 'user name, role name, ARN or access key id', intro: 'What one principal did, oldest first.' },
};

export async function timelinePage(root, kind, params) {
  await api.getCatalog();
  const about = ABOUT[kind];
  const input = el('input', { type: 'text', id: 'subject', size: 48, placeholder: about.placeholder, value: params.get('q') ?? '' });
  const chart = el('div', { class: 'chart-box', id: `${kind}-chart` });
  const table = el('div', { class: 'result' });
  const go = async (e) => {
    e?.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    history.replaceState(null, '', `#/${kind}?${new URLSearchParams({ q })}`);
    chart.replaceChildren(el('p', { class: 'hint', text: 'Scanning…' }));
    const s = await runStatement(table, `SELECT * FROM ${kind}(${api.quote(q)})`);
    if (s?.phase !== 'done') { chart.replaceChildren(); return; }
    const cols = ['eventtime', 'eventname', 'result', 'actor', 'source_ip'];
    const values = await Promise.all(cols.map((c) => api.column(s.id, c).catch(() => [])));
    const items = values[0].map((_, i) => {
      const r = Object.fromEntries(cols.map((c, j) => [c, values[j][i]]));
      return {
        lane: r.eventname,
        start: time(r.eventtime),
        kind: r.result === 'ok' ? 'ok' : 'error',
        label: `${r.eventtime} ${r.eventname} by ${r.actor ?? 'unknown'} from ${r.source_ip ?? '?'}: ${r.result}`,
      };
    }).filter((i) => i.start != null);
    chart.replaceChildren(
      el('p', { class: 'legend' }, el('span', { class: 'key ok' }), ' succeeded ', el('span', { class: 'key error' }), ' failed or denied'),
      timeline(items),
    );
  };
  root.append(
    el('p', { class: 'hint', text: about.intro }),
    el('form', { class: 'toolbar', onsubmit: go }, el('label', { for: 'subject', text: `${about.label} ` }), input,
      el('button', { type: 'submit', class: 'primary', text: 'Show ▸' })),
    chart, table,
  );
  if (input.value && params.get('run') === '1') go();
}

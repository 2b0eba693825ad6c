// Exposure: security-group rules opened to the world, as a timeline (one lane per group, a mark
// where a rule was opened, a bar while it stayed open) and as a table. A click on a group (its
// lane or a mark) opens its history.
import * as api from '../api.js';
import { timeline } from '../charts.js';
import { el, time } from '../format.js';
import { runStatement } from '../run.js';

export async function exposurePage(root, params) {
  await api.getCatalog();
  const anyPublic = el('input', { type: 'checkbox', id: 'any-public', checked: params.get('any') === '1' });
  const chart = el('div', { class: 'chart-box', id: 'exposure-chart' });
  const table = el('div', { class: 'result' });
  const openHistory = (group) => { location.hash = `#/history?${new URLSearchParams({ q: group, run: '1' })}`; };
  const go = async () => {
    chart.replaceChildren(el('p', { class: 'hint', text: 'Scanning…' }));
    const sql = `SELECT * FROM exposure(${anyPublic.checked ? 'true' : ''}) ORDER BY opened_at`;
    const s = await runStatement(table, sql, { onRowClick: (r) => r.group_id && openHistory(r.group_id) });
    if (s?.phase !== 'done') { chart.replaceChildren(); return; }
    const cols = ['opened_at', 'closed_at', 'status', 'group_id', 'account', 'region', 'actor', 'ports', 'cidr', 'protocol', 'closed_by'];
    const values = await Promise.all(cols.map((c) => api.column(s.id, c).catch(() => [])));
    const rows = values[0].map((_, i) => Object.fromEntries(cols.map((c, j) => [c, values[j][i]])));
    const items = rows.map((r) => ({
      lane: r.group_id ?? '(unknown group)',
      start: time(r.opened_at),
      end: r.status === 'closed' ? time(r.closed_at) : null,
      kind: ['open', 'closed'].includes(r.status) ? r.status : 'attempt',
      label: `${r.group_id} ${r.protocol ?? ''} ${r.ports ?? ''} from ${r.cidr}: opened ${r.opened_at} by ${r.actor ?? 'unknown'}`
        + (r.status === 'closed' ? `; closed ${r.closed_at ?? ''} by ${r.closed_by ?? 'unknown'}` : '; still open'),
      data: r,
    })).filter((i) => i.start != null);
    const lanes = Object.fromEntries(rows.map((r) => [r.group_id, `${r.group_id} · ${r.account ?? ''} ${r.region ?? ''}`]));
    chart.replaceChildren(
      el('p', { class: 'legend' }, el('span', { class: 'key open' }), ' still open ', el('span', { class: 'key closed' }), ' closed later ', el('span', { class: 'key attempt' }), ' failed attempt · click a group for its history'),
      timeline(items, { onLane: openHistory, onMark: (i) => openHistory(i.lane), laneLabel: (l) => lanes[l] ?? l }),
    );
  };
  root.append(
    el('div', { class: 'toolbar' },
      el('button', { type: 'button', class: 'primary', id: 'scan', text: 'Scan ▸', onclick: go }),
      el('label', {}, anyPublic, ' any public CIDR, not only 0.0.0.0/0 and ::/0')),
    chart, table,
  );
  go();
}

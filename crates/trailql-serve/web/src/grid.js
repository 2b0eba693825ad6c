// The result grid: pages of rows fetched from the server (a large answer never comes to the
// browser whole), sorted by a click on a column's header once the statement has finished, and
// refreshed while it runs so the first rows show as soon as they exist.
import * as api from './api.js';
import { count, el } from './format.js';

export function grid(id, { pageSize = 100, onRowClick = null } = {}) {
  let st = null;
  let offset = 0;
  let sort = null;
  let desc = false;
  let shown = -1;
  let loading = false;

  const table = el('table', { class: 'grid' });
  const info = el('span', { class: 'grid-info' });
  const prev = el('button', { type: 'button', text: '‹ Previous', onclick: () => go(offset - pageSize) });
  const next = el('button', { type: 'button', text: 'Next ›', onclick: () => go(offset + pageSize) });
  const bar = el('div', { class: 'grid-bar' }, prev, next, info);
  const element = el('div', { class: 'grid-wrap' }, bar, el('div', { class: 'grid-scroll' }, table));

  async function load() {
    if (!st || !st.columns.length || loading) return;
    loading = true;
    try {
      const p = await api.rows(id, { offset, limit: pageSize, sort, desc });
      render(p);
      shown = st.rows;
    } catch (e) {
      info.textContent = e.message;
    } finally {
      loading = false;
    }
  }

  function render(p) {
    const head = el('tr', {}, st.columns.map((c) => {
      const mark = sort === c.name ? (desc ? ' ▼' : ' ▲') : '';
      return el('th', {
        title: `${c.type}${st.phase === 'done' ? ' · click to sort' : ''}`,
        onclick: () => {
          if (st.phase !== 'done') return;
          if (sort === c.name) desc = !desc; else { sort = c.name; desc = false; }
          offset = 0;
          load();
        },
      }, c.name + mark);
    }));
    const body = p.rows.map((r, i) => el('tr', {
      class: onRowClick ? 'clickable' : null,
      onclick: onRowClick ? () => onRowClick(Object.fromEntries(st.columns.map((c, j) => [c.name, r[j]])), p.offset + i) : null,
    }, r.map((v) => (v == null ? el('td', { class: 'null', text: 'NULL' }) : el('td', { title: v.length > 80 ? v : null, text: v })))));
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, body));
    const last = p.offset + p.rows.length;
    const kept = st.truncated
      ? ` (the first ${count(st.rows)} of ${count(st.total_rows)} kept in memory; downloads hold every row)`
      : '';
    info.textContent = p.rows.length
      ? `rows ${count(p.offset + 1)}–${count(last)} of ${count(p.total)}${st.phase === 'running' ? ' so far' : ''}${kept}`
      : (st.phase === 'running' ? 'no rows yet' : 'no rows');
    prev.disabled = p.offset === 0;
    next.disabled = last >= p.total;
  }

  function go(o) {
    offset = Math.max(0, o);
    load();
  }

  return {
    element,
    // Called with every status of the statement.
    update(s) {
      st = s;
      const pageNotFull = shown < offset + pageSize;
      if (s.phase === 'done' || s.phase === 'cancelled' || (s.rows !== shown && pageNotFull)) load();
    },
  };
}

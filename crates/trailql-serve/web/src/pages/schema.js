// Schema: the table's columns with types and notes, the table functions and the functions.
import { getCatalog } from '../api.js';
import { el } from '../format.js';

const link = (sql) => `#/query?${new URLSearchParams({ sql })}`;

export async function schemaPage(root) {
  const c = await getCatalog();
  root.append(
    el('h2', { text: `Table ${c.table}` }),
    el('table', { class: 'grid schema', id: 'columns' },
      el('thead', {}, el('tr', {}, el('th', { text: 'column' }), el('th', { text: 'type' }), el('th', { text: 'notes' }))),
      el('tbody', {}, c.columns.map((col) => el('tr', {},
        el('td', { class: 'mono', text: col.name }), el('td', { class: 'mono type', text: col.type }), el('td', { text: col.note }))))),
    el('h2', { text: 'Table functions' }),
    el('dl', { class: 'functions' }, c.table_functions.map((f) => [
      el('dt', { class: 'mono', text: f.signature }),
      el('dd', {}, f.about, el('br'), el('a', { class: 'mono', href: link(f.example), text: f.example })),
    ])),
    el('h2', { text: 'Examples' }),
    el('ul', {}, c.examples.map((x) => el('li', {}, el('a', { href: link(x.sql), text: x.title })))),
    el('h2', { text: `Functions (${c.functions.length})` }),
    el('p', { class: 'hint', text: "Athena's CloudTrail functions (json_extract_scalar, from_iso8601_timestamp, date_diff…) and DataFusion's." }),
    el('p', { class: 'mono function-list' }, c.functions.join(' · ')),
  );
}

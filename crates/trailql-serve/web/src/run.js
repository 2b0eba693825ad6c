// One statement on a page: its progress and cancel button, its error (with the position in the
// statement), the grid of its rows and the download links.
import * as api from './api.js';
import { el } from './format.js';
import { grid } from './grid.js';
import { progress } from './progress.js';

export async function runStatement(target, sqlText, { onError = null, onRowClick = null, onDone = null } = {}) {
  target.replaceChildren();
  let id;
  try {
    id = await api.submit(sqlText);
  } catch (e) {
    target.append(el('div', { class: 'error', role: 'alert', text: e.message }));
    return null;
  }
  const p = progress(id);
  const g = grid(id, { onRowClick });
  const downloads = el('span', { class: 'downloads', hidden: true }, 'Download: ',
    ['csv', 'json', 'parquet'].map((f) => el('a', { href: api.downloadUrl(id, f), download: `trailql-${id}.${f}`, 'data-format': f, text: f.toUpperCase() })));
  const errorBox = el('div', { class: 'error', role: 'alert', hidden: true });
  target.append(p.element, errorBox, el('div', { class: 'result-bar' }, downloads), g.element);
  const s = await api.follow(id, (s) => { p.update(s); g.update(s); });
  if (s.phase === 'failed') {
    const where = s.error.line ? ` (line ${s.error.line}, column ${s.error.column})` : '';
    errorBox.textContent = s.error.message + where;
    errorBox.hidden = false;
    g.element.hidden = true;
    onError?.(s.error);
  }
  if (s.phase === 'done') {
    downloads.hidden = false;
    onDone?.(s);
  }
  return s;
}

// Query: the editor, examples, history (kept in this browser), and the statement's result.
import { editor } from '../editor.js';
import { getCatalog } from '../api.js';
import { el } from '../format.js';
import { runStatement } from '../run.js';

const HISTORY = 'trailql.history';
const loadHistory = () => { try { return JSON.parse(localStorage.getItem(HISTORY)) ?? []; } catch { return []; } };

function remember(sql) {
  const h = [sql, ...loadHistory().filter((s) => s !== sql)].slice(0, 50);
  localStorage.setItem(HISTORY, JSON.stringify(h));
}

export async function queryPage(root, params) {
  const catalog = await getCatalog();
  const host = el('div', { class: 'editor', id: 'editor' });
  const result = el('div', { class: 'result', id: 'result' });
  const initial = params.get('sql') ?? loadHistory()[0] ?? catalog.examples[0].sql;
  let ed;
  const run = async () => {
    const sql = ed.value.trim();
    if (!sql) return;
    remember(sql);
    renderHistory();
    runButton.disabled = true;
    try {
      await runStatement(result, sql, { onError: (e) => ed.markPosition(e.line, e.column) });
    } finally {
      runButton.disabled = false;
    }
  };
  const runButton = el('button', { type: 'button', class: 'primary', id: 'run', text: 'Run ▸', title: 'Ctrl-Enter', onclick: run });
  const examples = el('select', {
    id: 'examples',
    onchange: () => { if (examples.value !== '') { ed.value = catalog.examples[examples.value].sql; examples.value = ''; } },
  }, el('option', { value: '', text: 'Examples…' }), catalog.examples.map((x, i) => el('option', { value: i, text: x.title })));
  const history = el('select', { id: 'history', onchange: () => { if (history.value !== '') { ed.value = loadHistory()[history.value]; history.value = ''; } } });
  const renderHistory = () => history.replaceChildren(el('option', { value: '', text: 'History…' }),
    loadHistory().map((s, i) => el('option', { value: i, text: s.replace(/\s+/g, ' ').slice(0, 90) })));
  renderHistory();
  root.append(el('div', { class: 'toolbar' }, runButton, examples, history, el('span', { class: 'hint', text: 'Ctrl-Enter runs · only statements that read (SELECT, WITH, EXPLAIN)' })), host, result);
  ed = editor(host, { doc: initial, catalog, onRun: run });
  if (params.get('run') === '1') run();
}

// The SQL editor: CodeMirror with SQL highlighting, completion of the table's columns (and their
// nested fields after a dot), functions and table functions, and Ctrl/Cmd-Enter to run.
import { basicSetup, EditorView } from 'codemirror';
import { keymap } from '@codemirror/view';
import { EditorSelection, Prec } from '@codemirror/state';
import { completeFromList } from '@codemirror/autocomplete';
import { sql, StandardSQL } from '@codemirror/lang-sql';

function namespaces(catalog) {
  const schema = { [catalog.table]: catalog.columns.map((c) => ({ label: c.name, type: 'property', detail: c.type, info: c.note || undefined })) };
  // `useridentity.` completes its fields: each struct column is a namespace of its children
  // (an object per level; [] for a leaf).
  const tree = {};
  for (const c of catalog.columns) {
    for (const path of c.fields) {
      let at = tree;
      for (const part of path.split('.')) {
        if (!at[part] || Array.isArray(at[part])) at[part] = at[part] && at[part].length ? at[part] : {};
        at = at[part];
      }
    }
  }
  const leaves = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Object.keys(v).length ? leaves(v) : []]));
  return { ...schema, ...leaves(tree) };
}

function functionCompletions(catalog) {
  const table = catalog.table_functions.map((f) => ({
    label: f.name, type: 'function', detail: f.signature, info: f.about, apply: `${f.name}(`, boost: 2,
  }));
  const scalar = catalog.functions
    .filter((f) => !catalog.table_functions.some((t) => t.name === f))
    .map((f) => ({ label: f, type: 'function', apply: `${f}(` }));
  return [...table, ...scalar];
}

export function editor(parent, { doc = '', catalog = null, onRun }) {
  const lang = sql({
    dialect: StandardSQL,
    upperCaseKeywords: true,
    schema: catalog ? namespaces(catalog) : undefined,
    defaultTable: catalog?.table,
  });
  const extensions = [
    Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { onRun?.(); return true; } }])),
    basicSetup,
    lang,
    EditorView.lineWrapping,
  ];
  if (catalog) extensions.push(lang.language.data.of({ autocomplete: completeFromList(functionCompletions(catalog)) }));
  const view = new EditorView({ doc, extensions, parent });
  return {
    view,
    get value() { return view.state.doc.toString(); },
    set value(text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
    // Put the cursor at a 1-based line and column (an error's position).
    markPosition(line, column) {
      const doc = view.state.doc;
      if (!line || line > doc.lines) return;
      const l = doc.line(line);
      const pos = Math.min(l.from + Math.max(0, (column ?? 1) - 1), l.to);
      view.dispatch({ selection: EditorSelection.range(pos, Math.min(pos + 1, l.to)), scrollIntoView: true });
      view.focus();
    },
  };
}

// The SQL editor: CodeMirror with SQL highlighting, completion of the table's columns (and their
// nested fields after a dot), functions and table functions, and Ctrl/Cmd-Enter to run.
import { basicSetup, EditorView } from 'codemirror';
import { keymap } from '@codemirror/view';
import { EditorSelection, Prec } from '@codemirror/state';
import { completeFromList } from '@codemirror/autocomplete';
import { sql, StandardSQL } from '@codemirror/lang-sql';

function columnSchema(catalog) {
  return { [catalog.table]: catalog.columns.map((c) => ({ label: c.name, type: 'property', detail: c.type, info: c.note || undefined })) };
}

// `useridentity.sessioncontext.` completes the fields under that path. lang-sql reads dotted names
// as schema.table.column, so nested struct fields get a completion source of their own.
function fieldTree(catalog) {
  const tree = new Map();
  for (const c of catalog.columns) {
    for (const path of c.fields) {
      const parts = path.toLowerCase().split('.');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('.');
        if (!tree.has(parent)) tree.set(parent, new Set());
        tree.get(parent).add(parts[i]);
      }
    }
  }
  return tree;
}

function fieldCompletions(catalog) {
  const tree = fieldTree(catalog);
  return (context) => {
    const m = context.matchBefore(/[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*\.[\w]*$/);
    if (!m) return null;
    const dot = m.text.lastIndexOf('.');
    const children = tree.get(m.text.slice(0, dot).toLowerCase());
    if (!children) return null;
    return {
      from: m.from + dot + 1,
      options: [...children].map((name) => ({ label: name, type: 'property' })),
      validFor: /^\w*$/,
    };
  };
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
    schema: catalog ? columnSchema(catalog) : undefined,
    defaultTable: catalog?.table,
  });
  const extensions = [
    Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { onRun?.(); return true; } }])),
    basicSetup,
    lang,
    EditorView.lineWrapping,
  ];
  if (catalog) {
    const functions = completeFromList(functionCompletions(catalog));
    // After a dot come fields, not functions.
    extensions.push(lang.language.data.of({ autocomplete: (context) => (context.matchBefore(/\.\w*$/) ? null : functions(context)) }));
    extensions.push(lang.language.data.of({ autocomplete: fieldCompletions(catalog) }));
  }
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

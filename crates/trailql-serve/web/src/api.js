// The server's JSON API. The token travels as a cookie (set when the printed URL was opened).

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}); is trailql serve still running?`);
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    const message = data?.error?.message ?? text.trim() ?? r.statusText;
    const err = new Error(message);
    err.status = r.status;
    throw err;
  }
  return data;
}

export const info = () => call('GET', '/api/info');
export const schema = () => call('GET', '/api/schema');
export const submit = (sql) => call('POST', '/api/query', { sql }).then((r) => r.id);
export const status = (id) => call('GET', `/api/jobs/${id}`);
export const cancel = (id) => call('POST', `/api/jobs/${id}/cancel`);
export const integrity = (start, end) => call('POST', '/api/integrity', { start, end: end || null });

export function rows(id, { offset = 0, limit = 100, sort = null, desc = false } = {}) {
  const q = new URLSearchParams({ offset, limit });
  if (sort) { q.set('sort', sort); q.set('desc', desc); }
  return call('GET', `/api/jobs/${id}/rows?${q}`);
}

export function column(id, name) {
  return call('GET', `/api/jobs/${id}/column?${new URLSearchParams({ name })}`).then((r) => r.values);
}

export const downloadUrl = (id, format) => `/api/jobs/${id}/download?format=${format}`;

const TERMINAL = new Set(['done', 'failed', 'cancelled']);

// Poll a statement until it ends, calling onUpdate with each status.
export async function follow(id, onUpdate, every = 200) {
  for (;;) {
    const s = await status(id);
    onUpdate?.(s);
    if (TERMINAL.has(s.phase)) return s;
    await new Promise((r) => setTimeout(r, every));
  }
}

// Run a statement to the end and return its status and every kept row as objects.
export async function runAll(sql, onUpdate) {
  const id = await submit(sql);
  const s = await follow(id, onUpdate);
  if (s.phase !== 'done') {
    const err = new Error(s.error?.message ?? `the statement was ${s.phase}`);
    err.status = s;
    throw err;
  }
  const names = s.columns.map((c) => c.name);
  const out = [];
  for (let offset = 0; offset < s.rows; offset += 1000) {
    const p = await rows(id, { offset, limit: 1000 });
    for (const r of p.rows) out.push(Object.fromEntries(names.map((n, i) => [n, r[i]])));
  }
  return { id, status: s, rows: out };
}

export const quote = (s) => `'${String(s).replaceAll("'", "''")}'`;

let catalogPromise = null;
// The schema page's catalogue, fetched once (the editor's completion uses it too).
export function getCatalog() {
  catalogPromise ??= schema().catch((e) => { catalogPromise = null; throw e; });
  return catalogPromise;
}

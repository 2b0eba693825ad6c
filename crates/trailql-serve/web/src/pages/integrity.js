// Integrity: CloudTrail's signed digests checked for the sources over a window, as
// `trailql validate` does, when the server was started with --public-keys.
import * as api from '../api.js';
import { count, el } from '../format.js';

export async function integrityPage(root) {
  const i = await api.info();
  if (!i.integrity) {
    root.append(el('p', { class: 'hint', id: 'integrity-off' },
      'Start the server with --public-keys FILE (saved by `aws cloudtrail list-public-keys --output json`) to validate the sources\' log files against their signed digests here.'));
    return;
  }
  const start = el('input', { type: 'text', id: 'start', value: new Date(Date.now() - 7 * 864e5).toISOString().slice(0, 10), size: 22 });
  const end = el('input', { type: 'text', id: 'end', placeholder: 'now', size: 22 });
  const out = el('div', { id: 'integrity-report' });
  const go = async (e) => {
    e?.preventDefault();
    out.replaceChildren(el('p', { class: 'hint', text: 'Validating…' }));
    try {
      const r = await api.integrity(start.value.trim(), end.value.trim());
      out.replaceChildren(...r.reports.map(({ source, report }) => el('section', { class: 'trail-report' },
        el('h3', {}, `${source}: `, el('span', { class: report.ok ? 'ok' : 'bad', text: report.ok ? 'VALID' : 'NOT VALID' }),
          ` · ${count(report.errors)} errors, ${count(report.warnings)} warnings`),
        report.trails.length ? null : el('p', { class: 'hint', text: 'No digest files in the window (is log file validation enabled on the trail?)' }),
        report.trails.map((t) => el('div', {},
          el('h4', { text: `trail ${t.trail} · account ${t.account} · region ${t.region}` }),
          el('p', { text: `digests: ${t.digests_valid} valid, ${t.digests_invalid} invalid, ${t.digests_missing} missing · log files: ${t.logs_valid} valid, ${t.logs_modified} modified, ${t.logs_deleted} deleted, ${t.logs_not_in_digest} not in any digest` }),
          t.problems.length ? el('table', { class: 'grid' },
            el('thead', {}, el('tr', {}, ['severity', 'kind', 'key', 'detail'].map((h) => el('th', { text: h })))),
            el('tbody', {}, t.problems.map((p) => el('tr', { class: `sev-${String(p.severity).toLowerCase()}` },
              el('td', { text: p.severity }), el('td', { text: p.kind }), el('td', { class: 'mono', text: p.key }), el('td', { text: p.detail })))))
            : null)),
      )));
    } catch (err) {
      out.replaceChildren(el('div', { class: 'error', role: 'alert', text: err.message }));
    }
  };
  root.append(
    el('form', { class: 'toolbar', onsubmit: go },
      el('label', { for: 'start', text: 'From ' }), start, el('label', { for: 'end', text: ' to ' }), end,
      el('button', { type: 'submit', class: 'primary', id: 'validate', text: 'Validate ▸' })),
    out,
  );
}

// The scan's progress while a statement runs, and its cancel button.
import * as api from './api.js';
import { bytes, count, el } from './format.js';

export function progress(id) {
  const text = el('span', { class: 'progress-text' });
  const meter = el('progress', { max: 1, value: 0 });
  const stop = el('button', {
    type: 'button',
    class: 'cancel',
    text: 'Cancel',
    onclick: async () => {
      stop.disabled = true;
      try { await api.cancel(id); } catch (e) { text.textContent = e.message; }
    },
  });
  const element = el('div', { class: 'progress' }, meter, text, stop);
  return {
    element,
    update(s) {
      const p = s.progress;
      const running = s.phase === 'queued' || s.phase === 'running';
      stop.hidden = !running;
      meter.hidden = !running;
      const parts = [];
      if (s.phase === 'queued') parts.push('waiting for the statement before it');
      if (p) {
        const of = p.listing ? '(listing…)' : count(p.files_to_read);
        parts.push(`files ${count(p.files_read)} / ${of}`);
        parts.push(`${bytes(p.bytes_read)} / ${bytes(p.bytes_to_read)}`);
        parts.push(`${count(p.events)} events`);
        if (p.s3_requests != null) {
          parts.push(`S3: ${count(p.s3_requests)} requests, ${bytes(p.s3_bytes)}, ≈ $${p.s3_cost_usd.toFixed(4)}`);
        }
        if (p.files_skipped) parts.push(`${count(p.files_skipped)} files skipped (not events)`);
        if (p.warnings) parts.push(`${count(p.warnings)} warnings`);
        meter.value = p.bytes_to_read ? p.bytes_read / p.bytes_to_read : 0;
      }
      parts.push(`${(s.elapsed_ms / 1000).toFixed(1)} s`);
      if (s.phase === 'cancelled') parts.unshift('cancelled');
      if (s.phase === 'done') parts.unshift(`${count(s.total_rows)} rows`);
      text.textContent = parts.join(' · ');
    },
  };
}

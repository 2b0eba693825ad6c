// The pages, one per hash route; each page module renders into <main>.
import './style.css';
import * as api from './api.js';
import { el } from './format.js';
import { queryPage } from './pages/query.js';
import { schemaPage } from './pages/schema.js';
import { exposurePage } from './pages/exposure.js';
import { timelinePage } from './pages/timeline.js';
import { detectionsPage } from './pages/detections.js';
import { integrityPage } from './pages/integrity.js';

const pages = {
  query: queryPage,
  schema: schemaPage,
  exposure: exposurePage,
  history: (root, params) => timelinePage(root, 'history', params),
  activity: (root, params) => timelinePage(root, 'activity', params),
  detections: detectionsPage,
  integrity: integrityPage,
};

function route() {
  const [name, query] = (location.hash.replace(/^#\/?/, '') || 'query').split('?');
  const page = pages[name] ? name : 'query';
  const params = new URLSearchParams(query ?? '');
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  const root = document.getElementById('page');
  root.replaceChildren();
  root.dataset.page = page;
  Promise.resolve(pages[page](root, params)).catch((e) => root.append(el('div', { class: 'error', role: 'alert', text: e.message })));
}

window.addEventListener('hashchange', route);
api.info().then((i) => {
  document.getElementById('sources').textContent = i.sources.join(' · ');
  document.body.dataset.integrity = i.integrity;
}).catch((e) => {
  document.getElementById('sources').textContent = e.message;
});
route();

// The console's entry: the session, the header, and a small router over history.pushState.
// Each view renders into <main> and returns a cleanup function (closing its event streams).
import { api, session } from './api.js';

const views = {
  'sign-in': () => import('./views/sign_in.js'),
  jobs: () => import('./views/jobs.js'),
  job: () => import('./views/job.js'),
  upload: () => import('./views/upload.js'),
  nodes: () => import('./views/nodes.js'),
};

let cleanup = null;
const main = document.getElementById('main');

export function toast(message, kind = 'info') {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.className = `show ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ''; }, 6000);
}

function route(path) {
  if (path.startsWith('/console/sign-in')) return ['sign-in', {}];
  let m = path.match(/^\/console\/jobs\/(\d+)$/);
  if (m) return ['job', { id: m[1] }];
  if (path.startsWith('/console/upload')) return ['upload', {}];
  if (path.startsWith('/console/nodes')) return ['nodes', {}];
  return ['jobs', {}];
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show();
}

function header(name) {
  const bar = document.getElementById('bar');
  bar.hidden = name === 'sign-in';
  document.getElementById('who').textContent = session.scope ? `${session.scope} token` : '';
  for (const a of bar.querySelectorAll('[data-needs]')) a.hidden = !session.can(a.dataset.needs);
  for (const a of bar.querySelectorAll('[data-nav]')) {
    const here = a.dataset.nav === name || (name === 'job' && a.dataset.nav === 'jobs');
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function show() {
  if (cleanup) { cleanup(); cleanup = null; }
  const [name, params] = route(location.pathname);
  if (name !== 'sign-in' && !session.scope) {
    try {
      session.set(await api('/console/session'));
    } catch {
      navigate(`/console/sign-in?next=${encodeURIComponent(location.pathname)}`, { replace: true });
      return;
    }
  }
  header(name);
  const view = await views[name]();
  main.replaceChildren();
  cleanup = (await view.render(main, params)) || null;
  document.title = `${main.querySelector('h1')?.textContent || 'Console'} · Kiln`;
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
  main.focus();
});
window.addEventListener('popstate', show);
document.getElementById('sign-out').addEventListener('click', async () => {
  try { await api('/console/session', { method: 'DELETE' }); } catch { /* signed out anyway */ }
  session.set(null);
  navigate('/console/sign-in', { replace: true });
});

show();

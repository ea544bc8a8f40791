// The live job list: status, phase, percent, fps, speed, ETA, node, device, acceleration,
// attempt n of max; filters by status and a text search over name and metadata.
import { h, jobName, statusBadge, percent, duration } from '../format.js';
import { openFeed } from '../jobs_feed.js';
import { jobActions } from '../job_actions.js';

const statuses = ['SUBMITTED', 'PROGRESSING', 'COMPLETE', 'ERROR', 'CANCELED'];

export function accel(job) {
  const backend = job.progress?.backend || job.output?.detail?.backend;
  if (!backend) return '–';
  // Only a device backend is hardware; libx264 ('software') and libvips (image jobs) are the CPU.
  if (['vaapi', 'qsv', 'nvenc', 'vulkan'].includes(backend)) return `${backend} (hardware)`;
  return backend === 'software' ? 'software' : `${backend} (CPU)`;
}

/** A cell; an empty one ('–') is marked so a phone's card can leave it out. */
function cell(label, value) {
  return h('td', { 'data-label': label, class: value === '–' ? 'nil' : undefined }, value);
}

function cells(job) {
  const p = job.progress || {};
  const running = job.state === 'running';
  // Queued jobs show no progress (a retry's is stale); finished ones show where they stopped.
  const pct = job.state === 'completed' ? 100 : job.status === 'SUBMITTED' ? NaN : p.percent;
  return [
    h('td', { 'data-label': 'Job' }, h('a', { href: `/console/jobs/${job.id}`, 'data-link': true }, `#${job.id}`)),
    h('td', { 'data-label': 'Name', class: 'name' }, jobName(job)),
    h('td', { 'data-label': 'Status' }, statusBadge(job.status), job.cancelRequested && running ? h('small', {}, ' cancelling') : null),
    cell('Phase', running ? (p.phase || '–') : '–'),
    h('td', { 'data-label': 'Progress' },
      h('progress', { max: '100', value: String(Number.isFinite(pct) ? pct : 0), 'aria-label': `job ${job.id} progress` }),
      h('span', { class: 'pct' }, Number.isFinite(pct) ? percent(pct) : '–')),
    cell('FPS', running && p.fps ? p.fps.toFixed(1) : '–'),
    cell('Speed', running && p.speed ? `${p.speed.toFixed(2)}×` : '–'),
    cell('ETA', running ? duration(p.etaSeconds) : '–'),
    cell('Node', job.node || '–'),
    cell('Device', p.device || '–'),
    cell('Accel', accel(job)),
    h('td', { 'data-label': 'Attempt' }, `${job.attempt} of ${job.maxAttempts}`),
    h('td', { 'data-label': 'Actions', class: 'actions' }, jobActions(job, { compact: true })),
  ];
}

function matches(job, status, text) {
  if (status && job.status !== status) return false;
  if (!text) return true;
  const hay = `${jobName(job)} ${job.spec?.input || ''} ${JSON.stringify(job.spec?.metadata || {})}`.toLowerCase();
  return text.toLowerCase().split(/\s+/).every((w) => hay.includes(w));
}

export function render(main) {
  const jobs = new Map();
  const rows = new Map();
  const state = h('span', { class: 'live', id: 'live-state', role: 'status' }, 'connecting…');
  const status = h('select', { id: 'status-filter', name: 'status' },
    h('option', { value: '' }, 'All statuses'), statuses.map((s) => h('option', { value: s }, s)));
  const search = h('input', { id: 'search', type: 'search', name: 'q', placeholder: 'name or metadata', autocomplete: 'off' });
  const tbody = h('tbody', { id: 'jobs-body' });
  const empty = h('p', { class: 'muted', id: 'jobs-empty' }, 'No jobs yet.');
  const table = h('table', { class: 'jobs', 'aria-describedby': 'live-state' },
    h('caption', { class: 'sr-only' }, 'Jobs, newest first, updated live'),
    h('thead', {}, h('tr', {}, ['Job', 'Name', 'Status', 'Phase', 'Progress', 'FPS', 'Speed', 'ETA', 'Node', 'Device',
      'Accel', 'Attempt', h('span', { class: 'sr-only' }, 'Actions')].map((c) => h('th', { scope: 'col' }, c)))),
    tbody);

  function draw(job) {
    let tr = rows.get(job.id);
    if (!tr) {
      tr = h('tr', { 'data-job': String(job.id) });
      rows.set(job.id, tr);
      // Newest first: before the first row of an older job.
      const older = [...tbody.children].find((r) => Number(r.dataset.job) < job.id);
      tbody.insertBefore(tr, older || null);
    }
    tr.dataset.status = job.status;
    // Cell by cell, and only what changed: a button replaced at every heartbeat could not be
    // clicked (the press lands on one element, the release on its successor).
    const fresh = cells(job);
    if (tr.children.length !== fresh.length) tr.replaceChildren(...fresh);
    else fresh.forEach((td, i) => { if (tr.children[i].innerHTML !== td.innerHTML) tr.children[i].replaceWith(td); });
    tr.hidden = !matches(job, status.value, search.value.trim());
    empty.hidden = [...rows.values()].some((r) => !r.hidden);
  }
  function filter() {
    for (const job of jobs.values()) rows.get(job.id).hidden = !matches(job, status.value, search.value.trim());
    empty.hidden = [...rows.values()].some((r) => !r.hidden);
    empty.textContent = jobs.size ? 'No job matches the filters.' : 'No jobs yet.';
  }
  status.addEventListener('change', filter);
  search.addEventListener('input', filter);

  main.append(
    h('div', { class: 'title' }, h('h1', {}, 'Jobs'), state),
    h('div', { class: 'filters', role: 'search' },
      h('label', { for: 'status-filter' }, 'Status'), status,
      h('label', { for: 'search' }, 'Search'), search),
    h('div', { class: 'scroll' }, table), empty);

  return openFeed({
    onSnapshot(list) {
      jobs.clear(); rows.clear(); tbody.replaceChildren();
      for (const j of list.sort((a, b) => b.id - a.id)) { jobs.set(j.id, j); draw(j); }
      filter();
    },
    onJob(job) { jobs.set(job.id, job); draw(job); },
    onState(s) { state.textContent = s === 'live' ? '● live' : s; state.dataset.state = s; },
  });
}

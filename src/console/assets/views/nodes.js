// Nodes and devices: each node's state and last heartbeat; each device's backend, PCI address,
// NUMA node, sessions in use against the cap, health (strikes, quarantine); the queue depth.
// Refreshed when a job changes (the live feed) and by the Refresh button; never on a timer.
import { api } from '../api.js';
import { h, ago, when } from '../format.js';
import { openFeed } from '../jobs_feed.js';

function health(d) {
  const hl = d.health || {};
  if (typeof hl === 'string') return hl;
  const parts = [];
  if (hl.quarantinedUntil) parts.push(`quarantined until ${when(hl.quarantinedUntil)}`);
  if (Number.isFinite(hl.strikes)) parts.push(`${hl.strikes} strike${hl.strikes === 1 ? '' : 's'}`);
  if (hl.state) parts.unshift(hl.state);
  return parts.join(', ') || (d.usable === false ? 'unusable' : 'ok');
}

export async function render(main) {
  const queue = h('section', { 'aria-labelledby': 'queue-h' });
  const nodes = h('section', { 'aria-labelledby': 'nodes-h' });
  const refresh = h('button', { type: 'button', class: 'quiet', id: 'refresh' }, 'Refresh');
  let busy = false, again = false;
  async function load() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const [q, n] = await Promise.all([api('/v1/queue'), api('/v1/nodes')]);
      const order = ['available', 'scheduled', 'retryable', 'pending', 'running', 'completed', 'cancelled', 'discarded'];
      queue.replaceChildren(h('h2', { id: 'queue-h' }, 'Queue'),
        h('ul', { class: 'counts' }, order.filter((s) => s in q.states).map((s) => h('li', {}, h('strong', {}, String(q.states[s])), ` ${s}`))));
      nodes.replaceChildren(h('h2', { id: 'nodes-h' }, `Nodes (${n.nodes.length})`),
        ...(n.nodes.length ? n.nodes.map((node) => h('article', { class: 'card node' },
          h('h3', {}, node.name, ' ', h('span', { class: `badge n-${node.state}` }, node.state)),
          h('p', { class: 'muted' }, `last heartbeat ${ago(node.heartbeatAt)} (${when(node.heartbeatAt)}) · ${node.running ?? 0} running · capacity ${node.capacity ?? "–"}`),
          h('div', { class: 'scroll' }, h('table', { class: 'devices' },
            h('caption', { class: 'sr-only' }, `Devices of ${node.name}`),
            h('thead', {}, h('tr', {}, ['Device', 'Backend', 'PCI address', 'NUMA', 'Sessions', 'Jobs', 'Load', 'Health'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, (node.devices || []).map((d) => h('tr', {},
              h('th', { scope: 'row' }, d.model || d.id),
              h('td', { 'data-label': 'Backend' }, d.backend),
              h('td', { 'data-label': 'PCI address' }, d.pciAddress || '–'),
              h('td', { 'data-label': 'NUMA' }, d.numaNode >= 0 ? String(d.numaNode) : '–'),
              h('td', { 'data-label': 'Sessions' }, `${d.sessions ?? 0} of ${d.maxSessions || d.sessionLimit || '∞'}`),
              h('td', { 'data-label': 'Jobs' }, `${d.jobs ?? 0} of ${d.maxJobs ?? '–'}`),
              h('td', { 'data-label': 'Load' }, Number.isFinite(d.loadRatio) ? `${Math.round(d.loadRatio * 100)}%` : '–'),
              h('td', { 'data-label': 'Health' }, health(d))))))))) : [h('p', { class: 'muted' }, 'No node has registered.')]));
    } catch (err) {
      nodes.replaceChildren(h('p', { class: 'error' }, err.message));
    } finally {
      busy = false;
      if (again) { again = false; load(); }
    }
  }
  refresh.addEventListener('click', load);
  main.append(h('div', { class: 'title' }, h('h1', {}, 'Nodes and devices'), refresh), queue, nodes);
  await load();
  let timer = null;
  return openFeed({
    onSnapshot() {},
    onJob() { clearTimeout(timer); timer = setTimeout(load, 300); },
  });
}

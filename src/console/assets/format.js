// Small formatting helpers and a tiny DOM builder (no framework, no innerHTML with data).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function rate(bytesPerSecond) { return Number.isFinite(bytesPerSecond) ? `${bytes(bytesPerSecond)}/s` : '–'; }

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export function bitrate(bps) { return Number.isFinite(bps) && bps > 0 ? `${(bps / 1e6).toFixed(2)} Mb/s` : '–'; }

export function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function ago(iso) {
  if (!iso) return '–';
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(s)) return iso;
  if (s < 5) return 'just now';
  return `${duration(s)} ago`;
}

/** The job's display name: the uploaded file's name, else the input's file name. */
export function jobName(job) {
  const meta = job.spec?.metadata || {};
  if (meta.upload) return meta.upload;
  const input = job.spec?.input || '';
  return input.split('/').pop() || `job ${job.id}`;
}

export function statusBadge(status) {
  return h('span', { class: `badge s-${(status || '').toLowerCase()}` }, status || '–');
}

export function percent(p) { return Number.isFinite(p) ? `${p.toFixed(p < 10 ? 1 : 0)}%` : '–'; }

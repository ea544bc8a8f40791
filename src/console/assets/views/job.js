// One job: status and live progress, input information, a timeline of its events and of every
// attempt's errors, the outputs, a preview player with a rendition menu, links to the files.
import { api } from '../api.js';
import { h, jobName, statusBadge, percent, duration, bitrate, bytes, when } from '../format.js';
import { openFeed } from '../jobs_feed.js';
import { jobActions } from '../job_actions.js';
import { accel } from './jobs.js';
import { play } from '../player.js';

function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function imageInput(info) {
  const i = info.image;
  const camera = [i.camera?.make, i.camera?.model].filter(Boolean).join(' ');
  return dl([
    ['File', info.uri?.split('/').pop()],
    ['Format', i.format],
    ['Resolution', `${i.widthInPx}×${i.heightInPx}` + (i.displayWidthInPx !== i.widthInPx ? ` (upright ${i.displayWidthInPx}×${i.displayHeightInPx})` : '')],
    ['Orientation', i.orientation && i.orientation !== 1 ? `EXIF ${i.orientation}` : undefined],
    ['Colour', [i.colorSpace, i.bitDepth ? `${i.bitDepth}-bit` : '', i.alpha ? 'alpha' : '', i.iccProfile ? 'ICC profile' : ''].filter(Boolean).join(', ')],
    ['Camera', camera || undefined],
    ['Taken', i.captureTime || undefined],
    ['Size', info.sizeInBytes ? bytes(info.sizeInBytes) : undefined],
  ]);
}

function inputSection(job) {
  const info = job.inputInformation;
  if (!info) return h('p', { class: 'muted' }, 'Not probed yet: the node fills this in when the job starts.');
  if (info.image) return imageInput(info);
  const v = info.video?.[0] || {};
  const a = info.audio?.[0];
  return dl([
    ['File', info.uri?.split('/').pop()],
    ['Container', info.container],
    ['Video codec', [v.codec, v.profile].filter(Boolean).join(' ')],
    ['Resolution', v.widthInPx ? `${v.widthInPx}×${v.heightInPx}` + (v.displayWidthInPx && v.displayWidthInPx !== v.widthInPx ? ` (shown ${v.displayWidthInPx}×${v.displayHeightInPx})` : '') : undefined],
    ['Frame rate', v.frameRate ? `${Number(v.frameRate).toFixed(3).replace(/\.?0+$/, '')} fps${v.variableFrameRate ? ' (variable)' : ''}` : undefined],
    ['Duration', duration((info.durationInMs || 0) / 1000)],
    ['Audio', a ? `${a.codec}, ${a.channelLayout || `${a.channels} ch`}, ${a.sampleRate} Hz` : 'none'],
    ['Rotation', `${v.rotation || 0}°`],
    ['Pixel format', v.pixelFormat ? `${v.pixelFormat}${v.bitDepth ? `, ${v.bitDepth}-bit` : ''}` : undefined],
    ['Size', info.sizeInBytes ? bytes(info.sizeInBytes) : undefined],
  ]);
}

// A published path relative to the job's output folder (an image job's variants lie in its
// image/ folder, which is also its group's outputDirectory).
function relative(job, path) {
  for (const d of [job.spec?.output, job.output?.detail?.outputGroupDetails?.[0]?.outputDirectory]) {
    const dir = (d || '').replace(/\/+$/, '');
    if (dir && path.startsWith(`${dir}/`)) return path.slice(dir.length + 1);
  }
  return path.split('/').pop();
}

function imageOutputs(job, group) {
  const rows = group.outputDetails.map((o) => h('tr', {},
    h('th', { scope: 'row' }, o.name),
    h('td', { 'data-label': 'Size' }, `${o.imageDetails.widthInPx}×${o.imageDetails.heightInPx}`),
    h('td', { 'data-label': 'Format' }, o.imageDetails.format),
    h('td', { 'data-label': 'Bytes' }, bytes(o.imageDetails.sizeInBytes)),
    h('td', { 'data-label': 'File' }, (o.outputFilePaths || []).map((p) => h('a', { href: fileUrl(job, p) }, relative(job, p))))));
  return h('div', {},
    h('div', { class: 'scroll' }, h('table', { class: 'outputs' },
      h('caption', { class: 'sr-only' }, 'Image variants'),
      h('thead', {}, h('tr', {}, ['Variant', 'Size', 'Format', 'Bytes', 'File'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))),
    h('ul', { class: 'links' }, h('li', {}, h('a', { href: `/v1/jobs/${job.id}/files/result.json` }, 'result.json'))));
}

// The largest variant a browser shows everywhere (JPEG, else WebP), at most 1920 wide.
function imagePreview(job, group) {
  const pick = (formats) => group.outputDetails
    .filter((o) => formats.includes(o.imageDetails.format) && o.imageDetails.widthInPx <= 1920)
    .sort((a, b) => b.imageDetails.widthInPx - a.imageDetails.widthInPx)[0];
  const o = pick(['jpg']) || pick(['webp']) || group.outputDetails[0];
  if (!o) return h('p', { class: 'muted' }, 'No variants in this output.');
  return h('figure', { class: 'image-preview' },
    h('img', { id: 'preview-image', src: fileUrl(job, o.outputFilePaths[0]), alt: `${o.name}, ${o.imageDetails.widthInPx}×${o.imageDetails.heightInPx}` }),
    h('figcaption', { class: 'muted' }, `${o.name} · ${o.imageDetails.widthInPx}×${o.imageDetails.heightInPx} · ${bytes(o.imageDetails.sizeInBytes)}`));
}

function fileUrl(job, path) { return `/v1/jobs/${job.id}/files/${relative(job, path).split('/').map(encodeURIComponent).join('/')}`; }

function outputsSection(job) {
  const group = job.output?.detail?.outputGroupDetails?.[0];
  if (!group) return h('p', { class: 'muted' }, job.state === 'completed' ? 'No outputs recorded.' : 'Outputs appear when the job completes.');
  if (group.type === 'IMAGE_GROUP') return imageOutputs(job, group);
  const rows = group.outputDetails.map((o) => h('tr', {},
    h('th', { scope: 'row' }, o.name),
    h('td', { 'data-label': 'Size' }, o.videoDetails ? `${o.videoDetails.widthInPx}×${o.videoDetails.heightInPx}` : `${o.audioDetails?.channels} ch`),
    h('td', { 'data-label': 'Codec' }, o.codecs || '–'),
    h('td', { 'data-label': 'Bitrate' }, bitrate((o.videoDetails || o.audioDetails)?.averageBitrate)),
    h('td', { 'data-label': 'Segments' }, String(o.segmentCount ?? '–')),
    h('td', { 'data-label': 'Playlist' }, (o.outputFilePaths || []).map((p) => h('a', { href: fileUrl(job, p) }, relative(job, p))))));
  const manifests = (group.playlistFilePaths || []).map((p) => h('li', {}, h('a', { href: fileUrl(job, p) }, relative(job, p))));
  return h('div', {},
    h('div', { class: 'scroll' }, h('table', { class: 'outputs' },
      h('caption', { class: 'sr-only' }, 'Renditions'),
      h('thead', {}, h('tr', {}, ['Rendition', 'Size', 'Codec', 'Bitrate', 'Segments', 'Playlist'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))),
    h('h3', {}, 'Manifests and files'),
    h('ul', { class: 'links' }, manifests, h('li', {}, h('a', { href: `/v1/jobs/${job.id}/files/result.json` }, 'result.json'))));
}

function previewSection(job) {
  const group = job.output?.detail?.outputGroupDetails?.[0];
  if (job.state !== 'completed' || !group) return h('p', { class: 'muted' }, 'The preview plays once the job is complete.');
  if (group.type === 'IMAGE_GROUP') return imagePreview(job, group);
  const video = h('video', { id: 'preview', controls: true, muted: true, playsinline: true, preload: 'metadata' });
  video.muted = true;
  const kind = h('select', { id: 'player-kind' }, h('option', { value: 'hls' }, 'HLS (hls.js)'), h('option', { value: 'dash' }, 'DASH (dash.js)'));
  const level = h('select', { id: 'rendition', disabled: true }, h('option', { value: '-1' }, 'Automatic'));
  const note = h('p', { class: 'muted', id: 'player-note', role: 'status' });
  let player = null;
  const manifest = (k) => (group.playlistFilePaths || []).find((p) => (k === 'hls' ? p.endsWith('.m3u8') : p.endsWith('.mpd')));
  // One start at a time: a second one (the player menu changed while the first was still
  // loading its script) would attach a second player to the same <video> and neither plays.
  let starting = Promise.resolve();
  function start() { starting = starting.then(startNow, startNow); return starting; }
  async function startNow() {
    player?.destroy();
    player = null;
    level.replaceChildren(h('option', { value: '-1' }, 'Automatic'));
    level.disabled = true;
    note.textContent = '';
    const m = manifest(kind.value);
    if (!m) { note.textContent = `No ${kind.value.toUpperCase()} manifest in this output.`; return; }
    try {
      player = await play(video, kind.value, fileUrl(job, m), (levels) => {
        levels.forEach((l, i) => level.append(h('option', { value: String(i) }, `${l.height}p · ${l.width}×${l.height} · ${bitrate(l.bitrate)}`)));
        level.disabled = false;
        video.play().catch(() => {});
      });
    } catch (err) { note.textContent = err.message; }
  }
  kind.addEventListener('change', start);
  level.addEventListener('change', () => player?.select(Number(level.value)));
  video.addEventListener('kiln-destroy', () => player?.destroy());
  start();
  return h('div', { class: 'player' }, video,
    h('div', { class: 'controls' },
      h('span', { class: 'pair' }, h('label', { for: 'player-kind' }, 'Player'), kind),
      h('span', { class: 'pair' }, h('label', { for: 'rendition' }, 'Rendition'), level)),
    note);
}

function timeline(events, job) {
  const items = events.map((e) => ({ at: e.at, kind: e.kind, text: describe(e) }));
  for (const err of job.errors || [])
    items.push({ at: err.at, kind: 'attempt error', text: `attempt ${err.attempt ?? '?'}: ${err.message || err.errorMessage || JSON.stringify(err)}`, error: true });
  items.sort((a, b) => String(a.at).localeCompare(String(b.at)));
  if (!items.length) return h('p', { class: 'muted' }, 'No events yet.');
  return h('ol', { class: 'timeline' }, items.map((i) => h('li', { class: i.error || i.kind === 'error' || i.kind === 'discarded' ? 'bad' : '' },
    h('time', { datetime: i.at }, when(i.at)), ' ', h('strong', {}, i.kind), i.text ? h('span', {}, ` ${i.text}`) : null)));
}

function describe(e) {
  const d = e.detail || {};
  if (d.errorMessage || d.message) return d.errorMessage || d.message;
  if (d.reason) return d.reason;
  if (d.node) return `on ${d.node}${d.attempt ? `, attempt ${d.attempt}` : ''}`;
  if (d.device) return d.device;
  return '';
}

export async function render(main, { id }) {
  let job;
  try { job = await api(`/v1/jobs/${id}`); } catch (err) {
    main.append(h('h1', {}, `Job ${id}`), h('p', { class: 'error' }, err.message));
    return null;
  }
  const events = [];
  const head = h('div', { class: 'title' });
  const progress = h('section', { 'aria-labelledby': 'progress-h' });
  const input = h('section', { 'aria-labelledby': 'input-h' });
  const outputs = h('section', { 'aria-labelledby': 'outputs-h' });
  const preview = h('section', { 'aria-labelledby': 'preview-h' });
  const events_ = h('section', { 'aria-labelledby': 'timeline-h' });
  let previewShown = false;

  function draw() {
    const p = job.progress || {};
    // Replaced only when it changes, so its buttons stay clickable through heartbeats.
    const fresh = h('div', {}, h('h1', {}, `Job ${job.id} · ${jobName(job)}`), statusBadge(job.status), h('span', { class: 'actions' }, jobActions(job)));
    if (head.innerHTML !== fresh.innerHTML) head.replaceChildren(...fresh.childNodes);
    const running = job.state === 'running';
    const pct = job.state === 'completed' ? 100 : p.percent;
    progress.replaceChildren(h('h2', { id: 'progress-h' }, 'Progress'),
      h('progress', { max: '100', value: String(Number.isFinite(pct) ? pct : 0), 'aria-label': 'progress' }),
      dl([['Status', `${job.status} (${job.state})`], ['Phase', running ? p.phase : undefined],
        ['Percent', Number.isFinite(pct) ? percent(pct) : undefined], ['FPS', running && p.fps ? p.fps.toFixed(1) : undefined],
        ['Speed', running && p.speed ? `${p.speed.toFixed(2)}×` : undefined], ['ETA', running ? duration(p.etaSeconds) : undefined],
        ['Node', job.node], ['Device', p.device], ['Acceleration', accel(job)], ['Attempt', `${job.attempt} of ${job.maxAttempts}`],
        ['Output', job.spec?.output], ['Ladder', job.inputInformation?.image ? undefined : job.spec?.ladder || 'default'], ['Submitted', when(job.createdAt)],
        ['Finished', job.finalizedAt ? when(job.finalizedAt) : undefined]]));
    input.replaceChildren(h('h2', { id: 'input-h' }, 'Input'), inputSection(job));
    outputs.replaceChildren(h('h2', { id: 'outputs-h' }, 'Outputs'), outputsSection(job));
    if (!previewShown || job.state !== 'completed') {
      previewShown = job.state === 'completed';
      preview.replaceChildren(h('h2', { id: 'preview-h' }, 'Preview'), previewSection(job));
    }
    events_.replaceChildren(h('h2', { id: 'timeline-h' }, 'Timeline'), timeline(events, job));
  }
  draw();
  main.append(h('p', {}, h('a', { href: '/console/jobs', 'data-link': true }, '← All jobs')), head,
    h('div', { class: 'grid' }, progress, input), preview, outputs, events_);

  const stopFeed = openFeed({
    onSnapshot(list) { const j = list.find((x) => String(x.id) === String(id)); if (j) { job = j; draw(); } },
    onJob(j) { if (String(j.id) === String(id)) { job = j; draw(); } },
  });
  const es = new EventSource(`/v1/jobs/${id}/events`);
  const seen = new Set();
  for (const kind of ['submitted', 'progressing', 'input_information', 'status_update', 'fallback', 'device_quarantined',
    'error', 'discarded', 'complete', 'cancelled']) {
    es.addEventListener(kind, (e) => {
      // EventSource's own 'error' (a dropped or ended stream) shares its name with the job's
      // error events; only the job's carry data.
      if (!e.data || seen.has(e.lastEventId)) return;
      seen.add(e.lastEventId);
      events.push(JSON.parse(e.data));
      draw();
    });
  }
  es.onerror = () => { if (['completed', 'cancelled', 'discarded'].includes(job.state)) es.close(); };
  return () => {
    stopFeed();
    es.close();
    document.getElementById('preview')?.dispatchEvent(new Event('kiln-destroy'));
  };
}

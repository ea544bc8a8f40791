// Upload: drop or pick one or many files, choose a ladder and an output location, and watch each
// file's progress (percent, rate, time left), with pause and resume. Each finished upload
// becomes one job.
import { api, session } from '../api.js';
import { h, bytes, rate, duration, percent } from '../format.js';
import { Upload, checkBefore, remembered } from '../uploader.js';

export async function render(main) {
  main.append(h('h1', {}, 'Upload'));
  if (!session.can('submit')) {
    main.append(h('p', { class: 'muted' }, 'Your token is read-only: uploads need a submit token.'));
    return null;
  }
  let settings;
  try { settings = await api('/console/settings'); } catch (err) {
    main.append(h('p', { class: 'error' }, err.message));
    return null;
  }
  if (settings.uploadProtocol === 'none') {
    main.append(h('p', { class: 'error' }, `Uploads are off: ${settings.uploadProblem}`));
    return null;
  }
  const ladder = h('select', { id: 'ladder', name: 'ladder' },
    settings.ladders.map((l, i) => h('option', { value: l, selected: i === 0 }, l.split(',').join(' + '))));
  const output = h('select', { id: 'output', name: 'output' }, settings.outputLocations.map((l) => h('option', { value: l }, l)));
  const picker = h('input', { id: 'files', type: 'file', multiple: true, accept: [...settings.uploadTypes, ...settings.uploadExtensions].join(','), class: 'sr-only' });
  const drop = h('div', { class: 'drop', id: 'drop' },
    h('p', {}, h('strong', {}, 'Drop videos or images here')),
    h('p', { class: 'muted' }, 'or'),
    h('label', { for: 'files', class: 'button primary', tabindex: '0', role: 'button', id: 'pick' }, 'Choose files'),
    picker,
    h('p', { class: 'muted' }, `Up to ${bytes(settings.maxUploadBytes)} each, into ${settings.uploadLocation} (${settings.uploadProtocol === 's3' ? 'straight to the bucket' : 'resumable'}).`));
  const list = h('ul', { class: 'uploads', id: 'upload-list', 'aria-live': 'polite' });
  const resumable = remembered();
  main.append(
    h('div', { class: 'card' },
      h('div', { class: 'form-row' },
        h('div', {}, h('label', { for: 'ladder' }, 'Preset / ladder'), ladder),
        h('div', {}, h('label', { for: 'output' }, 'Output location'), output)),
      drop),
    ...(resumable.length ? [h('p', { class: 'muted', id: 'resume-hint' },
      `Unfinished: ${resumable.map((r) => r.name).join(', ')}. Choose the same file again to resume where it stopped.`)] : []),
    list);

  const uploads = [];
  function row(u) {
    const bar = h('progress', { max: '100', value: String(u.percent), 'aria-label': `${u.file.name} uploaded` });
    const status = h('span', { class: 'state' });
    const toggle = h('button', { type: 'button', class: 'quiet', 'data-action': 'pause' });
    const remove = h('button', { type: 'button', class: 'quiet', 'data-action': 'remove', 'aria-label': `Remove ${u.file.name}` }, 'Remove');
    const li = h('li', { 'data-file': u.file.name },
      h('div', { class: 'file' }, h('strong', {}, u.file.name), h('span', { class: 'muted' }, ` ${bytes(u.file.size)}`)),
      bar, status, h('span', { class: 'buttons' }, toggle, remove));
    toggle.addEventListener('click', () => (u.state === 'paused' ? u.start() : u.pause()));
    remove.addEventListener('click', async () => { await u.remove(); li.remove(); });
    u.options.onChange = () => {
      bar.value = u.percent;
      li.dataset.state = u.state;
      const facts = `${percent(u.percent)} · ${rate(u.rate)} · ${duration(u.secondsLeft)} left`;
      status.replaceChildren(
        u.state === 'done' ? h('span', {}, 'Uploaded → ', h('a', { href: `/console/jobs/${u.jobId}`, 'data-link': true, class: 'job-link' }, `job ${u.jobId}`))
          : u.state === 'refused' ? h('span', { class: 'error', role: 'alert' }, `Refused: ${u.message}`)
            : u.state === 'paused' ? `Paused at ${percent(u.percent)}`
              : u.state === 'retrying' ? h('span', { class: 'warn' }, u.message)
                : facts);
      toggle.textContent = u.state === 'paused' ? 'Resume' : 'Pause';
      toggle.setAttribute('aria-label', `${toggle.textContent} ${u.file.name}`);
      toggle.hidden = ['done', 'refused'].includes(u.state);
      remove.hidden = u.state === 'done';
    };
    u.options.onChange(u);
    return li;
  }
  function add(files) {
    for (const file of files) {
      const why = checkBefore(file, settings);
      if (why) {
        list.append(h('li', { 'data-file': file.name, 'data-state': 'refused' }, h('div', { class: 'file' }, h('strong', {}, file.name)),
          h('span', { class: 'error', role: 'alert' }, `Refused: ${why}`)));
        continue;
      }
      const u = new Upload(file, { settings, ladder: ladder.value, output: output.value });
      uploads.push(u);
      list.append(row(u));
      u.start();
    }
  }
  picker.addEventListener('change', () => { add([...picker.files]); picker.value = ''; });
  drop.querySelector('#pick').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); picker.click(); }
  });
  for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  drop.addEventListener('drop', (e) => add([...e.dataTransfer.files]));
  // Leaving the page pauses (the server keeps every byte it has; coming back resumes).
  return () => uploads.forEach((u) => u.pause());
}

// Resumable uploads from the browser. Into a file location: the tus protocol (1.0.0: core,
// creation, termination) in chunks, each PATCH sent with XHR for its progress events. Into a
// bucket: presigned multipart, each part PUT straight to the bucket. Either way the upload's
// URL is remembered in localStorage under the file's fingerprint, so choosing the same file
// again after a reload or a dropped connection resumes from the last byte the server has.
import { session } from './api.js';

const retryDelays = [0, 1000, 2000, 4000, 8000, 15000, 30000];
const storeKey = (file) => `kiln-upload:${file.name}:${file.size}:${file.lastModified}`;

export function remembered() {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k.startsWith('kiln-upload:')) {
      try { out.push({ key: k, ...JSON.parse(localStorage.getItem(k)) }); } catch { localStorage.removeItem(k); }
    }
  }
  return out;
}

class Refused extends Error {}

function xhr(method, url, { headers = {}, body, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => resolve(x);
    x.onerror = () => reject(new Error('the connection dropped'));
    x.onabort = () => reject(new DOMException('paused', 'AbortError'));
    if (signal) signal.addEventListener('abort', () => x.abort(), { once: true });
    x.send(body ?? null);
  });
}

function messageOf(x) {
  try { return JSON.parse(x.responseText).error.message; } catch { return `${x.status} ${x.statusText}`; }
}

const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

export class Upload {
  /** options: {settings, ladder, output, onChange(upload)} */
  constructor(file, options) {
    this.file = file;
    this.options = options;
    this.offset = 0;
    this.state = 'waiting';  // waiting, uploading, paused, retrying, checking, done, refused
    this.message = '';
    this.jobId = null;
    this.rate = NaN;
    this.samples = [];
    this.controller = null;
  }

  get percent() { return this.file.size ? (100 * this.offset) / this.file.size : 0; }
  get secondsLeft() { return this.rate > 0 ? (this.file.size - this.offset) / this.rate : NaN; }

  changed() { this.options.onChange?.(this); }

  progress(offset) {
    this.offset = offset;
    const now = performance.now();
    this.samples.push([now, offset]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    const [t0, o0] = this.samples[0];
    if (now - t0 > 250) this.rate = ((offset - o0) * 1000) / (now - t0);
    this.changed();
  }

  pause() {
    if (!['uploading', 'retrying', 'waiting'].includes(this.state)) return;
    this.state = 'paused';
    this.controller?.abort();
    this.changed();
  }

  async start() {
    if (['done', 'refused', 'checking'].includes(this.state)) return;
    this.state = 'uploading';
    this.message = '';
    this.changed();
    let attempt = 0;
    while (this.state === 'uploading' || this.state === 'retrying') {
      this.controller = new AbortController();
      try {
        if (this.options.settings.uploadProtocol === 's3') await this.runBucket();
        else await this.runTus();
        return;
      } catch (err) {
        if (err.name === 'AbortError' || this.state === 'paused') return;
        if (err instanceof Refused) {
          this.state = 'refused';
          this.message = err.message;
          localStorage.removeItem(storeKey(this.file));
          this.changed();
          return;
        }
        const delay = retryDelays[Math.min(attempt++, retryDelays.length - 1)];
        this.state = 'retrying';
        this.message = `${err.message}; resuming in ${Math.round(delay / 1000)} s`;
        this.changed();
        await new Promise((r) => setTimeout(r, delay));
        if (this.state === 'paused') return;
        this.state = 'uploading';
        this.message = '';
        this.changed();
      }
    }
  }

  // tus: find or create the upload, then PATCH chunks from the server's offset.
  async runTus() {
    const signal = this.controller.signal;
    const tus = { 'Tus-Resumable': '1.0.0', 'X-Kiln-CSRF': session.csrf };
    const saved = JSON.parse(localStorage.getItem(storeKey(this.file)) || 'null');
    let url = saved?.protocol === 'tus' ? saved.url : null;
    if (url) {
      const head = await xhr('HEAD', url, { headers: tus, signal });
      if (head.status === 200) {
        this.offset = Number(head.getResponseHeader('Upload-Offset'));
        const job = head.getResponseHeader('Kiln-Job-Id');
        if (job) return this.finished(job);
      } else if ([404, 410].includes(head.status)) url = null;
      else if (head.status >= 400 && head.status < 500) throw new Refused(messageOf(head));
      else throw new Error(messageOf(head));
    }
    if (!url) {
      const meta = [['filename', this.file.name], ['filetype', this.file.type], ['ladder', this.options.ladder || ''],
        ['output', this.options.output || '']].map(([k, v]) => `${k} ${b64(v)}`).join(',');
      const made = await xhr('POST', '/v1/uploads', {
        headers: { ...tus, 'Upload-Length': String(this.file.size), 'Upload-Metadata': meta }, signal });
      if (made.status !== 201) {
        if (made.status >= 400 && made.status < 500) throw new Refused(messageOf(made));
        throw new Error(messageOf(made));
      }
      url = made.getResponseHeader('Location');
      this.offset = 0;
      localStorage.setItem(storeKey(this.file), JSON.stringify({ protocol: 'tus', url, name: this.file.name, size: this.file.size }));
    }
    this.url = url;
    const chunk = Math.min(this.options.settings.chunkBytes || 8 << 20, 8 << 20);
    while (this.offset < this.file.size) {
      const end = Math.min(this.file.size, this.offset + chunk);
      const from = this.offset;
      const res = await xhr('PATCH', url, {
        headers: { ...tus, 'Upload-Offset': String(from), 'Content-Type': 'application/offset+octet-stream' },
        body: this.file.slice(from, end), signal, onProgress: (n) => this.progress(from + n),
      });
      if (res.status === 204) {
        this.progress(Number(res.getResponseHeader('Upload-Offset')));
        const job = res.getResponseHeader('Kiln-Job-Id');
        if (job) return this.finished(job);
        continue;
      }
      if (res.status === 409 || res.status === 423 || res.status >= 500) {
        // Out of step, busy, or the server failed: HEAD for the true offset and go on from there.
        const head = await xhr('HEAD', url, { headers: tus, signal });
        if (head.status !== 200) throw new Error(messageOf(res));
        this.offset = Number(head.getResponseHeader('Upload-Offset'));
        throw new Error(messageOf(res));
      }
      throw new Refused(messageOf(res));
    }
    // Every byte is there but no job was named (the answer to the last PATCH was lost): ask.
    const head = await xhr('HEAD', url, { headers: tus, signal });
    const job = head.getResponseHeader('Kiln-Job-Id');
    if (job) return this.finished(job);
    const info = JSON.parse(head.responseText || '{}');
    if (info.state === 'refused') throw new Refused(info.error || 'the upload was refused');
    throw new Error('the upload is being checked');
  }

  // A bucket: presigned parts PUT straight to the bucket, then complete.
  async runBucket() {
    const signal = this.controller.signal;
    const json = { 'Content-Type': 'application/json', 'X-Kiln-CSRF': session.csrf };
    let saved = JSON.parse(localStorage.getItem(storeKey(this.file)) || 'null');
    if (saved?.protocol !== 's3') saved = null;
    if (!saved) {
      const made = await xhr('POST', '/v1/uploads/s3', {
        headers: json, signal,
        body: JSON.stringify({ filename: this.file.name, filetype: this.file.type, size: this.file.size,
          ladder: this.options.ladder || '', output: this.options.output || '' }),
      });
      if (made.status !== 201) {
        if (made.status >= 400 && made.status < 500) throw new Refused(messageOf(made));
        throw new Error(messageOf(made));
      }
      const u = JSON.parse(made.responseText);
      saved = { protocol: 's3', id: u.id, partSize: u.partSize, parts: u.parts, etags: [], name: this.file.name, size: this.file.size };
      localStorage.setItem(storeKey(this.file), JSON.stringify(saved));
    }
    const { partSize, parts } = saved;
    for (let i = saved.etags.length; i < parts.length; i++) {
      const from = i * partSize;
      const res = await xhr('PUT', parts[i].url, { body: this.file.slice(from, Math.min(this.file.size, from + partSize)),
        signal, onProgress: (n) => this.progress(from + n) });
      if (res.status !== 200) throw new Error(`the bucket answered ${res.status} for part ${i + 1}`);
      const etag = res.getResponseHeader('ETag');
      if (!etag) throw new Refused('the bucket does not expose ETag to the browser: add a CORS rule (README, S3-compatible storage)');
      saved.etags.push(etag);
      localStorage.setItem(storeKey(this.file), JSON.stringify(saved));
      this.progress(Math.min(this.file.size, from + partSize));
    }
    const done = await xhr('POST', `/v1/uploads/s3/${saved.id}/complete`, { headers: json, signal, body: JSON.stringify({ etags: saved.etags }) });
    if (done.status === 200) return this.finished(done.getResponseHeader('Kiln-Job-Id') || JSON.parse(done.responseText).jobId);
    if (done.status >= 400 && done.status < 500) throw new Refused(messageOf(done));
    throw new Error(messageOf(done));
  }

  finished(jobId) {
    this.offset = this.file.size;
    this.state = 'done';
    this.jobId = jobId;
    localStorage.removeItem(storeKey(this.file));
    this.changed();
  }

  /** Termination: the server forgets the upload and deletes its bytes. */
  async remove() {
    this.pause();
    const saved = JSON.parse(localStorage.getItem(storeKey(this.file)) || 'null');
    localStorage.removeItem(storeKey(this.file));
    if (saved?.protocol === 'tus' && saved.url)
      await xhr('DELETE', saved.url, { headers: { 'Tus-Resumable': '1.0.0', 'X-Kiln-CSRF': session.csrf } }).catch(() => {});
    if (saved?.protocol === 's3' && saved.id)
      await xhr('DELETE', `/v1/uploads/s3/${saved.id}`, { headers: { 'X-Kiln-CSRF': session.csrf } }).catch(() => {});
  }
}

/** Why the browser refuses a file before sending a byte ("" if it may go). */
export function checkBefore(file, settings) {
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > settings.maxUploadBytes) return `${file.name} is larger than the ${Math.floor(settings.maxUploadBytes / 1e6)} MB this server accepts.`;
  const ext = (file.name.match(/\.[^.]+$/) || [''])[0].toLowerCase();
  // The server's lists (/console/settings), so the browser refuses what the server would.
  const typeOk = settings.uploadTypes.some((t) => (t.endsWith('/*') ? file.type.startsWith(t.slice(0, -1)) : file.type === t));
  if (typeOk) return '';
  if ((!file.type || file.type === 'application/octet-stream') && settings.uploadExtensions.includes(ext)) return '';
  return `${file.name} is ${file.type ? `of type ${file.type}` : 'of no known type'}, not a video or an image.`;
}

// The web console as people use it, in Debian's Chromium (playwright-core) against a real
// coordinator, node and PostgreSQL started by browser_test.cpp:
//   an admin signs in; a long job runs; a non-media upload is refused with the probe's message;
//   a 10 s clip is uploaded with one PATCH cut (route abort) and resumes; its job waits
//   (SUBMITTED) behind the long one, which is cancelled from the list (CANCELED); then it runs
//   (PROGRESSING, percent rising without a reload) to COMPLETE; its page plays the preview in
//   hls.js and dash.js, every rendition; a read-only token sees no upload or cancel controls and
//   the API refuses them; without a session pages and calls are refused; a request with the
//   cookie but without the CSRF header is refused; an uploaded photo becomes an image job whose
//   page shows the picture and its variants. Every page is screenshotted, desktop and phone.
//
//   node console_browser.mjs --base URL --admin TOKEN --read TOKEN --clip console_10s.mp4
//        --junk random.mp4 --long long.mp4 --image photo.jpg --shots DIR
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc, []));
const base = args.base;
mkdirSync(args.shots, { recursive: true });
const T = { timeout: 60000 };

let passed = 0, failed = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.error(`FAIL ${name}: ${e.stack || e.message}`);
  }
}
function expect(cond, what) { if (!cond) throw new Error(what); }

async function api(path, { method = 'GET', token = args.admin, body } = {}) {
  const res = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
const desktop = { viewport: { width: 1280, height: 860 } };
const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };

async function signedIn(options, token) {
  const ctx = await browser.newContext(options);
  const res = await ctx.request.post(`${base}/console/session`, { data: { token } });
  expect(res.status() === 201, `sign in: ${res.status()}`);
  return ctx;
}
const errors = [];
function watch(page, name) {
  page.on('pageerror', (e) => errors.push(`[${name}] ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`[${name}] console: ${m.text()}`); });
  return page;
}
async function shoot(page, name) {
  await page.screenshot({ path: join(args.shots, `${name}.png`), fullPage: true });
}
/** Screenshots `path` on a phone-sized viewport, signed in with `token` (none: signed out). */
async function phoneShot(path, name, token, ready) {
  const ctx = token ? await signedIn(phone, token) : await browser.newContext(phone);
  const p = watch(await ctx.newPage(), `phone ${name}`);
  await p.goto(base + path);
  if (ready) await ready(p);
  await p.waitForLoadState('networkidle').catch(() => {});
  await shoot(p, `${name}-phone`);
  await ctx.close();
}

const admin = await browser.newContext(desktop);
const list = watch(await admin.newPage(), 'jobs');
let longId = null, clipJob = null;

await check('sign in with a token through the form', async () => {
  await list.goto(`${base}/console/jobs`);
  await list.waitForURL(/\/console\/sign-in/, T);
  await list.waitForSelector('#token', T);
  await shoot(list, 'sign-in-desktop');
  await phoneShot('/console/sign-in', 'sign-in', null, (p) => p.waitForSelector('#token'));
  await list.fill('#token', 'kiln_wrong');
  await list.click('button[type=submit]');
  await list.waitForSelector('#sign-in-error:not(:empty)', T);
  await list.fill('#token', args.admin);
  await list.keyboard.press('Enter');  // keyboard: the form submits on Enter
  await list.waitForURL(/\/console\/jobs$/, T);
  await list.waitForSelector('#live-state[data-state="live"]', T);
  const cookies = await admin.cookies();
  const c = cookies.find((x) => x.name === 'kiln_session');
  expect(c && c.httpOnly && c.sameSite === 'Strict', `cookie ${JSON.stringify(c)}`);
  expect(await list.evaluate(() => document.cookie) === '', 'the page cannot read the session cookie');
});

await check('a long job shows PROGRESSING in the live list', async () => {
  const r = await api('/v1/jobs', { method: 'POST', body: { input: args.long, output: `work:long-${Date.now()}`, metadata: { team: 'promo' } } });
  expect(r.status === 201, JSON.stringify(r));
  longId = r.body.id;
  await list.waitForSelector(`tr[data-job="${longId}"][data-status="PROGRESSING"]`, T);
  // The list is live: remember this document, to show no reload happened later.
  await list.evaluate(() => { window.kilnNoReload = true; });
});

const upload = watch(await admin.newPage(), 'upload');
await check('a non-media file is refused with the probe\'s message', async () => {
  await upload.goto(`${base}/console/upload`);
  await upload.waitForSelector('#drop', T);
  await shoot(upload, 'upload-desktop');
  await upload.setInputFiles('#files', args.junk);
  const row = upload.locator('li[data-file="random.mp4"]');
  await row.locator('[role=alert]').waitFor(T);
  const text = await row.locator('[role=alert]').innerText();
  expect(/Refused: .*(not media|Invalid data|recognis|format)/i.test(text), `refusal shown: ${text}`);
});

await check('an upload cut halfway resumes and becomes one job, SUBMITTED behind the long job', async () => {
  let size = 0, cut = 0, resumedFrom = -1;
  await upload.route('**/v1/uploads/*', async (route) => {
    const req = route.request();
    if (req.method() === 'PATCH') {
      const offset = Number(req.headers()['upload-offset']);
      if (!cut && offset >= size / 2) { cut = offset; return route.abort('connectionreset'); }
      if (cut && resumedFrom < 0) resumedFrom = offset;
    }
    return route.continue();
  });
  const { statSync } = await import('node:fs');
  size = statSync(args.clip).size;
  await upload.setInputFiles('#files', args.clip);
  const row = upload.locator('li[data-file="console_10s.mp4"]');
  await row.locator('a.job-link').waitFor(T);
  await shoot(upload, 'upload-done-desktop');
  expect(cut > 0, 'no PATCH was cut');
  expect(resumedFrom === cut, `after the cut at ${cut} the upload resumed at ${resumedFrom}`);
  clipJob = Number((await row.locator('a.job-link').innerText()).replace(/\D/g, ''));
  await list.waitForSelector(`tr[data-job="${clipJob}"]`, T);
  const status = await list.getAttribute(`tr[data-job="${clipJob}"]`, 'data-status');
  expect(status === 'SUBMITTED', `the clip's job is ${status} while the long job runs`);
  const all = await api('/v1/jobs?limit=500');
  expect(all.body.jobs.filter((j) => j.spec?.metadata?.upload === 'console_10s.mp4').length === 1, 'one job for the upload');
});

await check('filters: by status and by text over name and metadata', async () => {
  await list.selectOption('#status-filter', 'SUBMITTED');
  expect(await list.isVisible(`tr[data-job="${clipJob}"]`), 'the submitted clip shows under SUBMITTED');
  expect(!(await list.isVisible(`tr[data-job="${longId}"]`)), 'the running job is hidden under SUBMITTED');
  await list.selectOption('#status-filter', '');
  await list.fill('#search', 'promo');
  expect(await list.isVisible(`tr[data-job="${longId}"]`) && !(await list.isVisible(`tr[data-job="${clipJob}"]`)), 'metadata search');
  await list.fill('#search', 'console_10s');
  expect(await list.isVisible(`tr[data-job="${clipJob}"]`) && !(await list.isVisible(`tr[data-job="${longId}"]`)), 'name search');
  await list.fill('#search', '');
});

await check('a running job cancelled from the list shows CANCELED', async () => {
  await shoot(list, 'jobs-desktop');
  await phoneShot('/console/jobs', 'jobs', args.admin, (p) => p.waitForSelector(`tr[data-job="${longId}"]`));
  // Record every state and percent the clip's row shows from now on (in this same document).
  await list.evaluate((id) => {
    window.kilnSeen = [];
    const note = () => {
      const tr = document.querySelector(`tr[data-job="${id}"]`);
      if (!tr) return;
      const entry = `${tr.dataset.status} ${tr.querySelector('.pct')?.textContent}`;
      if (window.kilnSeen.at(-1) !== entry) window.kilnSeen.push(entry);
    };
    new MutationObserver(note).observe(document.getElementById('jobs-body'), { subtree: true, childList: true, attributes: true });
    note();
  }, clipJob);
  await list.click(`tr[data-job="${longId}"] button[data-action="cancel"]`);
  await list.waitForSelector(`tr[data-job="${longId}"][data-status="CANCELED"]`, T);
});

await check('the clip runs: SUBMITTED -> PROGRESSING (percent rising, no reload) -> COMPLETE', async () => {
  await list.waitForSelector(`tr[data-job="${clipJob}"][data-status="COMPLETE"]`, { timeout: 120000 });
  const seen = await list.evaluate(() => window.kilnSeen);
  expect(await list.evaluate(() => window.kilnNoReload === true), 'the page was reloaded');
  const progressing = seen.filter((s) => s.startsWith('PROGRESSING')).map((s) => parseFloat(s.split(' ')[1])).filter(Number.isFinite);
  expect(seen[0].startsWith('SUBMITTED'), `first seen: ${seen[0]}`);
  expect(progressing.length >= 2 && progressing.at(-1) > progressing[0], `percent did not rise: ${JSON.stringify(seen)}`);
  expect(seen.at(-1).startsWith('COMPLETE'), `last seen: ${seen.at(-1)}`);
  console.log(`     the list showed: ${seen.join(' | ')}`);
});

await check('the job page plays every rendition in hls.js and dash.js', async () => {
  const job = (await api(`/v1/jobs/${clipJob}`)).body;
  const want = job.output.detail.outputGroupDetails[0].outputDetails.filter((o) => o.videoDetails)
    .map((o) => ({ name: o.name, width: o.videoDetails.widthInPx, height: o.videoDetails.heightInPx }));
  expect(want.length === 2, `renditions ${JSON.stringify(want)}`);
  await list.click(`tr[data-job="${clipJob}"] a`);
  await list.waitForURL(new RegExp(`/console/jobs/${clipJob}$`), T);
  for (const kind of ['hls', 'dash']) {
    await list.selectOption('#player-kind', kind);
    await list.waitForSelector('#rendition:not([disabled])', T);
    const options = await list.$$eval('#rendition option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
    for (const w of want) {
      const opt = options.find((o) => o.text.includes(`${w.width}×${w.height}`));
      expect(opt, `${kind}: no ${w.width}x${w.height} in ${JSON.stringify(options)}`);
      await list.selectOption('#rendition', opt.value);
      const r = await list.evaluate(async ({ width, height }) => {
        const v = document.getElementById('preview');
        const deadline = Date.now() + 30000;
        let from = null;
        while (Date.now() < deadline) {
          if (v.error) return { ok: false, why: `media error ${v.error.code}` };
          if (v.videoWidth === width && v.videoHeight === height) {
            if (from === null) from = v.currentTime;
            if (v.currentTime > from + 0.5) return { ok: true, t: v.currentTime };
          }
          if (v.ended || v.currentTime > v.duration - 1.5) { v.currentTime = 0; from = null; }
          if (v.paused) v.play().catch(() => {});
          await new Promise((res) => setTimeout(res, 50));
        }
        return { ok: false, why: `saw ${v.videoWidth}x${v.videoHeight} at t=${v.currentTime} (readyState ${v.readyState}, ` +
          `networkState ${v.networkState}, ${v.buffered.length} buffered range(s), paused ${v.paused})` };
      }, w);
      expect(r.ok, `${kind} ${w.name}: ${r.why}`);
      console.log(`     ${kind} ${w.name} ${w.width}x${w.height} playing at t=${r.t.toFixed(2)}s`);
    }
  }
  const links = await list.$$eval('section a', (as) => as.map((a) => a.getAttribute('href')));
  for (const f of ['master.m3u8', 'manifest.mpd']) expect(links.some((l) => l.endsWith(f)), `a link to ${f}: ${links}`);
  const manifest = await list.evaluate(async (id) => (await fetch(`/v1/jobs/${id}/files/master.m3u8`)).text(), clipJob);
  expect(manifest.startsWith('#EXTM3U'), 'the manifest link serves the playlist');
  await list.evaluate(() => document.getElementById('preview').pause());
  await shoot(list, 'job-desktop');
  await phoneShot(`/console/jobs/${clipJob}`, 'job', args.admin, (p) => p.waitForSelector('#rendition:not([disabled])', T));
});

await check('an image upload becomes an image job whose page shows the picture and its variants', async () => {
  await upload.goto(`${base}/console/upload`);
  await upload.waitForSelector('#drop', T);
  await upload.setInputFiles('#files', args.image);
  const row = upload.locator(`li[data-file="${args.image.split('/').pop()}"]`);
  await row.locator('a.job-link').waitFor(T);
  const id = Number((await row.locator('a.job-link').innerText()).replace(/\D/g, ''));
  const page = watch(await admin.newPage(), 'image');
  await page.goto(`${base}/console/jobs/${id}`);
  await page.waitForSelector('#preview-image', { timeout: 120000 });
  const shown = await page.$eval('#preview-image', async (img) => { await img.decode(); return [img.naturalWidth, img.naturalHeight]; });
  expect(shown[0] > 0 && shown[1] > 0, `the preview image did not load: ${shown}`);
  const text = await page.textContent('main');  // not innerText: table headers are upper-cased by CSS
  for (const want of ['Variant', 'webp', 'avif', 'jpg', 'Format', 'jpeg', 'libvips (CPU)']) expect(text.includes(want), `"${want}" not on the page: ${text}`);
  expect(!text.includes('hardware'), `an image job is not hardware-accelerated: ${text}`);
  const links = await page.$$eval('table.outputs a', (as) => as.map((a) => a.getAttribute('href')));
  expect(links.length >= 3 && links.every((l) => l.includes('/files/image/')), `variant links: ${links}`);
  const served = await page.evaluate(async (href) => { const r = await fetch(href); return [r.status, r.headers.get('content-type')]; }, links.find((l) => l.endsWith('.webp')));
  expect(served[0] === 200 && served[1] === 'image/webp', `a WebP variant is served as ${served}`);
  await shoot(page, 'image-job-desktop');
  await page.close();
});

await check('nodes and devices', async () => {
  await list.click('a[data-nav="nodes"]');
  await list.waitForSelector('article.node', T);
  const text = await list.innerText('main');
  expect(/software/.test(text) && /last heartbeat/.test(text) && /completed/.test(text), text);
  await shoot(list, 'nodes-desktop');
  await phoneShot('/console/nodes', 'nodes', args.admin, (p) => p.waitForSelector('article.node'));
  await phoneShot('/console/upload', 'upload', args.admin, (p) => p.waitForSelector('#drop'));
});

await check('a request with the cookie but without the CSRF header is refused', async () => {
  const r = await list.evaluate(async (id) => {
    const bare = await fetch(`/v1/jobs/${id}/retry`, { method: 'POST' });
    return { status: bare.status, body: await bare.json() };
  }, longId);
  expect(r.status === 403 && r.body.error.code === 'csrf_failed', JSON.stringify(r));
  expect((await api(`/v1/jobs/${longId}`)).body.state === 'cancelled', 'the refused retry changed nothing');
});

await check('a read-only token: no upload or cancel controls, and the API refuses them', async () => {
  const ctx = await browser.newContext(desktop);
  const p = watch(await ctx.newPage(), 'read');
  await p.goto(`${base}/console/sign-in`);
  await p.fill('#token', args.read);
  await p.click('button[type=submit]');
  await p.waitForURL(/\/console\/jobs$/, T);
  await p.waitForSelector(`tr[data-job="${clipJob}"]`, T);
  const submit = (await api('/v1/jobs', { method: 'POST', body: { input: args.long, output: `work:queued-${Date.now()}`, delaySeconds: 3600 } })).body;
  await p.waitForSelector(`tr[data-job="${submit.id}"]`, T);
  expect(await p.locator('button[data-action]').count() === 0, 'a read token sees cancel or retry buttons');
  expect(!(await p.isVisible('a[data-nav="upload"]')), 'the Upload link shows');
  await shoot(p, 'jobs-read-only-desktop');
  await p.goto(`${base}/console/upload`);
  await p.waitForSelector('main h1', T);
  expect(await p.locator('#drop, #files').count() === 0, 'upload controls show');
  const refused = await p.evaluate(async (id) => {
    const csrf = (await (await fetch('/console/session')).json()).csrf;
    const cancel = await fetch(`/v1/jobs/${id}/cancel`, { method: 'POST', headers: { 'X-Kiln-CSRF': csrf } });
    const up = await fetch('/v1/uploads', { method: 'POST', headers: { 'X-Kiln-CSRF': csrf, 'Tus-Resumable': '1.0.0',
      'Upload-Length': '10', 'Upload-Metadata': 'filename YS5tcDQ=' } });
    return [cancel.status, up.status];
  }, submit.id);
  expect(refused[0] === 403 && refused[1] === 403, `the API answered ${refused}`);
  expect((await api(`/v1/jobs/${submit.id}`)).body.status === 'SUBMITTED', 'the refused cancel changed nothing');
  await api(`/v1/jobs/${submit.id}/cancel`, { method: 'POST' });
  await ctx.close();
});

await check('without a session every page and API call is refused', async () => {
  const ctx = await browser.newContext(desktop);
  const p = await ctx.newPage();
  for (const path of ['/console/jobs', `/console/jobs/${clipJob}`, '/console/upload', '/console/nodes']) {
    const res = await p.request.get(base + path, { maxRedirects: 0 });
    expect(res.status() === 303, `${path}: ${res.status()}`);
    await p.goto(base + path);
    expect(/\/console\/sign-in/.test(p.url()), `${path} showed ${p.url()}`);
  }
  const calls = await p.evaluate(async (id) => Promise.all(['/v1/jobs', `/v1/jobs/${id}`, '/v1/nodes', '/console/settings',
    `/v1/jobs/${id}/files/master.m3u8`].map(async (u) => (await fetch(u)).status)), clipJob);
  expect(calls.every((s) => s === 401), `answers ${calls}`);
  await ctx.close();
});

await check('sign out ends the session', async () => {
  await list.click('#sign-out');
  await list.waitForURL(/\/console\/sign-in/, T);
  const status = await list.evaluate(async () => (await fetch('/v1/jobs')).status);
  expect(status === 401, `after sign out: ${status}`);
});

await check('no script errors and no CSP violations on any page', async () => {
  const bad = errors.filter((e) => !/Failed to load resource: the server responded with a status of (401|403|415)/.test(e) &&
    !/net::ERR_CONNECTION_RESET|net::ERR_FAILED/.test(e));
  expect(bad.length === 0, bad.join('\n'));
});

await browser.close();
console.log(`screenshots in ${args.shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

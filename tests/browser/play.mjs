// Plays a Kiln ladder as a viewer would: the HLS multivariant playlist in hls.js and the MPD in
// dash.js, in headless Chromium (Debian's, driven by playwright-core), served over loopback
// HTTP. Every rendition is selected in turn and must play: currentTime advances and the
// decoded picture has the rendition's size.
//
//   node play.mjs --kiln build/kiln --input 1080p.mp4 [--backend NAME] [--out DIR] [--screenshot FILE]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, extname, dirname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc, []));

let outDir = args.out;
let scratch = null;
if (!outDir) {
  scratch = mkdtempSync(join(tmpdir(), 'kiln-play-'));
  outDir = join(scratch, 'ladder');
  const backend = args.backend ? ['--backend', args.backend] : [];
  execFileSync(args.kiln, ['transcode', args.input, '-o', outDir, '--log-level', 'warn', ...backend],
    { stdio: 'inherit' });
}
const result = JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
if (args.backend && result.detail.backend !== args.backend) {
  console.error(`expected the ${args.backend} backend to run, result.json says ${result.detail.backend}`);
  process.exit(1);
}
const expected = result.detail.outputGroupDetails[0].outputDetails
  .filter((o) => o.videoDetails)
  .map((o) => ({ name: o.name, width: o.videoDetails.widthInPx, height: o.videoDetails.heightInPx }));

const libs = {
  '/lib/hls.js': join(here, 'node_modules/hls.js/dist/hls.min.js'),
  '/lib/dash.js': join(here, 'node_modules/dashjs/dist/dash.all.min.js'),
};
const types = { '.m3u8': 'application/vnd.apple.mpegurl', '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4', '.m4s': 'video/iso.segment', '.js': 'text/javascript', '.html': 'text/html' };
const page = `<!doctype html><html><body><video id="v" muted playsinline width="640"></video>
<script src="/lib/hls.js"></script><script src="/lib/dash.js"></script></body></html>`;

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let file = libs[url.pathname];
  if (url.pathname === '/') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end(page); }
  if (!file && url.pathname.startsWith('/out/')) {
    file = normalize(join(outDir, url.pathname.slice(5)));
    if (!file.startsWith(outDir)) file = null;
  }
  if (!file || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404); return res.end(); }
  res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});

// In the page: select rendition `index`, then wait until the picture has its size and
// playback moves on by a second. Resolves with what was seen.
const selectAndPlay = async ({ player, index, width, height }) => {
  const v = document.getElementById('v');
  if (player === 'hls') window.hls.currentLevel = index;
  else window.dash.setQualityFor('video', index, true);
  const deadline = Date.now() + 30000;
  let from = null;
  while (Date.now() < deadline) {
    if (v.error) return { ok: false, why: `media error ${v.error.code} ${v.error.message}` };
    if (v.videoWidth === width && v.videoHeight === height) {
      if (from === null) from = v.currentTime;
      if (v.currentTime > from + 1.0) return { ok: true, t: v.currentTime };
    }
    if (v.ended || v.currentTime > v.duration - 1.5) { v.currentTime = 0; from = null; v.play(); }
    // hls.js pauses the element for an immediate level switch and may not resume it when the
    // switch lands before the first frame; a viewer would press play, so do the same.
    else if (v.paused) v.play().catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ok: false, why: `saw ${v.videoWidth}x${v.videoHeight} at t=${v.currentTime}` };
};

const players = {
  hls: async (p) => {
    await p.evaluate(async (src) => {
      const v = document.getElementById('v');
      if (!Hls.isSupported()) throw new Error('hls.js: MSE not supported');
      window.hls = new Hls({ capLevelToPlayerSize: false });
      await new Promise((ok, fail) => {
        hls.on(Hls.Events.MANIFEST_PARSED, ok);
        hls.on(Hls.Events.ERROR, (_, d) => d.fatal && fail(new Error(`hls.js: ${d.type} ${d.details}`)));
        hls.loadSource(src);
        hls.attachMedia(v);
      });
      v.play();
      // Switch renditions only once playback has started, as a viewer would: an immediate
      // level switch during the first fragment load can leave hls.js stalled at t=0.
      const deadline = Date.now() + 30000;
      while (!(v.currentTime > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }, `${base}/out/master.m3u8`);
    return p.evaluate(() => hls.levels.map((l) => ({ width: l.width, height: l.height })));
  },
  dash: async (p) => {
    await p.evaluate(async (src) => {
      const v = document.getElementById('v');
      window.dash = dashjs.MediaPlayer().create();
      dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: false } } } });
      await new Promise((ok, fail) => {
        dash.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, ok);
        dash.on(dashjs.MediaPlayer.events.ERROR, (e) => fail(new Error(`dash.js: ${JSON.stringify(e.error)}`)));
        dash.initialize(v, src, true);
      });
    }, `${base}/out/manifest.mpd`);
    return p.evaluate(() => dash.getBitrateInfoListFor('video').map((b) => ({ width: b.width, height: b.height })));
  },
};

let passed = 0, failed = 0;
try {
  for (const [name, open] of Object.entries(players)) {
    const p = await browser.newPage();
    p.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
    await p.goto(base + '/');
    let levels;
    try {
      levels = await open(p);
    } catch (e) {
      console.error(`FAIL ${name}: could not start: ${e.message}`);
      failed += expected.length;
      continue;
    }
    if (levels.length !== expected.length) {
      console.error(`FAIL ${name}: player sees ${levels.length} renditions, ladder has ${expected.length}`);
      failed++;
    }
    for (const want of expected) {
      const index = levels.findIndex((l) => l.width === want.width && l.height === want.height);
      if (index < 0) { console.error(`FAIL ${name} ${want.name}: not offered by the player`); failed++; continue; }
      const r = await p.evaluate(selectAndPlay, { player: name, index, width: want.width, height: want.height });
      if (r.ok) { passed++; console.log(`ok   ${name} ${want.name} ${want.width}x${want.height} playing at t=${r.t.toFixed(2)}s`); }
      else { failed++; console.error(`FAIL ${name} ${want.name}: ${r.why}`); }
    }
    if (args.screenshot) await p.screenshot({ path: args.screenshot.replace(/(\.png)?$/, `-${name}.png`) });
    await p.close();
  }
} finally {
  await browser.close();
  server.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

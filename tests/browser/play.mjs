// Plays a Kiln ladder as a viewer would: the HLS multivariant playlist in hls.js and the MPD in
// dash.js, in headless Chromium (Debian's, driven by playwright-core), served over loopback
// HTTP. Every rendition is selected in turn and must play: currentTime advances and the
// decoded picture has the rendition's size. A ladder of several codecs is played codec by
// codec (hls.js levels by CODECS; dash.js one adaptation set at a time); a codec this Chromium
// cannot decode (HEVC: MediaSource.isTypeSupported says no) is reported as not playable here,
// never as passed. Progressive MP4s must play in a plain <video>; with --thumbnails, dash.js
// must give a storyboard thumbnail for the middle of the video.
//
//   node play.mjs --kiln build/kiln --input 1080p.mp4 [--backend NAME] [--out DIR] [--screenshot FILE]
//                 [--args "--codecs h264,av1 --mp4 720p --thumbnails 2"] [--thumbnails 1]
//   node play.mjs --url http://127.0.0.1:PORT/BUCKET/PREFIX
//                 a ladder published elsewhere (a bucket): the page comes from this script's
//                 server and the media from that origin, so it plays only if the bucket's CORS
//                 rules let it, as in production
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
const remote = args.url ? args.url.replace(/\/+$/, '') : null;
if (!outDir && !remote) {
  scratch = mkdtempSync(join(tmpdir(), 'kiln-play-'));
  outDir = join(scratch, 'ladder');
  const backend = args.backend ? ['--backend', args.backend] : [];
  const extra = args.args ? args.args.split(' ').filter((a) => a) : [];
  execFileSync(args.kiln, ['transcode', args.input, '-o', outDir, '--log-level', 'warn', ...backend, ...extra],
    { stdio: 'inherit' });
}
const result = remote ? await (await fetch(`${remote}/result.json`)).json()
  : JSON.parse(readFileSync(join(outDir, 'result.json'), 'utf8'));
const top = result.detail.outputGroupDetails[0].outputDirectory;
if (args.backend && result.detail.backend !== args.backend) {
  console.error(`expected the ${args.backend} backend to run, result.json says ${result.detail.backend}`);
  process.exit(1);
}
const expected = result.detail.outputGroupDetails[0].outputDetails
  .filter((o) => o.videoDetails)
  .map((o) => ({ name: o.name, width: o.videoDetails.widthInPx, height: o.videoDetails.heightInPx,
    codecs: o.codecs, family: o.codecs.split('.')[0] }));
const mp4s = (result.detail.outputGroupDetails.find((g) => g.type === 'FILE_GROUP') || { outputDetails: [] })
  .outputDetails.map((o) => ({ name: o.name, file: o.outputFilePaths[0].slice(top.length + 1),
    width: o.videoDetails.widthInPx, height: o.videoDetails.heightInPx }));

const libs = {
  '/lib/hls.js': join(here, 'node_modules/hls.js/dist/hls.min.js'),
  '/lib/dash.js': join(here, 'node_modules/dashjs/dist/dash.all.min.js'),
};
const types = { '.m3u8': 'application/vnd.apple.mpegurl', '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4', '.m4s': 'video/iso.segment', '.js': 'text/javascript', '.html': 'text/html',
  '.jpg': 'image/jpeg', '.webp': 'image/webp', '.vtt': 'text/vtt' };
const page = `<!doctype html><html><body><video id="v" muted playsinline width="640"></video>
<script src="/lib/hls.js"></script><script src="/lib/dash.js"></script></body></html>`;

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let file = libs[url.pathname];
  if (url.pathname === '/') { res.writeHead(200, { 'content-type': 'text/html' }); return res.end(page); }
  if (!file && outDir && url.pathname.startsWith('/out/')) {
    file = normalize(join(outDir, url.pathname.slice(5)));
    if (!file.startsWith(outDir)) file = null;
  }
  if (!file || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404); return res.end(); }
  res.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const media = remote || `${base}/out`;

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
  // dash.js: the rendition's index in the current adaptation set as it is now (after a track
  // switch the list is the new set's).
  const dashIndex = () => window.dash.getBitrateInfoListFor('video').findIndex((b) => b.width === width && b.height === height);
  if (player === 'hls') window.hls.currentLevel = index;
  else if (player === 'dash') window.dash.setQualityFor('video', dashIndex(), true);
  const deadline = Date.now() + 30000;
  let from = null, asked = Date.now();
  while (Date.now() < deadline) {
    // Not there after 5 s: choose again, as a viewer would.
    if (player === 'dash' && v.videoWidth !== width && Date.now() - asked > 5000) {
      window.dash.setQualityFor('video', dashIndex(), true);
      asked = Date.now();
    }
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
    }, `${media}/master.m3u8`);
    return p.evaluate(() => hls.levels.map((l) => ({ width: l.width, height: l.height,
      family: (l.videoCodec || '').split('.')[0] })));
  },
  // dash.js plays one video adaptation set (one codec); a player chooses it before playback,
  // so each codec gets a fresh player that selects its set first.
  dash: async (p, family) => {
    await p.evaluate(async ({ src, family }) => {
      const v = document.getElementById('v');
      const start = (settings) => new Promise((ok, fail) => {
        window.dash = dashjs.MediaPlayer().create();
        dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: false } } } });
        dash.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, ok);
        dash.on(dashjs.MediaPlayer.events.ERROR, (e) => fail(new Error(`dash.js: ${JSON.stringify(e.error)}`)));
        dash.initialize(v, null, true);  // initialised first: the initial settings need it
        if (settings) dash.setInitialMediaSettingsFor('video', settings);
        dash.attachSource(src);
      });
      await start(null);
      const track = dash.getTracksFor('video').find((t) => (t.codec || '').includes(family));
      if (!track) throw new Error(`dash.js: no video adaptation set of ${family}`);
      if (dash.getCurrentTrackFor('video') !== track) {
        // Start again with that set chosen from the first segment on, as a player whose
        // preference is this codec would.
        const codec = track.codec;
        dash.reset();
        await start({ codec });
      }
    }, { src: `${media}/manifest.mpd`, family });
    return p.evaluate(() => dash.getBitrateInfoListFor('video').map((b) => ({ width: b.width, height: b.height })));
  },
};

// Codec families a page can play, asked of Chromium itself.
const families = [...new Set(expected.map((e) => e.family))];
let passed = 0, failed = 0;
try {
  const runs = [['hls', null], ...families.map((f) => ['dash', f])];
  for (const [name, family] of runs) {
    const open = players[name];
    const p = await browser.newPage();
    p.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
    await p.goto(base + '/');
    let levels;
    const mine = name === 'dash' ? expected.filter((e) => e.family === family) : expected;
    try {
      const canPlay = await p.evaluate((c) => MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`), mine[0].codecs);
      if (!canPlay && (family === 'hvc1' || family === 'hev1')) {
        console.log(`not playable here: dash ${family}: this Chromium has no HEVC decoder`);
        await p.close();
        continue;
      }
      levels = await open(p, family);
    } catch (e) {
      console.error(`FAIL ${name}: could not start: ${e.message}`);
      failed += mine.length;
      continue;
    }
    const playable = [];
    for (const want of mine) {
      const ok = await p.evaluate((c) => MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`), want.codecs);
      if (ok) playable.push(want);
      else if (want.family === 'hvc1' || want.family === 'hev1')
        console.log(`not playable here: ${name} ${want.name} (${want.codecs}): this Chromium has no HEVC decoder`);
      else { console.error(`FAIL ${name} ${want.name}: Chromium cannot play ${want.codecs}`); failed++; }
    }
    if (name === 'hls' && levels.length !== playable.length) {
      console.error(`FAIL ${name}: player sees ${levels.length} renditions, ${playable.length} are playable here`);
      failed++;
    }
    for (const want of playable) {
      const index = levels.findIndex((l) => l.width === want.width && l.height === want.height &&
        (name === 'dash' || l.family === want.family));
      if (index < 0) { console.error(`FAIL ${name} ${want.name}: not offered by the player`); failed++; continue; }
      const r = await p.evaluate(selectAndPlay, { player: name, index, width: want.width, height: want.height });
      if (r.ok) { passed++; console.log(`ok   ${name} ${want.name} ${want.width}x${want.height} playing at t=${r.t.toFixed(2)}s`); }
      else { failed++; console.error(`FAIL ${name} ${want.name}: ${r.why}`); }
    }
    if (name === 'dash' && args.thumbnails && family === families[0]) {
      // dash.js's storyboard API: the tile for the middle of the video, in a sprite that loads.
      const mid = (result.detail.outputGroupDetails[0].outputDetails[0].durationInMs / 1000) / 2;
      const t = await p.evaluate((at) => new Promise((ok) => {
        dash.provideThumbnail(at, (th) => {
          if (!th) return ok(null);
          const img = new Image();
          img.onload = () => ok({ url: th.url, x: th.x, y: th.y, width: th.width, height: th.height,
            sprite: `${img.naturalWidth}x${img.naturalHeight}` });
          img.onerror = () => ok({ url: th.url, error: 'the sprite did not load' });
          img.src = th.url;
        });
      }), mid);
      const tile = Number(args.thumbnails);
      const wantX = (Math.floor(mid / tile) % 5) * (t ? t.width : 0);
      if (t && !t.error && t.width > 0 && t.x === wantX) {
        passed++;
        console.log(`ok   dash thumbnail at ${mid.toFixed(1)}s: ${t.url} #${t.x},${t.y},${t.width}x${t.height} of ${t.sprite}`);
      } else { failed++; console.error(`FAIL dash thumbnail at ${mid}s: ${JSON.stringify(t)} (x should be ${wantX})`); }
    }
    if (args.screenshot) await p.screenshot({ path: args.screenshot.replace(/(\.png)?$/, `-${name}.png`) });
    await p.close();
  }
  for (const m of mp4s) {
    // A progressive MP4 in a plain <video>, no player library.
    const p = await browser.newPage();
    await p.goto(base + '/');
    const r = await p.evaluate(async ({ src, width, height }) => {
      const v = document.getElementById('v');
      v.src = src;
      await v.play().catch(() => {});
      const deadline = Date.now() + 30000;
      while (Date.now() < deadline) {
        if (v.error) return { ok: false, why: `media error ${v.error.code}` };
        if (v.videoWidth === width && v.currentTime > 1.0) return { ok: true, t: v.currentTime };
        await new Promise((r) => setTimeout(r, 50));
      }
      return { ok: false, why: `saw ${v.videoWidth}x${v.videoHeight} at t=${v.currentTime}` };
    }, { src: `${media}/${m.file}`, width: m.width, height: m.height });
    if (r.ok) { passed++; console.log(`ok   <video> ${m.file} ${m.width}x${m.height} playing at t=${r.t.toFixed(2)}s`); }
    else { failed++; console.error(`FAIL <video> ${m.file}: ${r.why}`); }
    await p.close();
  }
} finally {
  await browser.close();
  server.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

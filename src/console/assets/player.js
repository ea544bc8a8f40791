// The preview player: hls.js for the HLS multivariant playlist, dash.js for the MPD, each
// loaded on demand from the coordinator (pinned copies; no CDN), with a rendition menu.
import { api } from './api.js';

const loaded = new Map();
let settings = null;

async function script(url) {
  if (!loaded.has(url)) {
    loaded.set(url, new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load ${url}`));
      document.head.append(s);
    }));
  }
  return loaded.get(url);
}

async function players() {
  settings ??= await api('/console/settings');
  return settings.players || {};
}

/**
 * Plays `src` of `kind` ('hls' or 'dash') in `video`; `onLevels(levels)` gets [{width, height,
 * bitrate}] once known. Returns {select(index) (-1: automatic), destroy()}.
 */
export async function play(video, kind, src, onLevels) {
  const urls = await players();
  if (kind === 'hls') {
    if (!urls['vendor/hls.min.js']) throw new Error('hls.js is not installed with this coordinator');
    await script(urls['vendor/hls.min.js']);
    if (!window.Hls.isSupported()) throw new Error('this browser cannot play HLS through Media Source Extensions');
    const hls = new window.Hls({ capLevelToPlayerSize: false });
    hls.on(window.Hls.Events.MANIFEST_PARSED, () =>
      onLevels(hls.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate }))));
    hls.loadSource(src);
    hls.attachMedia(video);
    return {
      select(i) {
        const apply = () => { hls.currentLevel = i; if (video.paused) video.play().catch(() => {}); };
        // An immediate switch aborts the fragment in flight and flushes the buffer; before the
        // first fragment is buffered that can leave hls.js with nothing to play (the browser
        // test saw 0x0 at t=0 for 30 s). Before then the switch waits for that fragment.
        if (video.buffered.length) apply(); else hls.once(window.Hls.Events.FRAG_BUFFERED, apply);
      },
      destroy() { hls.destroy(); },
    };
  }
  if (!urls['vendor/dash.all.min.js']) throw new Error('dash.js is not installed with this coordinator');
  await script(urls['vendor/dash.all.min.js']);
  const dash = window.dashjs.MediaPlayer().create();
  dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: true } } } });
  dash.on(window.dashjs.MediaPlayer.events.STREAM_INITIALIZED, () =>
    onLevels(dash.getBitrateInfoListFor('video').map((b) => ({ width: b.width, height: b.height, bitrate: b.bitrate }))));
  dash.initialize(video, src, false);
  return {
    select(i) {
      dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: i < 0 } } } });
      if (i >= 0) dash.setQualityFor('video', i, true);
      if (video.paused) video.play().catch(() => {});
    },
    destroy() { dash.reset(); },
  };
}

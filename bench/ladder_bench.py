#!/usr/bin/env python3
"""Ladder benchmark: kiln vs the ffmpeg CLI doing the same ladder, same settings, same source.

Runs are alternated (kiln, ffmpeg, ffmpeg, kiln, ...) so machine drift hits both alike. For each
tool it reports the median (min-max) wall time, CPU time and peak RSS, the kiln/ffmpeg ratios,
and each rendition's SSIM against a reference (lanczos) downscale of the source.

    bench/ladder_bench.py --kiln build/kiln [--runs 3] [--duration 20] [--work DIR]

The ffmpeg peer is one process: split, two bicubic scales, two libx264 encodes with Kiln's
x264 settings (veryfast, the default ladder's rates, closed 2 s GOPs, no scene-cut keyframes),
AAC, and the dash muxer with hls_playlist=1 (4 s CMAF segments for HLS and DASH).
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, time
from pathlib import Path

LADDER = [  # name, width, height, bitrate, maxrate, bufsize, profile (config/presets/default.toml)
    ("720p", 1280, 720, "3000k", "3300k", "6000k", "high"),
    ("480p", 854, 480, "1200k", "1300k", "2400k", "main"),
]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def make_source(path, seconds):
    if path.exists():
        return
    sh(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={seconds}",
        "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={seconds}", "-ac", "2",
        "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)])


def ffmpeg_cmd(src, out):
    split = "".join(f"[s{i}]" for i in range(len(LADDER)))
    graph = f"[0:v]split={len(LADDER)}{split};" + ";".join(
        f"[s{i}]scale={w}:{h}:flags=bicubic,format=yuv420p,setsar=1[v{i}]" for i, (_, w, h, *_r) in enumerate(LADDER))
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-filter_complex", graph]
    for i in range(len(LADDER)):
        cmd += ["-map", f"[v{i}]"]
    cmd += ["-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60",
            "-x264-params", "scenecut=0:open-gop=0", "-forced-idr", "1",
            "-force_key_frames", "expr:gte(t,n_forced*2)"]
    for i, (_, _, _, b, maxrate, bufsize, profile) in enumerate(LADDER):
        cmd += [f"-b:v:{i}", b, f"-maxrate:v:{i}", maxrate, f"-bufsize:v:{i}", bufsize, f"-profile:v:{i}", profile]
    cmd += ["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
            "-f", "dash", "-seg_duration", "4", "-use_template", "1", "-use_timeline", "1", "-hls_playlist", "1",
            # One adaptation set per stream: dashenc refuses 1280x720 and 854x480 in one set
            # (their aspect ratios differ by rounding).
            "-adaptation_sets", " ".join(f"id={i},streams={i}" for i in range(len(LADDER) + 1)),
            str(out / "manifest.mpd")]
    return cmd


def timed(cmd):
    """Wall seconds, CPU seconds and peak RSS (MiB) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mib": ru.ru_maxrss / 1024}


def concat(parts, dest):
    with open(dest, "wb") as f:
        for p in parts:
            f.write(Path(p).read_bytes())


def ssim(src, rendition_mp4, w, h):
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(rendition_mp4), "-i", str(src), "-lavfi",
         f"[0:v]setpts=PTS-STARTPTS[d];[1:v]zscale=w={w}:h={h}:filter=lanczos,format=yuv420p,setpts=PTS-STARTPTS[r];[d][r]ssim",
         "-f", "null", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stderr
    m = re.search(r"All:([0-9.]+)", out)
    return float(m.group(1)) if m else float("nan")


def kiln_tracks(out):
    return {name: sorted((out / name).glob("seg_*.m4s")) and [out / name / "init.mp4"] + sorted((out / name).glob("seg_*.m4s"))
            for name, *_ in LADDER}


def ffmpeg_tracks(out):
    return {name: [out / f"init-stream{i}.m4s"] + sorted(out.glob(f"chunk-stream{i}-*.m4s"))
            for i, (name, *_r) in enumerate(LADDER)}


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--work", default="bench-out")
    ap.add_argument("--threads", type=int, default=0, help="kiln --threads (per encoder)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"source-1080p30-{a.duration}s.mp4"
    make_source(src, a.duration)
    kiln_out, ff_out = work / "kiln", work / "ffmpeg"
    runs = {"kiln": [], "ffmpeg": []}

    def run_kiln():
        shutil.rmtree(kiln_out, ignore_errors=True)
        cmd = [a.kiln, "transcode", str(src), "-o", str(kiln_out), "--log-level", "warn"]
        if a.threads:
            cmd += ["--threads", str(a.threads)]
        runs["kiln"].append(timed(cmd))

    def run_ffmpeg():
        shutil.rmtree(ff_out, ignore_errors=True)
        ff_out.mkdir()
        runs["ffmpeg"].append(timed(ffmpeg_cmd(src, ff_out)))

    for i in range(a.runs):
        for f in ((run_kiln, run_ffmpeg) if i % 2 == 0 else (run_ffmpeg, run_kiln)):
            f()
            print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)

    report = {"source": str(src), "runs": a.runs, "cores": os.cpu_count(), "tools": {}}
    for tool, tracks in (("kiln", kiln_tracks(kiln_out)), ("ffmpeg", ffmpeg_tracks(ff_out))):
        quality = {}
        for name, w, h, *_ in LADDER:
            mp4 = work / f"{tool}-{name}.mp4"
            concat(tracks[name], mp4)
            quality[name] = ssim(src, mp4, w, h)
        r = runs[tool]
        report["tools"][tool] = {k: summary([x[k] for x in r]) for k in ("wall", "cpu", "rss_mib")}
        report["tools"][tool]["ssim"] = quality
    k, f = report["tools"]["kiln"], report["tools"]["ffmpeg"]
    report["ratios"] = {m: k[m]["median"] / f[m]["median"] for m in ("wall", "cpu", "rss_mib")}

    print(f"source: {src.name} ({a.duration} s 1080p30 + AAC), {a.runs} alternated runs each, {os.cpu_count()} cores")
    print(f"{'tool':8} {'wall s':>18} {'cpu s':>18} {'cores busy':>10} {'peak RSS MiB':>20}   " +
          "  ".join(f"SSIM {n}" for n, *_ in LADDER))
    for tool in ("kiln", "ffmpeg"):
        t = report["tools"][tool]
        fmt = lambda m: f"{t[m]['median']:.2f} ({t[m]['min']:.2f}-{t[m]['max']:.2f})"
        print(f"{tool:8} {fmt('wall'):>18} {fmt('cpu'):>18} {t['cpu']['median'] / t['wall']['median']:>10.2f} "
              f"{fmt('rss_mib'):>20}   " + "  ".join(f"{t['ssim'][n]:.5f}" for n, *_ in LADDER))
    r = report["ratios"]
    print(f"kiln/ffmpeg: wall {r['wall']:.3f} (goal <= 0.80), cpu {r['cpu']:.3f}, peak RSS {r['rss_mib']:.3f} (goal <= 1.0)")
    for n, *_ in LADDER:
        d = k["ssim"][n] - f["ssim"][n]
        print(f"SSIM {n}: kiln - ffmpeg = {d:+.5f} (goal >= -0.002)")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

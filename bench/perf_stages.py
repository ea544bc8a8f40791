#!/usr/bin/env python3
"""Where a ladder's CPU goes, by stage, from a `perf record` of one run.

    perf record -F 499 -o kiln.perf -- build/kiln transcode SRC -o OUT --ladder 1080p,720p,480p,360p
    bench/perf_stages.py kiln.perf [ffmpeg.perf ...]

Samples are grouped by thread name and shared object (and, where one library does several
jobs, by symbol): kiln names each rendition's thread enc-<rung>, and x264's own frame and
lookahead threads inherit that name, so every encoder is a row of its own. The ffmpeg CLI's
threads are all called ffmpeg, so there its x264 instances are one row. Proportions of CPU are
meaningful on a loaded machine (other processes are not in the recording); seconds are not.
"""
import collections, re, subprocess, sys

AUDIO = re.compile(r"aac|psy|quantiz|mdct|tns|lpc|sbr|ff_sine|kbd|swr_|resample|ff_float_dsp|ff_tx|fft", re.I)
FAULTS = re.compile(r"page|fault|clear_|alloc_pages|rmqueue|free_pcp|lru|zap_|unmap|mm_|memcg|folio|pte|pmd|"
                    r"anon|do_wp|release_pages|__free|vma|mmap|brk", re.I)
LOCKS = re.compile(r"futex|sched|schedule|switch|wake|spin_lock|spin_unlock|queued|idle|tick|hrtimer|"
                   r"update_curr|enqueue|dequeue|pick_next|__x64_sys_sched|yield|rcu", re.I)
COPIES = re.compile(r"memcpy|memmove|memset|av_image_copy|copy_plane|frame_copy|av_frame_copy", re.I)
LIBC_LOCKS = re.compile(r"pthread|lll_|futex|sem_|cond_", re.I)
ALLOC = re.compile(r"malloc|free|calloc|realloc|_int_|tcache|arena|posix_memalign|av_buffer", re.I)


def stage(comm, dso, sym, kernel):
    rung = comm[4:] if comm.startswith("enc-") else None
    where = f" {rung}" if rung else ""
    if kernel:
        if FAULTS.search(sym):
            return "kernel: page faults, memory"
        if LOCKS.search(sym):
            return "kernel: scheduling, futex (locks)"
        return "kernel: other (I/O, syscalls)"
    if "x264" in dso:
        return f"x264{where or ' (all instances)'}"
    if "zimg" in dso or "swscale" in dso:
        return f"scale{where or ' (all)'}"
    if "libc" in dso or "ld-linux" in dso or "libstdc++" in dso:
        if COPIES.search(sym):
            return "copies (memcpy/memset)"
        if LIBC_LOCKS.search(sym):
            return "locks (pthread, user side)"
        if ALLOC.search(sym):
            return "allocation (malloc/free)"
        return "libc other"
    if "swresample" in dso:
        return "audio: AAC encode + resample"
    if "avcodec" in dso:
        if AUDIO.search(sym):
            return "audio: AAC encode + resample"
        if rung:
            return f"libavcodec in enc{where} (encoder wrapper)"
        # Debian's libavcodec has no symbols for its internals: H.264 decode and the AAC
        # encoder share this row (measure them apart with the ffmpeg CLI, see RESULTS.md).
        return "libavcodec: H.264 decode + AAC encode"
    if "avfilter" in dso or "avutil" in dso:
        if COPIES.search(sym):
            return "copies (memcpy/memset)"
        if ALLOC.search(sym):
            return "allocation (malloc/free)"
        return f"filters/avutil{where}"
    if "avformat" in dso:
        return "demux + packaging (libavformat)"
    if dso.startswith("kiln") or dso == "ffmpeg":
        return "packaging + pipeline (own code)"
    return f"other ({dso})"


def table(path):
    out = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "-q", "--percent-limit", "0",
                          "--sort", "comm,dso,sym", "-F", "sample,comm,dso,sym"],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    groups = collections.Counter()
    total = 0.0
    for line in out.splitlines():
        m = re.match(r"\s*([0-9]+)\s+(\S+)\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if not m:
            continue
        n, comm, dso, kind, sym = int(m[1]), m[2], m[3], m[4], m[5].strip()
        groups[stage(comm, dso, sym, kind == "k" or dso.startswith("[kernel"))] += n
        total += n
    return {k: 100.0 * v / total for k, v in groups.items()}, total


def main():
    paths = sys.argv[1:]
    if not paths:
        sys.exit(__doc__)
    results = [table(p) for p in paths]
    names = sorted({k for g, _ in results for k in g}, key=lambda k: -max(g.get(k, 0) for g, _ in results))
    print("| stage | " + " | ".join(paths) + " |")
    print("| --- |" + " --- |" * len(paths))
    for k in names:
        print(f"| {k} | " + " | ".join(f"{g.get(k, 0):.1f}%" for g, _ in results) + " |")
    print("| (samples) | " + " | ".join(f"{t:.0f}" for _, t in results) + " |")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Seeds for the mutation campaign (tests/fuzz): one short clip in every container Kiln accepts,
# made with the ffmpeg CLI into $1. Each line is the exact command; nothing binary is committed.
set -euo pipefail
out=${1:?usage: make_seeds.sh OUTDIR}
mkdir -p "$out"
cd "$out"
[[ -f .complete ]] && exit 0
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
# -fflags +bitexact on every output (below): no random UIDs or dates, so a case (seed file, zzuf
# seed, ratio) is the same bytes on every machine with the same FFmpeg.
v="testsrc2=s=320x240:r=25:d=1.6"
a="sine=f=440:r=48000:d=1.6"
h264=(-c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 12)
# MP4 with the index last and first, MOV, Matroska, MPEG-TS, FLV: H.264 + AAC.
ff -f lavfi -i "$v" -f lavfi -i "$a" "${h264[@]}" -c:a aac -shortest -fflags +bitexact moov_last.mp4
ff -i moov_last.mp4 -c copy -movflags +faststart -fflags +bitexact moov_first.mp4
ff -i moov_last.mp4 -c copy -fflags +bitexact clip.mov
ff -i moov_last.mp4 -c copy -fflags +bitexact clip.mkv
ff -i moov_last.mp4 -c copy -fflags +bitexact clip.ts
ff -i moov_last.mp4 -c copy -fflags +bitexact clip.flv
# WebM: VP9 + Opus. MPEG-PS: MPEG-2 + MP2. AVI: MPEG-4 part 2 + MP2.
ff -f lavfi -i "$v" -f lavfi -i "$a" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -g 12 \
   -c:a libopus -shortest -fflags +bitexact clip.webm
ff -f lavfi -i "$v" -f lavfi -i "$a" -c:v mpeg2video -b:v 1M -g 12 -c:a mp2 -shortest -fflags +bitexact -f vob clip.mpg
ff -f lavfi -i "$v" -f lavfi -i "$a" -c:v mpeg4 -q:v 4 -g 12 -c:a mp2 -shortest -fflags +bitexact clip.avi
touch .complete

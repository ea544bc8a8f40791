#!/usr/bin/env bash
# Seeds for the mutation campaign (tests/fuzz): one short clip in every container Kiln accepts,
# and one picture in every image format, made with the ffmpeg and vips CLIs into $1. Each line is the exact command; nothing binary is committed.
set -euo pipefail
out=${1:?usage: make_seeds.sh OUTDIR}
mkdir -p "$out"
cd "$out"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
# Images (each becomes an image job), with a marker of their own: one 320x240 picture in every
# format Kiln reads; the vips CLI makes AVIF and HEIF.
if [[ ! -f .images-complete ]]; then
  ff -f lavfi -i "testsrc2=s=320x240:r=1:d=1" -frames:v 1 -q:v 4 -fflags +bitexact image.jpg
  ff -f lavfi -i "testsrc2=s=320x240:r=1:d=1" -frames:v 1 -fflags +bitexact image.png
  ff -f lavfi -i "testsrc2=s=320x240:r=1:d=1" -frames:v 1 -c:v libwebp -fflags +bitexact image.webp
  ff -f lavfi -i "testsrc2=s=320x240:r=1:d=1" -frames:v 1 -fflags +bitexact image.gif
  ff -f lavfi -i "testsrc2=s=320x240:r=1:d=1" -frames:v 1 -c:v tiff -pix_fmt rgb24 -fflags +bitexact image.tiff
  vips heifsave image.png image.avif --compression av1
  vips heifsave image.png image.heic --compression hevc
  touch .images-complete
fi
[[ -f .complete ]] && exit 0
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

#!/usr/bin/env bash
# Generates every input the integration tests use, with the ffmpeg CLI, into $1.
# Each line below is the exact command that made a fixture; nothing binary is committed.
set -euo pipefail
out=${1:?usage: make_media.sh OUTDIR}
mkdir -p "$out"
cd "$out"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
src() { echo "testsrc2=s=$1:r=$2:d=$3"; }
tone() { echo "sine=f=440:r=48000:d=$1"; }

# Images (tests/pipeline/image_job_test.cpp, tests/service/image_job_test.cpp), in images/,
# with a marker of their own. ffmpeg makes what it can; the vips CLI (libvips-tools) makes
# AVIF, HEIF, CMYK and an ICC profile; exiftool (libimage-exiftool-perl) writes EXIF and XMP.
make_images() (
  mkdir -p images && cd images
  pic() { echo "testsrc2=s=$1:r=1:d=1"; }
  # One 1000x750 picture in every format Kiln reads.
  ff -f lavfi -i "$(pic 1000x750)" -frames:v 1 -q:v 3 image.jpg
  ff -f lavfi -i "$(pic 1000x750)" -frames:v 1 image.png
  ff -f lavfi -i "$(pic 1000x750)" -frames:v 1 -c:v libwebp image.webp
  ff -f lavfi -i "$(pic 1000x750)" -frames:v 1 image.gif
  ff -f lavfi -i "$(pic 1000x750)" -frames:v 1 -c:v tiff -pix_fmt rgb24 image.tiff
  vips heifsave image.png image.avif --compression av1
  vips heifsave image.png image.heic --compression hevc
  # A camera photo, 2400x1600, with libvips' sRGB ICC profile, camera, capture time, GPS, an
  # artist and XMP (which repeats the position): the outputs must keep only the profile.
  ff -f lavfi -i "$(pic 2400x1600)" -frames:v 1 -q:v 3 photo_plain.jpg
  vips icc_transform photo_plain.jpg photo.jpg srgb
  exiftool -q -overwrite_original -Make=KilnCam -Model="K-1 Mark II" -DateTimeOriginal="2023:06:01 12:34:56" \
     -OffsetTimeOriginal=+02:00 -GPSLatitude=48.8584 -GPSLatitudeRef=N -GPSLongitude=2.2945 -GPSLongitudeRef=E \
     -Artist="Jane Doe" -XMP-dc:Creator="Jane Doe" -XMP-exif:GPSLatitude="48.8584 N" photo.jpg
  # A phone photo stored 1200x800 on its side (EXIF orientation 6: rotate 90 clockwise), blue
  # with a red square in the stored top-left corner, which is the top right once upright.
  ff -f lavfi -i "color=c=blue:s=1200x800,drawbox=x=0:y=0:w=200:h=200:color=red:t=fill" -frames:v 1 -q:v 2 rotated.jpg
  exiftool -q -overwrite_original -Orientation#=6 -Make=KilnCam -Model="K-1 Mark II" \
     -DateTimeOriginal="2023:06:01 12:34:56" -GPSLatitude=48.8584 -GPSLatitudeRef=N -XMP-dc:Creator="Jane Doe" rotated.jpg
  # Smaller than every default width: one set at 200 wide, never upscaled.
  ff -f lavfi -i "$(pic 200x150)" -frames:v 1 small.png
  # 16-bit RGBA, half-transparent red: JPEG outputs are flattened onto white.
  ff -f lavfi -i "color=c=red:s=400x300,format=rgba64be,colorchannelmixer=aa=0.5" -frames:v 1 -pix_fmt rgba64be alpha16.png
  # CMYK (print work), through libvips' CMYK profile.
  vips icc_export image.png cmyk.jpg --output-profile cmyk
  # 6000x6000 (36 MP, under the pixel limit): 103 MiB decoded, past a 100 MiB memory ceiling.
  vips black big.png 6000 6000 --bands 3
  # Bad images. Cut in half; a PNG declaring 30000x30000 1-bit pixels (900 MP) in 110 KB, a
  # decompression bomb; text named .jpg; zero bytes named .png.
  head -c $(( $(stat -c %s photo.jpg) / 2 )) photo.jpg > truncated.jpg
  python3 -c '
import struct, zlib
w = h = 30000
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
c = zlib.compressobj(9)
row = bytes(1 + w // 8)
idat = b"".join(c.compress(row) for _ in range(h)) + c.flush()
open("bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
                             + chunk(b"IDAT", idat) + chunk(b"IEND", b""))'
  echo "These are meeting notes, not a photo." > notes.jpg
  : > empty.png
  rm -f photo_plain.jpg
  touch .complete
)
if [[ ! -f images/.complete ]]; then make_images; fi

[[ -f .complete && -f console_10s.mp4 ]] && exit 0

# 1080p30 H.264 + stereo AAC, 6 s: the main ladder case.
ff -f lavfi -i "$(src 1920x1080 30 6)" -f lavfi -i "$(tone 6)" -ac 2 \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest 1080p.mp4
# PAL 720x576 anamorphic 16:9 (SAR 64:45): the output must be square-pixel 16:9.
ff -f lavfi -i "$(src 720x576 25 4)" -f lavfi -i "$(tone 4)" \
   -vf setsar=64/45 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest anamorphic.mp4
# Odd dimensions, smaller than every rung: one rendition at the source size (even).
ff -f lavfi -i "$(src 641x363 30 3)" -f lavfi -i "$(tone 3)" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest odd.mp4
# A phone video: stored landscape 1280x720, display matrix says rotate 90 -> portrait.
# (FFmpeg 5.1 writes the matrix from the rotate tag only when stream-copying.)
ff -f lavfi -i "$(src 1280x720 30 3)" -f lavfi -i "$(tone 3)" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest landscape.mp4
ff -i landscape.mp4 -c copy -metadata:s:v:0 rotate=90 rotated.mp4
# No audio at all.
ff -f lavfi -i "$(src 1280x720 30 3)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p noaudio.mp4
# 5.1 audio (downmixed to stereo in the ladder).
ff -f lavfi -i "$(src 1280x720 30 3)" -f lavfi -i "$(tone 3)" -af "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest surround51.mp4
# 10-bit 4:2:2 H.264 (High 4:2:2): converted to 8-bit 4:2:0.
ff -f lavfi -i "$(src 1280x720 30 3)" -f lavfi -i "$(tone 3)" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv422p10le -c:a aac -shortest 10bit422.mp4
# Variable frame rate: 30 fps for 1 s, then every third frame, in Matroska (1 ms timestamps).
ff -f lavfi -i "$(src 1280x720 30 4)" -f lavfi -i "$(tone 4)" \
   -vf "select='lt(t\,1)+not(mod(n\,3))'" -fps_mode vfr \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest vfr.mkv
# Interlaced MPEG-2 (top field first) with MP2 audio in MPEG-TS: deinterlaced.
ff -f lavfi -i "$(src 720x576 50 4)" -f lavfi -i "$(tone 4)" \
   -vf "tinterlace=interleave_top,setsar=16/15,setfield=tff" -c:v mpeg2video -b:v 6M -flags +ilme+ildct -top 1 \
   -c:a mp2 -shortest interlaced.ts
# VP9 + Opus in WebM.
ff -f lavfi -i "$(src 1280x720 30 3)" -f lavfi -i "$(tone 3)" \
   -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 1M -c:a libopus -shortest vp9.webm
# HEVC + AAC in Matroska.
ff -f lavfi -i "$(src 1280x720 30 3)" -f lavfi -i "$(tone 3)" \
   -c:v libx265 -preset ultrafast -x265-params log-level=error -c:a aac -shortest hevc.mkv
# A 480p source: gets one 480p rendition, never an upscaled 720p.
ff -f lavfi -i "$(src 854x480 30 3)" -f lavfi -i "$(tone 3)" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest 480p.mp4
# Audio starting 0.5 s after the video (must stay in sync, padded at the start).
ff -f lavfi -i "$(src 1280x720 30 4)" -f lavfi -i "$(tone 3.5)" -af "adelay=500:all=1" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac late_audio.mp4
# Isolated damage mid-stream: 3 KiB of random bytes at 30%, 50% and 70% of a TS file.
ff -i 1080p.mp4 -c copy corrupt_mid.ts
size=$(stat -c %s corrupt_mid.ts)
for pct in 30 50 70; do
  head -c 3000 /dev/urandom | dd of=corrupt_mid.ts bs=1 seek=$(( size * pct / 100 / 188 * 188 + 4 )) conv=notrunc status=none
done

# Hostile but playable (tests/pipeline/hostile_media_test.cpp): each must publish a ladder.
# A broadcast splice: two 3 s TS captures back to back, the second's clock 90 s ahead.
ff -f lavfi -i "$(src 640x360 25 3)" -f lavfi -i "$(tone 3)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -g 25 -c:a aac -shortest -output_ts_offset 10 jump_a.ts
ff -f lavfi -i "$(src 640x360 25 3)" -f lavfi -i "$(tone 3)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -g 25 -c:a aac -shortest -output_ts_offset 100 jump_b.ts
cat jump_a.ts jump_b.ts > ts_jump.ts
# The 33-bit MPEG-TS clock wrapping around 1.3 s in (2^33 / 90 kHz = 95443.7 s).
ff -f lavfi -i "$(src 640x360 25 6)" -f lavfi -i "$(tone 6)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -g 25 -c:a aac -shortest -output_ts_offset 95441 ts_wrap.ts
# A junk sample aspect ratio (x264 stores 100:1 for the 32767:1 asked): treated as square.
ff -f lavfi -i "$(src 640x360 25 3)" -f lavfi -i "$(tone 3)" -vf setsar=32767/1 \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest absurd_sar.mp4
# One second of audio missing mid-stream (aselect keeps the timestamps): audio must stay in sync.
ff -f lavfi -i "$(src 640x360 25 3)" -f lavfi -i "$(tone 3)" -af "aselect='not(between(t,1,2))'" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac audio_gap.mkv
# The picture size changes mid-stream: 640x360, then 480x272 (two TS captures back to back).
ff -f lavfi -i "$(src 640x360 25 3)" -f lavfi -i "$(tone 3)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -g 25 -c:a aac -shortest size_a.ts
ff -f lavfi -i "$(src 480x272 25 3)" -f lavfi -i "$(tone 3)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -g 25 -c:a aac -shortest -output_ts_offset 3 size_b.ts
cat size_a.ts size_b.ts > size_change.ts
# ... and to an odd size 4:2:0 cannot hold (321x241 MJPEG frames after 640x360 ones).
ff -f lavfi -i "$(src 640x360 25 2)" -c:v mjpeg -pix_fmt yuvj420p -q:v 5 odd_a.mkv
ff -f lavfi -i "$(src 322x242 25 2)" -vf scale=321:241 -c:v mjpeg -pix_fmt yuvj420p -q:v 5 odd_b.mkv
printf "file '%s'\n" "$PWD/odd_a.mkv" "$PWD/odd_b.mkv" > odd.txt
ff -f concat -safe 0 -i odd.txt -f lavfi -i "$(tone 4)" -c:v copy -c:a aac -shortest odd_size_change.mkv
rm -f jump_a.ts jump_b.ts size_a.ts size_b.ts odd_a.mkv odd_b.mkv odd.txt

# Bad inputs.
: > empty.mp4
echo "These are meeting notes, not a video." > notes.txt
head -c 200000 /dev/urandom > random.mp4
ff -f lavfi -i "$(tone 3)" -c:a aac audio_only.m4a
head -c $(( $(stat -c %s 1080p.mp4) / 2 )) 1080p.mp4 > truncated.mp4           # moov is at the end: gone
ff -i 1080p.mp4 -c copy -movflags +faststart faststart.mp4
head -c $(( $(stat -c %s faststart.mp4) / 2 )) faststart.mp4 > truncated_faststart.mp4  # index points past EOF
ff -f lavfi -i "$(src 320x240 30 2)" -c:v qtrle unsupported_codec.mov
ff -f lavfi -i "$(src 1280x720 30 2)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
   -bsf:v noise=amount=1 undecodable.mkv
# The web console's upload (tests/console/): 10 s 854x480 H.264 + AAC, ~1.7 MB, so a 256 KiB tus
# chunk size gives several PATCHes to cut one of.
ff -f lavfi -i "$(src 854x480 30 10)" -f lavfi -i "$(tone 10)" -ac 2 \
   -c:v libx264 -preset veryfast -b:v 1200k -pix_fmt yuv420p -c:a aac -shortest console_10s.mp4
# 20 s 1080p: long enough to interrupt mid-job.
ff -f lavfi -i "$(src 1920x1080 30 20)" -f lavfi -i "$(tone 20)" \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest long.mp4
rm -f landscape.mp4
touch .complete

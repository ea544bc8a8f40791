#!/usr/bin/env bash
# Object storage against local files and against rclone, on one S3 server on loopback (s3rver,
# tests/storage/s3rver, installed by `scripts/install-deps --test`), in one run:
#
#  1. the same ladder (the 20 s 1080p source, the default preset) from a local file into a local
#     directory, and from an object in one bucket into another bucket (`kiln transcode s3://...
#     -o s3://...`: staging download, encode, ordered upload), each RUNS times interleaved;
#     the ratio of median wall times is the cost of the buckets. This is the object-created ->
#     published-in-bucket time minus the event's trip to the coordinator and the claim. A third
#     leg reads the input through a presigned URL instead of staging it (--stream-input always).
#  2. raw transfers of a SIZE MiB file of random bytes: `kiln storage cp` up and down against
#     `rclone copyto` (Debian's rclone, an S3 remote with the same endpoint and keys), RUNS
#     times each, interleaved; ratios of median rates (kiln / rclone, > 1: kiln is faster).
#     rclone runs twice: with its defaults (below 200 MiB it uploads with one PUT, above in
#     5 MiB parts, 4 at once) and with kiln's settings (8 MiB parts, 4 at once), since s3rver
#     assembles a multipart object by copying it again, which a single PUT does not pay.
#
#   bench/s3_bench.sh [--runs N] [--size MiB] [--duration SECONDS]      (after scripts/build)
#
# s3rver is a Node.js server writing every object to disk: it, not the client, is usually what
# limits the absolute rates here; the ratios compare two clients against the same server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=${KILN_BUILD:-$root/build}/kiln
runs=3 size=256 duration=20   # 256 MiB: above rclone's 200 MiB single-PUT cutoff
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--size MiB] [--duration SECONDS]" >&2; exit 2 ;;
  esac
done
command -v rclone >/dev/null || { echo "rclone is not installed (apt install rclone)" >&2; exit 2; }
[[ -d $root/tests/storage/s3rver/node_modules/@20minutes/s3rver ]] ||
  { echo "s3rver is not installed (scripts/install-deps --test)" >&2; exit 2; }

work=$(mktemp -d /tmp/kiln-s3-bench-XXXXXX)
server=
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
node --openssl-legacy-provider "$root/tests/storage/s3rver/launch.js" --dir "$work/s3" --port-file "$work/port" \
  --bucket bench-in --bucket bench-out >"$work/s3rver.log" 2>&1 &
server=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
port=$(cat "$work/port")
endpoint=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$endpoint
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENDPOINT=$endpoint \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3RVER RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3RVER \
  RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true RCLONE_CONFIG_BENCH_REGION=us-east-1
# rclone's AWS SDK refuses a plain-HTTP endpoint when a CA bundle is named in the environment.
rclone() { env -u AWS_CA_BUNDLE rclone --config /dev/null "$@"; }

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
seconds() {
  local t0; t0=$(now)
  "$@" >/dev/null 2>>"$work/errors.log" || { echo "failed: $*" >&2; tail -5 "$work/errors.log" >&2; exit 1; }
  echo "$(now) - $t0" | bc -l
}

echo "s3rver on $endpoint; $runs runs each; machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. The ladder: local files against buckets.
ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "testsrc2=s=1920x1080:r=30:d=$duration" \
  -f lavfi -i "sine=f=440:r=48000:d=$duration" -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p \
  -c:a aac -b:a 128k -shortest "$work/src.mp4"
"$kiln" storage cp "$work/src.mp4" s3://bench-in/uploads/src.mp4 >/dev/null
: >"$work/local" && : >"$work/bucket" && : >"$work/streamed"
for i in $(seq "$runs"); do
  seconds "$kiln" transcode "$work/src.mp4" -o "$work/out-$i" --log-level warn >>"$work/local"
  seconds "$kiln" transcode s3://bench-in/uploads/src.mp4 -o "s3://bench-out/run$i/" --scratch-dir "$work" \
    --log-level warn >>"$work/bucket"
  seconds "$kiln" transcode s3://bench-in/uploads/src.mp4 -o "s3://bench-out/stream$i/" --scratch-dir "$work" \
    --stream-input always --log-level warn >>"$work/streamed"
  rm -rf "$work/out-$i"
done
local_s=$(median <"$work/local") bucket_s=$(median <"$work/bucket") streamed_s=$(median <"$work/streamed")
printf 'ladder %ss 1080p, local file -> local dir:  median %.2f s (%s)\n' "$duration" "$local_s" "$(sort -g "$work/local" | tr '\n' ' ')"
printf 'ladder %ss 1080p, bucket -> bucket:         median %.2f s (%s)\n' "$duration" "$bucket_s" "$(sort -g "$work/bucket" | tr '\n' ' ')"
printf 'ladder %ss 1080p, bucket -> bucket streamed: median %.2f s (%s)\n' "$duration" "$streamed_s" "$(sort -g "$work/streamed" | tr '\n' ' ')"
printf 'bucket / local: %.3fx   (goal <= 1.15); streamed / local: %.3fx\n' "$(echo "$bucket_s / $local_s" | bc -l)" \
  "$(echo "$streamed_s / $local_s" | bc -l)"

# 2. Raw transfers: kiln's client against rclone.
head -c "$((size * 1024 * 1024))" /dev/urandom >"$work/blob"
for f in kiln_up kiln_down rclone_up rclone_down rclone8_up; do : >"$work/$f"; done
for i in $(seq "$runs"); do
  seconds "$kiln" storage cp "$work/blob" "s3://bench-out/blob/kiln-$i" >>"$work/kiln_up"
  seconds rclone copyto "$work/blob" "bench:bench-out/blob/rclone-$i" >>"$work/rclone_up"
  seconds rclone --s3-upload-cutoff 8M --s3-chunk-size 8M --s3-upload-concurrency 4 \
    copyto "$work/blob" "bench:bench-out/blob/rclone8-$i" >>"$work/rclone8_up"
  seconds "$kiln" storage cp "s3://bench-out/blob/kiln-$i" "$work/down-kiln" >>"$work/kiln_down"
  seconds rclone copyto "bench:bench-out/blob/rclone-$i" "$work/down-rclone" >>"$work/rclone_down"
  cmp -s "$work/blob" "$work/down-kiln" || { echo "kiln's download differs from the upload" >&2; exit 1; }
  cmp -s "$work/blob" "$work/down-rclone" || { echo "rclone's download differs from the upload" >&2; exit 1; }
  rm -f "$work/down-kiln" "$work/down-rclone"
done
for dir in up down; do
  k=$(median <"$work/kiln_$dir") r=$(median <"$work/rclone_$dir")
  printf '%-4s %s MiB: kiln %.2f s (%.0f MiB/s), rclone %.2f s (%.0f MiB/s): kiln / rclone rate %.3fx   (goal >= 0.9)\n' \
    "$dir" "$size" "$k" "$(echo "$size / $k" | bc -l)" "$r" "$(echo "$size / $r" | bc -l)" "$(echo "$r / $k" | bc -l)"
done
k=$(median <"$work/kiln_up") r=$(median <"$work/rclone8_up")
printf 'up   %s MiB, rclone with kiln'"'"'s parts (8 MiB, 4 at once): rclone %.2f s (%.0f MiB/s): kiln / rclone rate %.3fx\n' \
  "$size" "$r" "$(echo "$size / $r" | bc -l)" "$(echo "$r / $k" | bc -l)"
if [[ -s $work/errors.log ]]; then echo "--- stderr of the timed commands:"; tail -20 "$work/errors.log"; fi

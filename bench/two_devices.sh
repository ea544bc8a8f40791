#!/usr/bin/env bash
# kiln bench --mode sweep on two devices that run without a GPU: the CPU VA driver built by the
# tests behind two fake render nodes (the libdrm shim), placed on the two NUMA nodes of
# tests/accel/fixtures/2s-2numa-2flex.xml, as in the node's six-job test. Both devices share
# this machine's CPUs, so their sum is what the CPU can do, not two GPUs' worth.
#   bench/two_devices.sh [kiln bench options...]    (after scripts/build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KILN_BUILD:-$root/build}
nodes=$(mktemp -d /tmp/kiln-two-devices-XXXXXX)
trap 'rm -rf "$nodes"' EXIT
: >"$nodes/renderD128"
: >"$nodes/renderD129"
export LD_PRELOAD=$build/tests/libkiln_fake_drm.so
export KILN_FAKE_VA_NODES=$nodes/renderD128=0000:4d:00.0,$nodes/renderD129=0000:ca:00.0
export LIBVA_DRIVERS_PATH=$build/tests LIBVA_DRIVER_NAME=kiln_cpu
export HWLOC_XMLFILE=$root/tests/accel/fixtures/2s-2numa-2flex.xml
"$build/kiln" bench --mode sweep --devices vaapi --recommend "$@" 2> >(grep -v '^MESA' >&2)

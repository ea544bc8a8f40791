#!/usr/bin/env bash
# The shipped systemd units are valid and hardened:
#   units_test.sh verify   UNIT KILN_BINARY      systemd-analyze verify prints nothing
#   units_test.sh security UNIT MAX_EXPOSURE     the offline exposure score is <= MAX_EXPOSURE
# verify runs on a copy whose ExecStart= points at the built binary (the unit names
# /usr/bin/kiln, which exists only once the .deb is installed), so that check stays real.
set -euo pipefail
mode=$1 unit=$2
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: apt-get install systemd (scripts/install-deps --test)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

case $mode in
verify)
  kiln=$3
  name=$(basename "$unit")
  sed "s|/usr/bin/kiln |$kiln |" "$unit" > "$work/$name"
  grep -q "^ExecStart=$kiln " "$work/$name" || { echo "FAIL: $name has no ExecStart=/usr/bin/kiln ..."; exit 1; }
  # verify exits 0 on unknown keys and bad values; any message at all is a failure.
  out=$(cd "$work" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify "./$name" 2>&1) || { echo "$out"; echo "FAIL: verify exit status"; exit 1; }
  if [[ -n "$out" ]]; then echo "$out"; echo "FAIL: systemd-analyze verify $name complained"; exit 1; fi
  echo "OK: systemd-analyze verify $name: no messages"
  ;;
security)
  max=$3
  out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || true
  score=$(sed -n 's/.*Overall exposure level for .*: \([0-9][0-9.]*\) .*/\1/p' <<<"$out")
  if [[ -z "$score" ]]; then echo "$out"; echo "FAIL: no exposure score in the output"; exit 1; fi
  # Anything systemd-analyze did not understand would silently not count: refuse it.
  if grep -qi 'unknown key\|failed to parse\|invalid' <<<"$out"; then echo "$out"; echo "FAIL: parse messages"; exit 1; fi
  grep '^✗' <<<"$out" || true
  echo "$(basename "$unit"): exposure $score (limit $max)"
  awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || { echo "FAIL: exposure $score > $max"; exit 1; }
  ;;
*) echo "usage: $0 verify UNIT KILN | security UNIT MAX"; exit 2 ;;
esac

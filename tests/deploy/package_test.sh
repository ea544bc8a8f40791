#!/usr/bin/env bash
# The .deb installs and works: package_test.sh BUILD_DIR VERSION
# Builds the package with CPack from the already built tree (what `--target package` does,
# without rebuilding `all`), installs it with dpkg -i (twice: the second run takes the
# maintainer scripts' upgrade path), runs the installed kiln, checks the user, groups, files
# and conffiles, verifies the installed units, then removes and purges it again.
# Needs root (dpkg): exits 77 (skipped) otherwise. CI runs as root on a throwaway machine.
set -euo pipefail
build=$1 version=$2

if [[ $(id -u) -ne 0 ]]; then echo "SKIP: installing a .deb needs root (CI runs the tests as root)"; exit 77; fi
command -v dpkg >/dev/null || { echo "SKIP: no dpkg here (not Debian)"; exit 77; }
marker=/var/lib/kiln-package-test.installed
if dpkg-query -W -f='${Status}' kiln 2>/dev/null | grep -q 'ok installed' && [[ ! -e $marker ]]; then
  echo "SKIP: a kiln package this test did not install is present; not replacing it"; exit 77
fi

# One package test at a time on this machine (dpkg has one lock; other checkouts run this too).
exec 9>/run/lock/kiln-package-test.lock
flock -w 600 9

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

step "cpack"
(cd "$build" && cpack -G DEB -B "$work" --config CPackConfig.cmake) > "$work/cpack.log" 2>&1 \
  || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/kiln_"$version"_*.deb) || fail "no kiln_${version}_*.deb in $(ls "$work")"
dpkg-deb -c "$deb"

for round in install reinstall; do
  step "dpkg -i ($round)"
  touch "$marker"
  dpkg -i "$deb" || fail "dpkg -i ($round)"
  dpkg-query -W -f='${Status}\n' kiln | grep -q 'install ok installed' || fail "kiln not installed"
done

step "installed kiln"
out=$(/usr/bin/kiln --version) || fail "kiln --version"
echo "$out"; [[ $out == "kiln $version" ]] || fail "kiln --version said '$out', want 'kiln $version'"
# As the service user: the software backend at least, GPUs where the machine has them.
setpriv --reuid kiln --regid kiln --init-groups /usr/bin/kiln devices || fail "kiln devices as user kiln"

step "user, groups, files"
getent passwd kiln || fail "no user kiln"
getent group kiln >/dev/null || fail "no group kiln"
getent group render >/dev/null || fail "no group render"
groups=$(id -nG kiln); echo "kiln groups: $groups"
grep -qw render <<<"$groups" || fail "kiln is not in group render"
grep -qw video <<<"$groups" && fail "kiln is in group video (render is all the node needs)"
[[ $(stat -c %U:%G:%a /var/lib/kiln) == kiln:kiln:750 ]] || fail "/var/lib/kiln is $(stat -c %U:%G:%a /var/lib/kiln)"
[[ $(stat -c %U:%G:%a /etc/kiln/node.toml) == root:kiln:640 ]] || fail "/etc/kiln/node.toml is $(stat -c %U:%G:%a /etc/kiln/node.toml)"
setpriv --reuid kiln --regid kiln --init-groups test -r /etc/kiln/coordinator.toml || fail "kiln cannot read its config"
conf=$(dpkg-query -W -f='${Conffiles}\n' kiln); echo "conffiles:$conf"
for f in /etc/kiln/node.toml /etc/kiln/coordinator.toml /etc/kiln/presets/default.toml; do
  grep -q "^ $f " <<<"$conf" || fail "$f is not a conffile"
done
for f in /usr/lib/systemd/system/kiln-node.service /usr/lib/systemd/system/kiln-coordinator.service \
         /usr/lib/udev/rules.d/70-kiln.rules /usr/share/doc/kiln/README.md \
         /usr/share/doc/kiln/examples/kiln-alerts.yml /usr/share/doc/kiln/examples/kiln-dashboard.json \
         /usr/share/kiln/console/index.html /usr/share/kiln/console/app.js \
         /usr/share/kiln/console/vendor/hls.min.js /usr/share/kiln/console/vendor/dash.all.min.js; do
  [[ -f $f ]] || fail "$f missing"
done
# The installed binary finds the console's files beside it (../share/kiln/console).
grep -q "hls.js" /usr/share/kiln/console/vendor/hls.min.js || fail "vendor/hls.min.js is not hls.js"
if command -v systemd-analyze >/dev/null; then
  for u in kiln-node kiln-coordinator; do
    msg=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify /usr/lib/systemd/system/$u.service 2>&1) || fail "verify $u: $msg"
    [[ -z $msg ]] || fail "verify installed $u.service: $msg"
  done
  echo "installed units verify cleanly"
fi

step "dpkg -r: binary gone, configs and user kept"
dpkg -r kiln || fail "dpkg -r"
[[ ! -e /usr/bin/kiln ]] || fail "/usr/bin/kiln left after remove"
[[ ! -e /usr/share/kiln/console ]] || fail "/usr/share/kiln/console left after remove"
[[ -f /etc/kiln/node.toml ]] || fail "remove deleted the conffile /etc/kiln/node.toml"
step "dpkg -P: configs and /var/lib/kiln gone, user kept"
dpkg -P kiln || fail "dpkg -P"
[[ ! -e /etc/kiln ]] || fail "/etc/kiln left after purge: $(ls -R /etc/kiln)"
[[ ! -e /var/lib/kiln ]] || fail "/var/lib/kiln left after purge"
getent passwd kiln >/dev/null || fail "purge removed user kiln"
rm -f "$marker"
echo "OK"

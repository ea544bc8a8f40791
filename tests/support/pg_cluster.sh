#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on loopback with a free port.
#   pg_cluster.sh start DIR   initdb + start; writes the connection URL to DIR/url
#   pg_cluster.sh stop DIR    stops it and removes DIR
#   pg_cluster.sh down DIR    stops the server, keeps the cluster (an outage, for the tests)
#   pg_cluster.sh up DIR      starts it again after `down`, on the same port
# PostgreSQL refuses to run as root: as root, the cluster runs as the postgres user.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x "$pgbin/initdb" ]] || { echo "pg_cluster: PostgreSQL server binaries not found (apt install postgresql)" >&2; exit 1; }
as_owner() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $cmd in
  start)
    if [[ -f "$dir/url" ]] && as_owner "$pgbin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then exit 0; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$pgbin/initdb" -D "$dir/data" -U kiln --auth=trust -E UTF8 --no-locale >"$dir/initdb.log"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null
    echo "postgresql://kiln@127.0.0.1:$port/postgres" >"$dir/url.tmp"
    mv "$dir/url.tmp" "$dir/url"
    echo "pg_cluster: $(cat "$dir/url")"
    ;;
  stop)
    [[ -d "$dir/data" ]] && as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
  down)
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  up)
    port=$(sed -E 's|.*:([0-9]+)/.*|\1|' "$dir/url")
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null
    ;;
  restart)
    as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
    ;;
  *) echo "usage: pg_cluster.sh start|stop|down|up|restart DIR" >&2; exit 2 ;;
esac

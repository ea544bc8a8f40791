#!/usr/bin/env bash
# Runs the queue benchmark on a throwaway PostgreSQL cluster (as tests/support does).
#   bench/queue_bench.sh [kiln_queue_bench args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/kiln-queue-bench.XXXXXX)
chmod 755 "$dir"
trap '"$root/tests/support/pg_cluster.sh" stop "$dir/pg"; rm -rf "$dir"' EXIT
"$root/tests/support/pg_cluster.sh" start "$dir/pg" >/dev/null
"$root/build/bench/kiln_queue_bench" --database "$(cat "$dir/pg/url")" "$@"

#!/usr/bin/env bash
# A throwaway PostgreSQL 18 + pgvector server for tests and benchmarks.
#   pg-server.sh start DIR   initdb in DIR, start on a free loopback port,
#                            print its URL (postgres://...)
#   pg-server.sh stop DIR    stop it (fast shutdown); DIR is left to the caller
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command=${1:?usage: pg-server.sh start|stop DIR}
dir=${2:?usage: pg-server.sh start|stop DIR}
pg=$("$here/ensure-postgres.sh")

# PostgreSQL will not run as root; root runs it as nobody.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u nobody -- "$@"; else "$@"; fi
}

case "$command" in
  start)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown nobody "$dir"
    chmod 700 "$dir"
    as_owner "$pg/bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Throwaway data: no fsync. Room for the benchmark's HNSW builds.
    as_owner "$pg/bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=512MB -c maintenance_work_mem=2GB -c max_parallel_maintenance_workers=2" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_owner "$pg/bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    ;;
  *) echo "usage: pg-server.sh start|stop DIR" >&2; exit 64 ;;
esac

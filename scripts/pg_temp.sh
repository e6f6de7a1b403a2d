#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests (Debian's postgresql package, which
# scripts/setup.sh installs): `pg_temp.sh start DIR` makes a cluster in DIR, starts it on a
# free loopback port with a random password, and prints its postgres:// URL;
# `pg_temp.sh stop DIR` stops it. As root the server runs as the `postgres` user (it
# refuses to run as root).
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a folder for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg_temp.sh: PostgreSQL is not installed (scripts/setup.sh installs Debian's postgresql)" >&2
  exit 1
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077 && printf '%s\n' "$password" > "$dir/pw")
  [ "$(id -u)" = 0 ] && chown postgres "$dir/pw"
  as_pg "$bin/initdb" -D "$dir/data" -U exemplar --auth=scram-sha-256 --pwfile="$dir/pw" -E UTF8 >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  PGPASSWORD=$password as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U exemplar exemplar
  echo "postgres://exemplar:$password@127.0.0.1:$port/exemplar"
  ;;
stop)
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*)
  echo "pg_temp.sh: start or stop, not $cmd" >&2
  exit 2
  ;;
esac

# Sourced by scripts: start_throwaway_pg starts a PostgreSQL 15 server on a free loopback port
# in a temporary folder, sets PG_URL, and stops and removes it when the script exits.
# Durable by default (fsync on), as the bench wants; the test suite turns fsync off with
# PG_EXTRA_OPTIONS="-c fsync=off" (its data is thrown away).

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

start_throwaway_pg() {
  if [ ! -x "$PGBIN/initdb" ]; then
    echo "PostgreSQL server binaries not found in $PGBIN (apt-get install postgresql-15, or set PGBIN)" >&2
    return 1
  fi
  PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PGDATA=$(mktemp -d /tmp/ticketgate-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA"; fi
  chmod 700 "$PGDATA"
  trap stop_throwaway_pg EXIT
  _as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  _as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA -c max_connections=400 ${PG_EXTRA_OPTIONS:-}" >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
  export PGBIN
}

stop_throwaway_pg() {
  _as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PGDATA"
}

_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

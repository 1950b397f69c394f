#!/bin/bash
# Replica start: on the first start clone the primary (pg_basebackup copies pg_hba.conf too, so
# a promoted replica accepts replication from the others), then hand over to the official
# entrypoint, which sees an initialised PGDATA and just runs postgres with our arguments.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown -R postgres:postgres "$(dirname "$PGDATA")"
  chmod 700 "$PGDATA"
  until gosu postgres env PGPASSWORD="$REPLICATION_PASSWORD" \
      pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -X stream -R; do
    echo "pg_basebackup from $PRIMARY_HOST failed; retrying in 2 s" >&2
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  # -R wrote standby.signal; name this standby so synchronous_standby_names can refer to it.
  echo "primary_conninfo = 'host=$PRIMARY_HOST port=5432 user=replicator password=$REPLICATION_PASSWORD application_name=$NODE_NAME'" \
    >> "$PGDATA/postgresql.auto.conf"
fi
exec docker-entrypoint.sh "$@"

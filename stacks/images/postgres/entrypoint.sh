#!/bin/sh
# A fresh cluster at the first start of a container (a restarted container keeps its
# data), whose superuser's password comes from CONNLAB_POSTGRES_PASSWORD (never from
# argv) and whose pg_hba.conf admits passwords only (scram-sha-256) over TCP: the port
# is published on the host's 127.0.0.1, and nothing is trusted. Then postgres in the
# foreground, logging to stderr, with the `-c key=value` arguments given to `docker run`,
# and without the password in its environment.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${CONNLAB_POSTGRES_PASSWORD:-}" ]; then
        echo "connlab-postgres: CONNLAB_POSTGRES_PASSWORD is not set: give the superuser's password" >&2
        exit 2
    fi
    umask 077
    pwfile=$(mktemp)
    printf '%s\n' "$CONNLAB_POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" --auth=scram-sha-256 --no-locale -E UTF8 --no-sync >/dev/null
    rm -f "$pwfile"
    {
        echo "host all all 0.0.0.0/0 scram-sha-256"
        echo "host all all ::/0 scram-sha-256"
    } > "$PGDATA/pg_hba.conf"
fi
unset CONNLAB_POSTGRES_PASSWORD
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"

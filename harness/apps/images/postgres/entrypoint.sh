#!/bin/sh
# A fresh cluster at the first start of a container (a restarted container keeps its
# data), trust for loopback and Docker's bridge networks, then postgres in the
# foreground, logging to stderr, with the `-c key=value` arguments given to `docker run`.
set -eu
: "${CONNLAB_TRUST_CIDRS:=172.16.0.0/12 192.168.0.0/16}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U postgres --no-locale -E UTF8 --no-sync --auth-local=trust --auth-host=reject >/dev/null
    {
        echo "local all all trust"
        echo "host all all 127.0.0.1/32 trust"
        echo "host all all ::1/128 trust"
        for cidr in $CONNLAB_TRUST_CIDRS; do echo "host all all $cidr trust"; done
    } > "$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"

#!/bin/sh
# The image's config, plus `requirepass` from CONNLAB_REDIS_PASSWORD (never from argv: the
# host's ps shows a container's argv to every local user), in a file only this user reads;
# then the server, without the password in its environment, with `docker run`'s arguments.
set -eu
if [ -z "${CONNLAB_REDIS_PASSWORD:-}" ]; then
    echo "connlab-redis: CONNLAB_REDIS_PASSWORD is not set: give the server's password" >&2
    exit 2
fi
umask 077
config=$(mktemp)
cat /etc/connlab-redis.conf > "$config"
printf 'requirepass %s\n' "$CONNLAB_REDIS_PASSWORD" >> "$config"
unset CONNLAB_REDIS_PASSWORD
exec /usr/local/bin/connlab-redis-server "$config" "$@"

#!/usr/bin/env bash
# Start the servers the shared-backend tests run against, where they are installed but not
# running: PostgreSQL (5432), Redis (6379), NATS with JetStream (4222), Mosquitto MQTT (1883). Also install haproxy,
# which the cluster tests put in front of the replicas, and docker-registry (the OCI registry the
# registry tests push to). Nothing here is needed to *use* riff:
# `riff up` without a runtime config runs on embedded SQLite alone.
#
# Idempotent; prints what it started. A server that cannot be started is reported, and the
# tests needing it skip (under CI=true they fail, naming it).
set -u

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    i=0
    while [ $i -lt 50 ]; do
        listening "$1" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    echo "warning: $2 did not start listening on $1" >&2
    return 1
}

if ! listening 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start && wait_for 5432 PostgreSQL
fi
if ! listening 6379 && command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log && wait_for 6379 Redis
fi
if ! listening 4222 && [ -x /usr/sbin/nats-server ]; then
    echo "starting NATS (JetStream)"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log && wait_for 4222 NATS
fi
if ! listening 1883 && [ -x /usr/sbin/mosquitto ]; then
    echo "starting Mosquitto (MQTT)"
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' >/tmp/riff-mosquitto.conf
    /usr/sbin/mosquitto -d -c /tmp/riff-mosquitto.conf && wait_for 1883 Mosquitto
fi
if ! command -v haproxy >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "installing haproxy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null 2>&1 ||
        echo "warning: could not install haproxy: its tests skip (and fail under CI=true)" >&2
fi
if ! command -v docker-registry >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    # The registry tests start their own `docker-registry serve` per test on a free port.
    echo "installing docker-registry"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry >/dev/null 2>&1 ||
        echo "warning: could not install docker-registry: the registry tests skip (and fail under CI=true)" >&2
fi
exit 0

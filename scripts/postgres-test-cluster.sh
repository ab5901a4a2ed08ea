#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the store's PostgreSQL tests and prints the URL
# to use; `stop` stops it and deletes its files.
#
#   eval "$(scripts/postgres-test-cluster.sh)"   # sets TELEPHONY_TEST_POSTGRES
#   cargo test -p telephony-store --features postgres
#   scripts/postgres-test-cluster.sh stop
#
# Installs PostgreSQL from the distribution's packages when `initdb` is missing (Debian:
# apt-get install postgresql). The cluster runs as an unprivileged user (the `postgres`
# system user when started as root, else the caller), keeps its data and its unix socket
# in a temporary directory, listens on 127.0.0.1 only, on a free port, and trusts
# loopback connections: it is for tests on this machine, never for data that matters.
# Only the `export ...` line goes to stdout; progress goes to stderr.
#
# POSTGRES_TEST_CLUSTER_DURABLE=1 keeps PostgreSQL's durable defaults (fsync, synchronous
# commit, full page writes) instead of turning them off: for benchmarks, where a commit
# must mean what it means in production.
set -euo pipefail

state="${TMPDIR:-/tmp}/telephony-postgres-test-cluster.path"
log() { echo "postgres-test-cluster: $*" >&2; }

find_bindir() {
    # Debian keeps the server binaries out of PATH, one directory per major version (a
    # PATH `initdb` may be a wrapper without the other server programs beside it).
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

# Runs a command as the cluster's user.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

# The PostgreSQL server refuses to run as root.
if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
else
    owner="$(id -un)"
fi

bindir="$(find_bindir)"

if [ "${1:-}" = "stop" ]; then
    if [ ! -f "$state" ]; then
        log "no cluster started by this script is running"
        exit 0
    fi
    dir="$(cat "$state")"
    if [ -n "$bindir" ] && [ -d "$dir/data" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    rm -rf -- "$dir"
    rm -f -- "$state"
    log "stopped and removed $dir"
    exit 0
fi
if [ -n "${1:-}" ]; then
    echo "usage: $0 [stop]" >&2
    exit 2
fi

if [ -f "$state" ] && [ -d "$(cat "$state")/data" ]; then
    log "a cluster is already running in $(cat "$state"); run '$0 stop' first"
    exit 1
fi

if [ -z "$bindir" ]; then
    log "initdb not found: installing PostgreSQL from the distribution's packages"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y postgresql >&2
    bindir="$(find_bindir)"
    [ -n "$bindir" ] || { log "PostgreSQL installed but initdb still not found"; exit 1; }
fi

if [ "$(id -u)" -eq 0 ] && ! id "$owner" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/telephony-postgres.XXXXXX")"
chmod 755 "$dir"
[ "$(id -u)" -ne 0 ] || chown "$owner" "$dir"
echo "$dir" >"$state"

as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
    --no-locale >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }

# A port nobody listens on (checked with a connect; the server's own bind is the real test,
# so a port taken in between makes the start fail and the next port is tried).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    port_free "$port" || continue
    # fsync=off (and no synchronous commit): a throwaway test cluster, whose data does not
    # have to survive a crash of this machine, and tests run much faster without fsyncs.
    durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${POSTGRES_TEST_CLUSTER_DURABLE:-}" != 1 ] || durability=""
    if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $dir $durability -c max_connections=200" \
        >&2; then
        started=yes
        break
    fi
    log "could not start on port $port; trying another"
done
if [ -z "$started" ]; then
    log "the server did not start; its log:"
    cat "$dir/server.log" >&2 || true
    exit 1
fi

# Wait until it accepts connections on the TCP port the tests use.
for _ in $(seq 1 60); do
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        log "running in $dir (stop with: $0 stop)"
        echo "export TELEPHONY_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres"
        exit 0
    fi
    sleep 0.5
done
log "the server does not accept connections on 127.0.0.1:$port; its log:"
cat "$dir/server.log" >&2 || true
exit 1

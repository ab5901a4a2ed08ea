#!/usr/bin/env bash
# Inbound webhook throughput and p99 with 1, 2 and 3 gateway replicas on PostgreSQL and
# with one process on SQLite, in one run on this machine; optionally the SQLite figure of
# a baseline commit beside it (issue 24: it must not fall below the baseline's in the same
# run, because the machine's speed drifts between days).
#
#   benches/replicas.sh                         # build, then every configuration once
#   benches/replicas.sh --baseline 34c8064      # and the baseline's SQLite, alternating
#   benches/replicas.sh --rounds 3 --duration 20 --connections 64
#   benches/replicas.sh --skip-build --configs pg1 --rounds 3 --pairing
#                                               # the default policy (pairing), every sender
#                                               # a stranger, instead of open
#   benches/replicas.sh --skip-build --configs "sqlite pg1" --rounds 1 --perf 7
#                                               # also `perf record` the first replica of each
#                                               # run for 7 s (from 1.5 s in; --call-graph
#                                               # dwarf) and summarize it with
#                                               # benches/perf-shares.py into the run's perf.md
#
# What it does:
#   1. builds the release `telephony` and `loadgen` (and, with --baseline, the baseline's
#      `telephony` in a git worktree of its own; its binary is copied out at once);
#   2. starts a throwaway PostgreSQL with its durable defaults (fsync, synchronous commit:
#      a 200 means committed, as on SQLite) through scripts/postgres-test-cluster.sh, unless
#      BENCH_POSTGRES=postgres://… names a server to use;
#   3. per round, per configuration: a fresh data directory (and a fresh database), the
#      replicas started with one shared `publicUrl` so every request is signed once, then
#      `loadgen --runtime-file …` spreading its connections round robin over them, which
#      counts the stored rows afterwards (SQLite file or every schema in the database);
#      the CPU used by PostgreSQL's processes during the run is read from /proc;
#   4. prints one line per run and a summary table (medians over the rounds); the raw
#      loadgen JSON of every run is kept in $OUT (default /tmp/telephony-replicas-bench).
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/telephony-gateway/target-bench; the
# baseline is built in the same one, its workspace crates under other names), CARGO
# (default cargo), OUT, BENCH_POSTGRES.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
baseline=""
rounds=1
requests=200000
duration=20
connections=64
configs="sqlite pg1 pg2 pg3"
skip_build=""
perf_secs=""
policy='inboundPolicy: "open",
  allowFrom: ["*"],'
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) baseline="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --configs) configs="$2"; shift 2 ;;
        --skip-build) skip_build=yes; shift ;;
        --perf) perf_secs="$2"; shift 2 ;;
        --pairing) policy='inboundPolicy: "pairing",'; shift ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "replicas.sh: $*" >&2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/telephony-gateway/target-bench}"
cargo="${CARGO:-cargo}"
out="${OUT:-/tmp/telephony-replicas-bench}"
mkdir -p "$out"
bin="$out/bin"
mkdir -p "$bin"

# 1. Builds.
. "$repo/benches/lib.sh"
[ -n "$skip_build" ] || build_head_and_baseline "$baseline"
require_binaries "$baseline"

# 2. PostgreSQL.
pg_started=""
if [ -n "${BENCH_POSTGRES:-}" ]; then
    pg="$BENCH_POSTGRES"
else
    pg_tmp="$out/pg"
    mkdir -p "$pg_tmp"
    chmod 755 "$pg_tmp"
    log "starting a durable throwaway PostgreSQL"
    export_line="$(TMPDIR="$pg_tmp" POSTGRES_TEST_CLUSTER_DURABLE=1 "$repo/scripts/postgres-test-cluster.sh")"
    pg="${export_line#export TELEPHONY_TEST_POSTGRES=}"
    pg_started=yes
fi
export PGOPTIONS="--client-min-messages=warning"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
psql="${bindir:+$bindir/}psql"
command -v "$psql" >/dev/null || psql=psql
pg_host_port="${pg#*@}"; pg_host_port="${pg_host_port%%/*}"
pg_base="${pg%/*}"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$pg_started" ]; then
        TMPDIR="$pg_tmp" "$repo/scripts/postgres-test-cluster.sh" stop || true
    fi
}
trap cleanup EXIT

# CPU seconds (utime + stime) of every process whose command is `postgres`.
pg_cpu() {
    local total=0 t
    for d in /proc/[0-9]*; do
        [ "$(cat "$d/comm" 2>/dev/null)" = postgres ] || continue
        t="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$d/stat" 2>/dev/null || echo 0)"
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

account_sid="AC$(printf '%032d' 24)"
auth_token="replicas-bench-auth-token"
# Every replica signs against this one public URL (what a load balancer in front of them
# would be); nothing ever connects to it.
public_url="http://gateway.bench.invalid"

# Starts `$1` (binary) with the config in dir `$2` (env already exported by the caller);
# sets `started_rt` to its runtime file once that names the new process.
start_gateway() {
    local exe="$1" dir="$2"
    (cd "$dir" && exec "$exe" serve >"$dir/serve.log" 2>&1) &
    local pid=$!
    pids+=("$pid")
    local rt="$dir/telephony-data/gateway.json"
    for _ in $(seq 1 300); do
        if [ -f "$rt" ] && grep -q "\"pid\": *$pid\b" "$rt" 2>/dev/null; then
            started_rt="$rt"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "gateway in $dir exited; its log:"; cat "$dir/serve.log" >&2; return 1
        fi
        sleep 0.1
    done
    log "gateway in $dir did not start within 30 s; its log:"; cat "$dir/serve.log" >&2
    return 1
}

config() {
    cat <<EOF
{
  fromNumber: "+15005550006",
  publicUrl: "$public_url",
  serve: { port: 0 },
  admin: { port: 0, token: "replicas-bench-admin-token-0123456789" },
  twilio: { accountSid: "$account_sid", apiBaseUrl: "http://127.0.0.1:9" },
  $policy
  rateLimits: { inboundPerSender: { perSecond: 1000000 } },
}
EOF
}

# One measurement: $1 = label, $2 = binary, $3 = replicas, $4 = "pg" or "sqlite".
measure() {
    local label="$1" exe="$2" n="$3" kind="$4"
    local run="$out/run-$label-r$round"
    rm -rf "$run"; mkdir -p "$run"
    local db="" extra=()
    if [ "$kind" = pg ]; then
        db="bench_${label}_r${round}_$$"
        "$psql" -q -d "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
        extra=(--postgres "$pg_base/$db")
    fi
    local rts=() i
    for i in $(seq 1 "$n"); do
        mkdir -p "$run/replica-$i"
        config >"$run/replica-$i/telephony.json5"
    done
    export TWILIO_AUTH_TOKEN="$auth_token"
    if [ "$kind" = pg ]; then export TELEPHONY_DATABASE_URL="$pg_base/$db"; else unset TELEPHONY_DATABASE_URL; fi
    for i in $(seq 1 "$n"); do
        start_gateway "$exe" "$run/replica-$i"
        rts+=(--runtime-file "$started_rt")
    done
    unset TELEPHONY_DATABASE_URL
    sleep 1
    local pg_before pg_after load
    pg_before="$(pg_cpu)"
    load="$(cut -d' ' -f1 /proc/loadavg)"
    local perf_pid=""
    if [ -n "$perf_secs" ]; then
        (sleep 1.5; exec perf record -q -F 499 --call-graph dwarf,16384 -p "${pids[0]}" -o "$run/perf.data" -- sleep "$perf_secs") \
            >"$run/perf.log" 2>&1 &
        perf_pid=$!
    fi
    TWILIO_AUTH_TOKEN="$auth_token" "$bin/loadgen" --json "${rts[@]}" "${extra[@]}" \
        --account-sid "$account_sid" --connections "$connections" \
        --requests "$requests" --duration "$duration" >"$run/loadgen.json" 2>"$run/loadgen.err" || true
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    pg_after="$(pg_cpu)"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    if [ "$kind" = pg ]; then
        # The inbox's size on disk per stored message (table, TOAST and indexes), after a
        # VACUUM so that dead tuples do not count: in $run/pg-inbox-bytes.tsv.
        "$psql" -q -d "$pg_base/$db" -c "VACUUM telephony.inbox" >/dev/null 2>&1 || true
        "$psql" -qAt -F $'\t' -d "$pg_base/$db" -c \
            "SELECT count(*), pg_total_relation_size('telephony.inbox'), \
                    pg_total_relation_size('telephony.inbox') / greatest(count(*), 1) \
             FROM telephony.inbox" >"$run/pg-inbox-bytes.tsv" 2>/dev/null || true
        "$psql" -q -d "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
    fi
    if [ -n "$perf_secs" ] && [ -f "$run/perf.data" ]; then
        perf script -i "$run/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null \
            | python3 "$repo/benches/perf-shares.py" >"$run/perf.md" || true
        log "profile of $label round $round: $run/perf.md"
    fi
    python3 - "$run/loadgen.json" "$label" "$round" "$(( pg_after - pg_before ))" "$load" <<'PY' | tee -a "$out/results.tsv"
import json, sys
path, label, rnd, pg_ticks, load = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{label}\t{rnd}\tERROR\t{e}")
    sys.exit(0)
cpu = r["cpu_s"]
print("\t".join(str(x) for x in [
    label, rnd, round(r["persisted_per_s"]), round(r["latency_ms"]["p99"], 2),
    round(r["latency_ms"]["p50"], 2), r["ok"], r["errors"], r["rows_verified"], r["rows_match_ok"],
    round(r["elapsed_s"], 2), round(cpu["server"] or 0, 2), round(int(pg_ticks) / 100, 2),
    round(cpu["client"], 2), load,
]))
PY
}

echo -e "config\tround\tpersisted/s\tp99 ms\tp50 ms\tok\terrors\trows\trows=ok\telapsed s\tgateway CPU s\tpostgres CPU s\tloadgen CPU s\tload avg" | tee "$out/results.tsv"
for round in $(seq 1 "$rounds"); do
    # Alternate the order between rounds, so drift does not favour one configuration.
    list="$configs"
    [ -z "$baseline" ] || list="sqlite-baseline $list"
    if [ $((round % 2)) -eq 0 ]; then list="$(echo "$list" | tr ' ' '\n' | tac | tr '\n' ' ')"; fi
    for c in $list; do
        case "$c" in
            sqlite-baseline) measure sqlite-baseline "$bin/telephony-baseline" 1 sqlite ;;
            sqlite) measure sqlite "$bin/telephony-head" 1 sqlite ;;
            pg1) measure pg1 "$bin/telephony-head" 1 pg ;;
            pg2) measure pg2 "$bin/telephony-head" 2 pg ;;
            pg3) measure pg3 "$bin/telephony-head" 3 pg ;;
            *) log "unknown configuration $c"; exit 2 ;;
        esac
    done
done

python3 - "$out/results.tsv" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1]), delimiter="\t")][1:]
by = {}
for r in rows:
    if len(r) > 3 and r[2] != "ERROR":
        by.setdefault(r[0], []).append(r)
print()
print("| configuration | runs | persisted/s (median) | p99 ms (median) | gateway CPU s | postgres CPU s |")
print("|---|---|---|---|---|---|")
for label, rs in by.items():
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    print(f"| {label} | {len(rs)} | {med(2):,.0f} | {med(3):.2f} | {med(10):.1f} | {med(11):.1f} |")
PY

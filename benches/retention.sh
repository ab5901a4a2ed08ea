#!/usr/bin/env bash
# Inbound webhook throughput and p99 on SQLite while the retention pruner deletes a large
# backlog of old messages, beside the same load with retention off (issue 22: the inbound
# p99 must not move while pruning runs).
#
#   benches/retention.sh                                   # build, then 3 rounds
#   benches/retention.sh --rounds 3 --preload 200000 --duration 20 --connections 64
#   benches/retention.sh --skip-build                      # reuse $OUT/bin
#
# Per round, per configuration (`off`, then `on`; the order alternates between rounds):
#   1. a fresh data directory; the gateway is started with retention off and a short
#      signed-webhook load (500 requests) stores real rows, then it is stopped;
#   2. --preload copies of one of those rows are written directly into the inbox (every
#      column kept, id and provider_sid new, received_at 2 to 3 days ago, state accepted),
#      so the rows have the gateway's own format whatever its columns are;
#   3. the gateway is started again, with `store: { retention: "1d" }` (`on`) or without
#      (`off`), and `loadgen` sends the signed-webhook load at once: with `on` the pruner's
#      first run starts with the gateway and deletes the backlog (500 rows per transaction,
#      then gives the pages back) while the load runs;
#   4. afterwards: the old rows left (0 once pruning finished), the data directory's size
#      before and after (WAL checkpointed), and the pruner's log line (how many it removed,
#      the pages it gave back, how long it took).
# Prints one line per run and a summary (medians over the rounds); raw files in $OUT
# (default /tmp/telephony-retention-bench).
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/telephony-gateway/target-bench), CARGO
# (default cargo), OUT. Needs python3 (its sqlite3 module) for the preload.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
preload=200000
requests=200000
duration=20
connections=64
skip_build=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --preload) preload="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --skip-build) skip_build=yes; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "retention.sh: $*" >&2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/telephony-gateway/target-bench}"
cargo="${CARGO:-cargo}"
out="${OUT:-/tmp/telephony-retention-bench}"
bin="$out/bin"
mkdir -p "$bin"

. "$repo/benches/lib.sh"
if [ -z "$skip_build" ]; then
    log "building release telephony and loadgen at $(git -C "$repo" rev-parse --short HEAD)"
    (cd "$repo" && build_and_copy "" -p telephony-cli -p telephony-benches --bin telephony --bin loadgen)
fi
[ -x "$bin/telephony" ] && [ -x "$bin/loadgen" ] || { log "no binaries in $bin: run without --skip-build"; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

account_sid="AC$(printf '%032d' 22)"
auth_token="retention-bench-auth-token"
public_url="http://gateway.bench.invalid"

# The gateway's config; $1 = "on" adds the retention.
config() {
    local retention=""
    [ "$1" = on ] && retention='store: { retention: "1d" },'
    cat <<EOF
{
  fromNumber: "+15005550006",
  publicUrl: "$public_url",
  serve: { port: 0 },
  admin: { port: 0, token: "retention-bench-admin-token-0123456789" },
  twilio: { accountSid: "$account_sid", apiBaseUrl: "http://127.0.0.1:9" },
  inboundPolicy: "open",
  allowFrom: ["*"],
  rateLimits: { inboundPerSender: { perSecond: 1000000 } },
  $retention
}
EOF
}

# Starts the gateway in $1; sets `started_rt` (its runtime file) and `started_pid`.
start_gateway() {
    local dir="$1"
    (cd "$dir" && TWILIO_AUTH_TOKEN="$auth_token" exec "$bin/telephony" serve >>"$dir/serve.log" 2>&1) &
    local pid=$!
    pids+=("$pid")
    local rt="$dir/telephony-data/gateway.json"
    for _ in $(seq 1 300); do
        if [ -f "$rt" ] && grep -q "\"pid\": *$pid\b" "$rt" 2>/dev/null; then
            started_rt="$rt"; started_pid="$pid"; return 0
        fi
        kill -0 "$pid" 2>/dev/null || { log "gateway in $dir exited:"; cat "$dir/serve.log" >&2; return 1; }
        sleep 0.1
    done
    log "gateway in $dir did not start within 30 s"; return 1
}

stop_gateway() {
    kill "$started_pid" 2>/dev/null || true
    wait "$started_pid" 2>/dev/null || true
    pids=()
}

load() {
    TWILIO_AUTH_TOKEN="$auth_token" "$bin/loadgen" --json --runtime-file "$started_rt" \
        --account-sid "$account_sid" --connections "$connections" "$@"
}

# Copies one stored row $preload times, 2 to 3 days old (see the header).
preload_rows() {
    python3 - "$1" "$preload" <<'PY'
import sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
cols = [r[1] for r in c.execute("PRAGMA table_info(inbox)")]
new = {
    "id": "'msg_preload_' || k.i",
    "provider_sid": "'PRELOAD' || printf('%09d', k.i)",
    "received_at": f"{int(time.time() * 1000) - 2 * 86_400_000} - k.i * 400",
    "state": "'accepted'",
}
exprs = ", ".join(new.get(col, "t." + col) for col in cols)
template = c.execute("SELECT rowid FROM inbox LIMIT 1").fetchone()[0]
c.execute(
    f"WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) "
    f"INSERT INTO inbox ({', '.join(cols)}) SELECT {exprs} FROM k, inbox AS t WHERE t.rowid = ?",
    (n, template),
)
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
PY
}

# The data directory's size in bytes with the WAL checkpointed into the database.
data_size() {
    python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()' "$1/telephony-data/telephony.db"
    du -sb "$1/telephony-data" | cut -f1
}

old_rows() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM inbox WHERE provider_sid LIKE ?", ("PRELOAD%",)).fetchone()[0])' "$1"
}

measure() {
    local mode="$1"
    local run="$out/run-$mode-r$round"
    rm -rf "$run"; mkdir -p "$run"
    config off >"$run/telephony.json5"
    start_gateway "$run"
    load --requests 500 --duration 5 >"$run/warmup.json" 2>"$run/warmup.err" || true
    stop_gateway
    local db="$run/telephony-data/telephony.db"
    log "$mode round $round: preloading $preload old rows"
    preload_rows "$db"
    local size_before; size_before="$(data_size "$run")"
    config "$mode" >"$run/telephony.json5"
    start_gateway "$run"
    sleep 1
    local loadavg; loadavg="$(cut -d' ' -f1 /proc/loadavg)"
    load --requests "$requests" --duration "$duration" >"$run/loadgen.json" 2>"$run/loadgen.err" || true
    # Let a pruning run that outlasted the load finish, so the size after is comparable.
    for _ in $(seq 1 60); do
        [ "$mode" = off ] || [ "$(old_rows "$db")" = 0 ] && break
        sleep 1
    done
    stop_gateway
    local size_after left pruner
    size_after="$(data_size "$run")"
    left="$(old_rows "$db")"
    pruner="$(grep -a 'retention pruner removed' "$run/serve.log" | head -n1 | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'total=[0-9]*.*' || true)"
    python3 - "$run/loadgen.json" "$mode" "$round" "$left" "$size_before" "$size_after" "$loadavg" "$pruner" <<'PY' | tee -a "$out/results.tsv"
import json, sys
path, mode, rnd, left, before, after, load, pruner = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{mode}\t{rnd}\tERROR\t{e}")
    sys.exit(0)
print("\t".join(str(x) for x in [
    mode, rnd, round(r["persisted_per_s"]), round(r["latency_ms"]["p99"], 2),
    round(r["latency_ms"]["p50"], 2), r["ok"], r["errors"], r["rows_match_ok"], left,
    round(int(before) / 2**20, 1), round(int(after) / 2**20, 1), load, pruner or "-",
]))
PY
}

echo -e "retention\tround\tpersisted/s\tp99 ms\tp50 ms\tok\terrors\trows=ok\told rows left\tdata MiB before\tdata MiB after\tload avg\tpruner" | tee "$out/results.tsv"
for round in $(seq 1 "$rounds"); do
    list="off on"
    [ $((round % 2)) -eq 0 ] && list="on off"
    for mode in $list; do measure "$mode"; done
done

python3 - "$out/results.tsv" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1]), delimiter="\t")][1:]
by = {}
for r in rows:
    if len(r) > 3 and r[2] != "ERROR":
        by.setdefault(r[0], []).append(r)
print()
print("| retention | runs | persisted/s (median) | p99 ms (median) | p50 ms (median) | p99 ms (each) | old rows left |")
print("|---|---|---|---|---|---|---|")
for label in ("off", "on"):
    rs = by.get(label, [])
    if not rs:
        continue
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    each = ", ".join(r[3] for r in rs)
    print(f"| {label} | {len(rs)} | {med(2):,.0f} | {med(3):.2f} | {med(4):.2f} | {each} | {', '.join(r[8] for r in rs)} |")
PY

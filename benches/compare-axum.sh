#!/usr/bin/env bash
# The gateway's durable inbound path against an axum hello-world, one after the other with
# the same load generator, and the ratio (issue 23: ≥ 0.30× axum, p99 ≤ 10 ms).
#
#   benches/compare-axum.sh                     # build, then 3 rounds of: axum, gateway (open)
#   benches/compare-axum.sh --pairing           # the gateway with the default policy (pairing),
#                                               # every sender a stranger
#   benches/compare-axum.sh --forward           # open, and every message forwarded (forward.url
#                                               # → a second axum-hello, which answers 200)
#   benches/compare-axum.sh --forward --forward-batch 100
#                                               # the same, up to 100 events per POST
#                                               # (forward.maxBatch: a JSON array per POST)
#   benches/compare-axum.sh --skip-build --rounds 5 --duration 10 --threads 2 --connections 64
#   benches/compare-axum.sh --skip-build --gateway-bin before=/path/telephony-old --gateway-bin after=$OUT/bin/telephony
#                                               # several gateway binaries in each round, after
#                                               # axum (NAME= labels the rows; default: the file name)
#   benches/compare-axum.sh --skip-build --rounds 1 --perf 7
#                                               # also `perf record -g` each gateway run for 7 s
#                                               # (from 1.5 s in; --call-graph dwarf, so release
#                                               # stacks are whole) and summarize it with
#                                               # benches/perf-shares.py into the run's perf.md
#   benches/compare-axum.sh --build-only        # build and copy the binaries, run nothing
#
# What it does:
#   1. builds the release `telephony`, `loadgen` and `axum-hello` (benches/src/axum_hello.rs:
#      drains the body, answers the gateway's own 200) and copies them to $OUT/bin;
#   2. per round: `axum-hello`, then `telephony serve` in a fresh directory (a Twilio config,
#      as benches/replicas.sh runs it: `publicUrl` so every request is signed once,
#      SQLite, the API pointed at a closed port since nothing is sent); each driven by
#      `wrk -tTHREADS -cCONNECTIONS -dDURATION --latency -s benches/wrk-signed.lua`, whose
#      requests are the loadgen's (`loadgen --wrk-plan`: the simulator's inbound SMS signed
#      with X-Twilio-Signature, a MessageSid per request, 100 senders), fresh for every run;
#   3. after the gateway's run, counts its inbox rows (SQLite file) against the 200s, and
#      refuses the run if wrk ran out of distinct requests (--requests);
#   4. prints a line per run and a table: req/s and p99 (medians over rounds) for both, and
#      the ratio gateway/axum (median of the per-round ratios).
#
# Needs `wrk` (Debian: apt-get install -y wrk). Environment: CARGO_TARGET_DIR (default
# ~/.cache/telephony-gateway/target-bench), CARGO (default cargo), OUT (default
# /tmp/telephony-compare-axum); RUST_LOG for the gateway (default: its own, info).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
duration=10
threads=2
connections=64
requests=1000000
variant=open
skip_build=""
build_only=""
perf_secs=""
forward_batch=""
gateway_bins=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --pairing) variant=pairing; shift ;;
        --forward) variant=forward; shift ;;
        --forward-batch) variant=forward; forward_batch="$2"; shift 2 ;;
        --skip-build) skip_build=yes; shift ;;
        --build-only) build_only=yes; shift ;;
        --gateway-bin) gateway_bins+=("$2"); shift 2 ;;
        --perf) perf_secs="$2"; shift 2 ;;
        -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "compare-axum.sh: $*" >&2; }
command -v wrk >/dev/null || { log "wrk is not installed (Debian: apt-get install -y wrk)"; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/telephony-gateway/target-bench}"
cargo="${CARGO:-cargo}"
out="${OUT:-/tmp/telephony-compare-axum}"
mkdir -p "$out"
bin="$out/bin"
mkdir -p "$bin"

. "$repo/benches/lib.sh"
if [ -z "$skip_build" ]; then
    log "building release telephony, loadgen and axum-hello at $(git -C "$repo" rev-parse --short HEAD)"
    (cd "$repo" && build_and_copy "" -p telephony-cli -p telephony-benches --bin telephony --bin loadgen --bin axum-hello)
fi
[ -z "$build_only" ] || exit 0
for b in telephony loadgen axum-hello; do
    [ -x "$bin/$b" ] || { log "no $bin/$b: run without --skip-build"; exit 1; }
done
# The gateways each round runs: "label=path" (the built one unless --gateway-bin says).
gateways=()
if [ ${#gateway_bins[@]} -eq 0 ]; then
    gateways=("gateway-$variant=$bin/telephony")
fi
for g in "${gateway_bins[@]}"; do
    case "$g" in
        *=*) name="${g%%=*}"; path="${g#*=}" ;;
        *) name="$(basename "$g")"; path="$g" ;;
    esac
    [ -x "$path" ] || { log "--gateway-bin $path is not an executable file"; exit 1; }
    gateways+=("gateway-$variant-$name=$(cd "$(dirname "$path")" && pwd)/$(basename "$path")")
done
[ -z "$perf_secs" ] || command -v perf >/dev/null || { log "--perf needs perf (Debian: linux-perf)"; exit 1; }

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

account_sid="AC$(printf '%032d' 23)"
auth_token="compare-axum-bench-auth-token"
public_url="http://gateway.bench.invalid"
webhook_path="/telephony/webhook"

# Starts axum-hello in the background; sets `hello_url` to its base URL.
start_hello() {
    local log_file="$1"
    "$bin/axum-hello" >"$log_file" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 100); do
        hello_url="$(head -n1 "$log_file" 2>/dev/null || true)"
        case "$hello_url" in http://*) return 0 ;; esac
        sleep 0.05
    done
    log "axum-hello did not start; its output:"; cat "$log_file" >&2; return 1
}

config() {
    local policy='inboundPolicy: "open", allowFrom: ["*"],'
    local forward=""
    [ "$variant" != pairing ] || policy=""
    [ "$variant" != forward ] || forward="forward: { url: \"$1/forward\", secret: \"compare-axum-forward-secret\"${forward_batch:+, maxBatch: $forward_batch} },"
    cat <<EOC
{
  fromNumber: "+15005550006",
  publicUrl: "$public_url",
  serve: { port: 0 },
  admin: { port: 0, token: "compare-axum-admin-token-0123456789" },
  twilio: { accountSid: "$account_sid", apiBaseUrl: "http://127.0.0.1:9" },
  $policy
  $forward
  rateLimits: { inboundPerSender: { perSecond: 1000000 } },
}
EOC
}

# Starts the gateway in $1 (its config written there); sets `gw_url` and `gw_pid`.
start_gateway() {
    local dir="$1" exe="$2"
    (cd "$dir" && TWILIO_AUTH_TOKEN="$auth_token" exec "$exe" serve >"$dir/serve.log" 2>&1) &
    gw_pid=$!
    pids+=("$gw_pid")
    local rt="$dir/telephony-data/gateway.json"
    for _ in $(seq 1 300); do
        if [ -f "$rt" ] && grep -q "\"pid\": *$gw_pid\b" "$rt" 2>/dev/null; then
            gw_url="http://$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["publicAddr"])' "$rt")"
            return 0
        fi
        if ! kill -0 "$gw_pid" 2>/dev/null; then
            log "gateway in $dir exited; its log:"; cat "$dir/serve.log" >&2; return 1
        fi
        sleep 0.1
    done
    log "gateway in $dir did not start within 30 s; its log:"; cat "$dir/serve.log" >&2
    return 1
}

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wrk against $2 with a fresh plan signed for it in $1; the `wrk-json` line to $1/wrk.json.
drive() {
    local run="$1" url="$2"
    "$bin/loadgen" --wrk-plan "$run/plan" --target "$url$webhook_path" --signed-url "$public_url$webhook_path" \
        --auth-token "$auth_token" --account-sid "$account_sid" --requests "$requests" 2>"$run/plan.log"
    wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$repo/benches/wrk-signed.lua" \
        "$url" -- "$run/plan" "$threads" >"$run/wrk.out" 2>&1 || true
    grep '^wrk-json ' "$run/wrk.out" | sed 's/^wrk-json //' >"$run/wrk.json" || true
}

record() {
    local label="$1" run="$2" rows="$3" cpu="$4"
    python3 - "$run/wrk.json" "$label" "$round" "$rows" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY' | tee -a "$out/results.tsv"
import json, sys
path, label, rnd, rows, cpu, load = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{label}\t{rnd}\tERROR\twrk gave no result ({e})")
    sys.exit(0)
ok = r["requests"] - r["non_2xx"]
status = "ok"
if label != "axum" and r["wrapped"]:
    status = "WRAPPED: raise --requests"
elif r["non_2xx"] or r["socket_errors"]:
    status = "ERRORS"
elif rows != "-" and int(rows) < ok:
    status = "ROWS < 200s"
print("\t".join(str(x) for x in [
    label, rnd, round(r["req_per_s"]), round(r["p50_ms"], 2), round(r["p99_ms"], 2),
    round(r["max_ms"], 2), r["requests"], r["non_2xx"], r["socket_errors"], rows, cpu, load, status,
]))
PY
}

echo -e "server\tround\treq/s\tp50 ms\tp99 ms\tmax ms\trequests\tnon-2xx\tsocket errors\trows\tserver CPU s\tload avg\tcheck" | tee "$out/results.tsv"
for round in $(seq 1 "$rounds"); do
    # axum hello-world.
    run="$out/run-axum-r$round"; rm -rf "$run"; mkdir -p "$run"
    start_hello "$run/hello.out"
    hello_pid="${pids[-1]}"
    sleep 0.5
    before="$(cpu_ticks "$hello_pid")"
    drive "$run" "$hello_url"
    after="$(cpu_ticks "$hello_pid")"
    stop_all
    record axum "$run" - "$(python3 -c "print(round(($after - $before) / 100, 2))")"

    # The gateways.
    for g in "${gateways[@]}"; do
        label="${g%%=*}"; exe="${g#*=}"
        run="$out/run-$label-r$round"; rm -rf "$run"; mkdir -p "$run/gw"
        fwd=""
        if [ "$variant" = forward ]; then
            start_hello "$run/forward-receiver.out"
            fwd="$hello_url"
        fi
        config "$fwd" >"$run/gw/telephony.json5"
        start_gateway "$run/gw" "$exe"
        sleep 1
        before="$(cpu_ticks "$gw_pid")"
        perf_pid=""
        if [ -n "$perf_secs" ]; then
            (sleep 1.5; exec perf record -q -F 499 --call-graph dwarf,16384 -p "$gw_pid" -o "$run/perf.data" -- sleep "$perf_secs") \
                >"$run/perf.log" 2>&1 &
            perf_pid=$!
        fi
        drive "$run" "$gw_url"
        after="$(cpu_ticks "$gw_pid")"
        [ -z "$perf_pid" ] || wait "$perf_pid" || true
        stop_all
        rows="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from inbox").fetchone()[0])' "$run/gw/telephony-data/telephony.db" 2>/dev/null || echo 0)"
        record "$label" "$run" "$rows" "$(python3 -c "print(round(($after - $before) / 100, 2))")"
        if [ "$variant" = forward ]; then
            # What the forward worker delivered while wrk ran (the gateway is stopped right
            # after, so a backlog shows here: it would be delivered after the burst).
            # `message.received` events are stored as their inbox rows (inbox.forward_at)
            # and delivered past the forward cursor; other events, and failed ones, in
            # `forwards`. (A database from before the cursor has only `forwards`.)
            python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1]); t,d=c.execute("select count(*), count(delivered_at) from forwards").fetchone()
if c.execute("select count(*) from sqlite_master where name=\"forward_cursor\"").fetchone()[0]:
    t+=c.execute("select count(*) from inbox where forward_at is not null").fetchone()[0]
    d+=c.execute("select delivered from forward_cursor").fetchone()[0]
print(f"{sys.argv[2]}\t{sys.argv[3]}\tforward events stored {t}, delivered during the run {d}")' \
                "$run/gw/telephony-data/telephony.db" "$label" "$round" | tee -a "$out/forwards.tsv" || true
        fi
        if [ -n "$perf_pid" ] && [ -f "$run/perf.data" ]; then
            perf script -i "$run/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null \
                | python3 "$repo/benches/perf-shares.py" >"$run/perf.md" || true
            log "profile of $label round $round: $run/perf.md"
        fi
    done
done

python3 - "$out/results.tsv" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1]), delimiter="\t")][1:]
by, per_round = {}, {}
for r in rows:
    if len(r) > 4 and r[2] != "ERROR":
        by.setdefault(r[0], []).append(r)
        per_round.setdefault(r[1], {})[r[0]] = float(r[2])
print()
print("| server | runs | req/s (median) | per run | p99 ms (median) | per run | server CPU s (median) | checks |")
print("|---|---|---|---|---|---|---|---|")
for label, rs in by.items():
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    runs = " · ".join(f"{float(r[2]):,.0f}" for r in rs)
    p99s = " · ".join(r[4] for r in rs)
    checks = ", ".join(sorted(set(r[12] for r in rs)))
    print(f"| {label} | {len(rs)} | {med(2):,.0f} | {runs} | {med(4):.2f} | {p99s} | {med(10):.1f} | {checks} |")
print()
for label in by:
    if label == "axum":
        continue
    ratios = [v[label] / v["axum"] for v in per_round.values() if "axum" in v and label in v]
    if ratios:
        print(f"ratio {label}/axum per round: {' · '.join(f'{x:.3f}' for x in ratios)}; median {statistics.median(ratios):.3f}")
PY

#!/usr/bin/env bash
# Voice answer latency on Twilio and on Telnyx with the same load, in one run (issue 20).
#
#   benches/voice-providers.sh                          # build, then 3 rounds of both
#   benches/voice-providers.sh --rounds 1 --calls 320   # a quick look
#   benches/voice-providers.sh --skip-build             # reuse $OUT/bin/loadgen
#   benches/voice-providers.sh --streams 0              # voice answers only
#
# What it does:
#   1. builds the release `loadgen` (copied to $OUT/bin, so a later build cannot change
#      what is measured);
#   2. per round: `loadgen --voice` (Twilio: signed webhooks, TwiML answers) then
#      `loadgen --voice --provider telnyx` (signed Call Control events, the commands they
#      cause recorded by loadgen's mock Telnyx API), each against a fresh gateway started
#      in loadgen's process (`telephony serve` with the default flow, SQLite in a temporary
#      directory), with the same callers, calls and pause between a call's steps; then
#      (unless `--streams 0`) `loadgen --realtime --only streams` on each provider: 100
#      media streams for 20 s echoed by a Rust stream handler (on Telnyx the calls are
#      placed with signed events, the socket and its one-time token come from the
#      `streaming_start` command, and the frames are Telnyx's);
#   3. prints one table per provider (every round, then the median over the rounds); the
#      raw loadgen JSON of every run is kept in $OUT (default /tmp/telephony-voice-providers).
#
# Twilio's figure is the HTTP answer (the TwiML is the answer); Telnyx's is the time from
# an event's first byte to the first command it causes reaching the API (the gateway
# answers the event after sending its commands). Target: p99 < 20 ms for both. Real-time
# target: frame → handler and handler → echo read p99 < 1 ms on a quiet machine.
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/telephony-gateway/target-bench), CARGO
# (default cargo), OUT.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
calls=1280
connections=64
gap_ms=1000
streams=100
stream_secs=20
skip_build=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --calls) calls="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --step-gap-ms) gap_ms="$2"; shift 2 ;;
        --streams) streams="$2"; shift 2 ;;
        --stream-seconds) stream_secs="$2"; shift 2 ;;
        --skip-build) skip_build=1; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "voice-providers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/telephony-gateway/target-bench}"
cargo="${CARGO:-cargo}"
out="${OUT:-/tmp/telephony-voice-providers}"
bin="$out/bin"
mkdir -p "$bin"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# shellcheck source=lib.sh
. "$repo/benches/lib.sh"

if [ -z "$skip_build" ]; then
    log "building release loadgen at $(git -C "$repo" rev-parse --short HEAD)"
    (cd "$repo" && build_and_copy "" -p telephony-benches --bin loadgen)
fi
[ -x "$bin/loadgen" ] || { log "no $bin/loadgen: run without --skip-build"; exit 1; }

stamp="$(date -u +%Y%m%dT%H%M%S)"
for r in $(seq 1 "$rounds"); do
    for provider in twilio telnyx; do
        f="$out/$stamp-$provider-$r.json"
        log "round $r/$rounds, $provider: $calls calls, $connections callers, ${gap_ms} ms between steps (load $(cut -d' ' -f1 /proc/loadavg))"
        "$bin/loadgen" --voice --provider "$provider" --calls "$calls" \
            --connections "$connections" --step-gap-ms "$gap_ms" --json > "$f"
    done
    if [ "$streams" -gt 0 ]; then
        for provider in twilio telnyx; do
            f="$out/$stamp-rt-$provider-$r.json"
            log "round $r/$rounds, $provider: $streams media streams for $stream_secs s (load $(cut -d' ' -f1 /proc/loadavg))"
            "$bin/loadgen" --realtime --only streams --provider "$provider" \
                --streams "$streams" --duration "$stream_secs" --json > "$f"
        done
    fi
done

python3 - "$out" "$stamp" "$rounds" "$streams" <<'EOF'
import json, statistics, sys
out, stamp, rounds, streams = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def load(provider, r):
    with open(f"{out}/{stamp}-{provider}-{r}.json") as f:
        return json.load(f)

def twilio_rows(j):
    s = j["steps"]
    return [
        ("incoming → greeting TwiML", s["incoming"]["latency_ms"], s["incoming"]["errors"]),
        ("speech → closing TwiML", s["gather"]["latency_ms"], s["gather"]["errors"]),
        ("status callback → ack", s["status"]["latency_ms"], s["status"]["errors"]),
        ("answers (both TwiML)", j["answers_latency_ms"], None),
    ]

def telnyx_rows(j):
    e = j["events"]
    rows = []
    for name, label in [
        ("call.initiated", "call.initiated → answer"),
        ("call.answered", "call.answered → gather_using_speak"),
        ("call.transcription", "call.transcription → gather_stop"),
        ("call.speak.ended", "call.speak.ended → hangup"),
    ]:
        rows.append((label, e[name]["first_command_ms"], e[name]["errors"]))
    rows.append(("call.transcription → speak (last)", e["call.transcription"]["last_command_ms"], None))
    rows.append(("call.hangup → HTTP 200", e["call.hangup"]["answer_ms"], e["call.hangup"]["errors"]))
    rows.append(("all events → first command", j["first_command_ms"], None))
    return rows

def check(j):
    store = j.get("store_matches_answers", j.get("store_matches_events"))
    return f'{j["calls_whole"]}/{j["calls_placed"]} calls whole, {j["errors"]} errors, store {"matches" if store else "DOES NOT match" if store is False else "not checked"}, target {"MET" if j["target_met"] else "NOT MET"}'

for provider, rows_of in [("twilio", twilio_rows), ("telnyx", telnyx_rows)]:
    runs = [load(provider, r) for r in range(1, rounds + 1)]
    print(f"\n{provider}: {runs[0]['connections']} callers, {runs[0]['calls_planned']} calls per round")
    for r, j in enumerate(runs, 1):
        print(f"  round {r}: {check(j)}")
    print(f"  {'what (ms)':<38} {'count':>7} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}   (median of {rounds} rounds; p99 per round)")
    per_round = [rows_of(j) for j in runs]
    for k, (label, _, _) in enumerate(per_round[0]):
        lat = [pr[k][1] for pr in per_round]
        med = lambda key: statistics.median(l[key] for l in lat)
        count = lat[0].get("count", lat[0].get("answered"))
        p99s = " / ".join(f"{l['p99']:.2f}" for l in lat)
        print(f"  {label:<38} {count:>7} {med('p50'):>7.2f} {med('p90'):>7.2f} {med('p99'):>7.2f} {med('max'):>7.2f}   ({p99s})")
if streams > 0:
    print(f"\nreal-time: {streams} media streams, frame written → handler saw it (in) and handler sent → echo read (out), ms")
    print(f"  {'provider':<8} {'round':>5} {'frames':>7} {'lost':>5} {'in p50':>7} {'in p99':>7} {'out p50':>7} {'out p99':>7} {'p99.9 in/out':>14}  target")
    for provider in ["twilio", "telnyx"]:
        for r in range(1, rounds + 1):
            with open(f"{out}/{stamp}-rt-{provider}-{r}.json") as f:
                s = json.load(f)["streams"]
            i, o = s["inbound_ms"], s["outbound_ms"]
            lost = s["frames_not_seen"] + s["echoes_not_read"]
            print(f"  {provider:<8} {r:>5} {s['frames_written']:>7} {lost:>5} {i['p50']:>7.3f} {i['p99']:>7.3f} {o['p50']:>7.3f} {o['p99']:>7.3f} {i['p999']:>6.2f}/{o['p999']:<6.2f}  {'MET' if s['target_met'] else 'NOT MET'}")
print(f"\nraw JSON: {out}/{stamp}-*.json")
EOF

# Shared by the benchmark scripts (sourced, not run): building the release binaries once
# and copying them out, so a baseline built from another checkout cannot be confused with
# the head's. The caller sets `cargo`, `bin`, `out` and `repo`, and defines `log`.

# `cargo build --release "$@"` in the current directory; each binary it names is copied to
# "$bin/<name>$suffix" (a wrapper such as a CARGO that picks its own target directory is
# fine: the paths come from cargo's own messages).
build_and_copy() {
    local suffix="$1"; shift
    $cargo build --release --message-format=json-render-diagnostics "$@" \
        | python3 -c '
import json, shutil, sys
bin_dir, suffix = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable") if m.get("reason") == "compiler-artifact" else None
    if exe:
        name = m["target"]["name"]
        shutil.copy2(exe, f"{bin_dir}/{name}{suffix}")
        print(f"{exe} -> {bin_dir}/{name}{suffix}", file=sys.stderr)
' "$bin" "$suffix"
}

# Builds the head's `telephony` (as "$bin/telephony-head") and `loadgen`, and with a
# baseline commit ($1, may be empty) that commit's `telephony` (as
# "$bin/telephony-baseline"), in a git worktree of its own whose binary is copied out at
# once; then checks that the binaries are there.
build_head_and_baseline() {
    local baseline="$1"
    log "building release telephony and loadgen at $(git -C "$repo" rev-parse --short HEAD)"
    (cd "$repo" && build_and_copy "" -p telephony-cli -p telephony-benches --bin telephony --bin loadgen)
    mv "$bin/telephony" "$bin/telephony-head"
    if [ -n "$baseline" ]; then
        local wt="$out/baseline-src"
        rm -rf "$wt"
        git -C "$repo" worktree prune
        git -C "$repo" worktree add --detach "$wt" "$baseline" >&2
        log "building release telephony at $baseline"
        (cd "$wt" && build_and_copy "-baseline" -p telephony-cli --bin telephony)
        git -C "$repo" worktree remove --force "$wt"
    fi
}

# Exits unless the head's binaries (and the baseline's, with $1) are in "$bin".
require_binaries() {
    local baseline="$1"
    [ -x "$bin/telephony-head" ] && [ -x "$bin/loadgen" ] || { log "no binaries in $bin: run without --skip-build"; exit 1; }
    if [ -n "$baseline" ] && [ ! -x "$bin/telephony-baseline" ]; then
        log "no baseline binary in $bin: run without --skip-build"; exit 1
    fi
}

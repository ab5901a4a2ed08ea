#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named after the seconds) for N seconds each.
#
#   scripts/fuzz.sh            # 30 s per target
#   scripts/fuzz.sh 300        # 5 minutes per target
#   scripts/fuzz.sh 60 config markdown
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Builds into
# $CARGO_TARGET_DIR (default: a separate fuzz-target directory, so the sanitizer build never
# invalidates the normal one). Crashes land in fuzz/artifacts/<target>/; the script stops
# at the first target that finds one and exits non-zero.
set -euo pipefail

seconds="${1:-30}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/fuzz/target}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# One build for every target (they share their dependencies).
cargo +nightly fuzz build
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    if [ -d "seeds/$t" ]; then
        seeds=("seeds/$t")
    fi
    echo "== $t: ${seconds}s"
    cargo +nightly fuzz run "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$seconds" -print_final_stats=1
done

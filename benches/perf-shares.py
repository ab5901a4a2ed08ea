#!/usr/bin/env python3
"""Summarize a `perf record -g` profile of the gateway: top frames by self time and the
share of samples per subsystem (issue 23).

    perf script -i perf.data -F comm,tid,ip,sym,dso | benches/perf-shares.py [--top 25]

Each sample is a stack, leaf first. Three views:

* **self**: the leaf frame (where the CPU was), top N by share;
* **subsystem**: the sample is counted under the first frame, walking from the leaf towards
  the root, that names a subsystem below (so a `malloc` called by sqlx counts as SQLite, a
  `malloc` called by the tracing formatter as logging); samples whose stack names none are
  `kernel/other` (leaf in the kernel) or `other`;
* **cross-cutting**: samples whose *leaf* is in the allocator, whose stack goes through the
  kernel's futex wait/wake or scheduler (thread hand-offs), and by thread name.

Patterns are on demangled symbol names (perf demangles Rust's legacy and v0 manglings).
"""
import argparse
import collections
import re
import sys

# First match wins, in this order, for each frame from the leaf up.
SUBSYSTEMS = [
    ("logging", re.compile(r"tracing_subscriber|tracing_core|tracing::|core::fmt::|alloc::fmt::format|<std::io::stdio|std::io::Write::write_fmt|LineWriter")),
    ("metrics", re.compile(r"telephony_serve::metrics|HistogramCell")),
    ("SQLite (sqlite3 + sqlx + flume)", re.compile(r"^sqlite3|^sqlite3_|^sqlite3[A-Z]|^wal[A-Z]|^pcache|^btree|^balance_|^vdbe|^pager|^unixWrite|^unixSync|^unixRead|sqlx_sqlite|sqlx_core|flume::|telephony_store::sqlite")),
    ("serialization (JSON, form, codec)", re.compile(r"serde_json|serde_urlencoded|form_urlencoded|percent_encoding|telephony_store::codec|telephony_store::extras|serde::")),
    ("signature + parse (provider)", re.compile(r"telephony_twilio|telephony_telnyx|hmac|sha1|sha2|base64")),
    ("dispatch (worker, policy, forward)", re.compile(r"telephony_serve::worker|telephony_serve::dispatch|telephony_serve::sender_policy")),
    ("webhook handler + limits", re.compile(r"telephony_serve::routes|telephony_serve::rate_limit|telephony_serve::security|telephony_serve::limits|telephony_serve::gateway")),
    ("HTTP (hyper, axum, listener)", re.compile(r"hyper::|hyper_util|axum::|axum_core|http::|h2::|tower::|telephony_serve::.*listener|Framing")),
    ("tokio runtime", re.compile(r"tokio::")),
]
ALLOC = re.compile(r"^(malloc|free|cfree|realloc|calloc|_int_malloc|_int_free|_int_realloc|malloc_consolidate|unlink_chunk|tcache_|__libc_malloc|__libc_free|__libc_calloc|__libc_realloc|mi_|_mi_|__rust_alloc|__rust_dealloc|__rust_realloc|alloc::alloc::)")
HANDOFF = re.compile(r"futex_wake|futex_wait|__schedule|schedule$|finish_task_switch|try_to_wake_up|ttwu_|select_task_rq")


def parse(stream):
    """Yields (comm, frames) per sample; frames are (sym, dso), leaf first."""
    comm, frames = None, []
    header = re.compile(r"^(\S.*?)\s+(\d+)\s*$")
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            m = header.match(line)
            comm = m.group(1) if m else line.split()[0]
            frames = []
            continue
        parts = line.strip().split(None, 1)
        rest = parts[1] if len(parts) > 1 else "[unknown]"
        m = re.match(r"^(.*?)(?:\+0x[0-9a-f]+)?\s+\((.*)\)$", rest)
        sym, dso = (m.group(1), m.group(2)) if m else (rest, "?")
        frames.append((sym, dso))
    if comm is not None:
        yield comm, frames


def short(sym):
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    return sym if len(sym) <= 110 else sym[:107] + "..."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    total = 0
    leaf = collections.Counter()
    subsystem = collections.Counter()
    threads = collections.Counter()
    alloc = handoff = kernel = 0
    for comm, frames in parse(sys.stdin):
        if not frames:
            continue
        total += 1
        sym, dso = frames[0]
        leaf[(short(sym), dso.rsplit("/", 1)[-1])] += 1
        threads[re.sub(r"\d+$", "", comm)] += 1
        if ALLOC.search(sym):
            alloc += 1
        in_kernel = "kernel" in dso
        kernel += in_kernel
        if any(HANDOFF.search(s) for s, d in frames if "kernel" in d):
            handoff += 1
        name = None
        for s, _ in frames:
            for label, pat in SUBSYSTEMS:
                if pat.search(s):
                    name = label
                    break
            if name:
                break
        subsystem[name or ("kernel/other" if in_kernel else "other")] += 1
    if not total:
        sys.exit("no samples")
    pct = lambda n: f"{100.0 * n / total:.1f} %"
    print(f"samples: {total}\n")
    print("| frame (self) | object | share |\n|---|---|---|")
    for (sym, dso), n in leaf.most_common(args.top):
        print(f"| `{sym}` | {dso} | {pct(n)} |")
    print("\n| subsystem (innermost named frame) | share |\n|---|---|")
    for name, n in subsystem.most_common():
        print(f"| {name} | {pct(n)} |")
    print("\n| cross-cutting | share |\n|---|---|")
    print(f"| leaf in the allocator (malloc/free family) | {pct(alloc)} |")
    print(f"| through futex wait/wake or the scheduler (thread hand-offs) | {pct(handoff)} |")
    print(f"| leaf in the kernel | {pct(kernel)} |")
    for t, n in threads.most_common(6):
        print(f"| thread `{t}` | {pct(n)} |")


if __name__ == "__main__":
    main()

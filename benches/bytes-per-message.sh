#!/usr/bin/env bash
# Bytes per stored inbound message of SQLite data directories (issue 22): checkpoints each
# directory's WAL into its database (TRUNCATE, so the WAL is empty), then divides the
# directory's size by the inbox's rows.
#
#   benches/replicas.sh --configs sqlite --rounds 1 --baseline <commit>   # fills the runs
#   benches/bytes-per-message.sh /tmp/telephony-replicas-bench/run-sqlite*-r1/replica-1/telephony-data
#
# Needs the sqlite3 command-line shell. Run it on stopped gateways' directories.
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,9p' "$0"; exit 2; }
command -v sqlite3 >/dev/null || { echo "bytes-per-message.sh: sqlite3 is required" >&2; exit 1; }
printf 'directory\trows\tbytes\tbytes/message\n'
for dir in "$@"; do
    db="$dir/telephony.db"
    [ -f "$db" ] || { echo "bytes-per-message.sh: no $db" >&2; exit 1; }
    sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
    rows="$(sqlite3 "$db" 'SELECT count(*) FROM inbox;')"
    bytes="$(du -sb "$dir" | cut -f1)"
    [ "$rows" -gt 0 ] || { echo "bytes-per-message.sh: $db has no inbound messages" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' "$dir" "$rows" "$bytes" "$((bytes / rows))"
done

#!/usr/bin/env bash
# query_load.sh HOOKVAULT DATA_DIR N: the loader of `scripts/bench query`. Creates DATA_DIR,
# runs `HOOKVAULT migrate --data-dir DATA_DIR` and fills the empty database with N events (and
# their idempotency keys, deliveries, attempts and some request_log rows) through sqlite3 and
# bench.d/query_load.sql; received_at ends about now. Prints "LOAD seconds=S db_bytes=B" and
# checks the counts (exit 1 when one is off).
set -euo pipefail
hookvault="$1" data_dir="$2" n="$3"
dir="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$data_dir"
"$hookvault" migrate --data-dir "$data_dir" >/dev/null
db="$data_dir/hookvault.db"
[ -f "$db" ] || { echo "query_load.sh: no $db after migrate" >&2; exit 1; }
[ "$(sqlite3 "$db" 'select count(*) from events')" -eq 0 ] ||
  { echo "query_load.sh: $db is not empty" >&2; exit 1; }
# The last event is received 1 s ago; one ms apart before it.
t0=$(( $(date +%s%6N) - 1000000 - n * 1000 ))
start="$(date +%s.%N)"
sqlite3 -bail -cmd "CREATE TEMP TABLE p AS SELECT $n AS n, $t0 AS t0" "$db" \
  ".read $dir/query_load.sql" >/dev/null
seconds="$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
IFS='|' read -r events maxseq latest failed_events deliveries failed_deliveries attempts \
  attempts_bad keys requests mode < <(sqlite3 "$db" "
  select (select count(*) from events), (select max(seq) from events),
         (select seq from sqlite_sequence where name = 'events'),
         (select count(*) from events where status = 'failed'),
         (select count(*) from deliveries),
         (select count(*) from deliveries where status = 'failed'),
         (select count(*) from attempts),
         (select count(*) from attempts where destination is null or event_seq is null),
         (select count(*) from idempotency_keys), (select count(*) from request_log),
         (select journal_mode from pragma_journal_mode)")
echo "  loaded in ${seconds} s: $events events ($failed_events failed), $deliveries deliveries" \
  "($failed_deliveries failed), $attempts attempts, $keys idempotency keys, $requests request_log rows;" \
  "journal_mode $mode; database $(du -m "$db" | cut -f1) MiB"
bad=0
[ "$events" -eq "$n" ] && [ "$maxseq" -eq "$n" ] && [ "$latest" -eq "$n" ] || bad=1
[ "$deliveries" -eq $((2 * n)) ] && [ "$keys" -eq "$n" ] && [ "$attempts_bad" -eq 0 ] || bad=1
[ "$mode" = wal ] || bad=1
# An event is failed exactly when one of its deliveries is.
inconsistent="$(sqlite3 "$db" "select (select count(*) from events where status = 'failed') -
  (select count(distinct event_seq) from deliveries where status = 'failed') +
  (select count(*) from deliveries d join events e on e.seq = d.event_seq
   where d.status = 'failed' and e.status <> 'failed')")"
[ "$inconsistent" -eq 0 ] || bad=1
if [ "$bad" -ne 0 ]; then
  echo "query_load.sh: counts off (events $events, max seq $maxseq, sqlite_sequence $latest," \
    "deliveries $deliveries, keys $keys, attempts without destination $attempts_bad," \
    "journal_mode $mode, inconsistent event status $inconsistent)" >&2
  exit 1
fi
echo "LOAD seconds=$seconds db_bytes=$(stat -c %s "$db") events=$events failed_events=$failed_events" \
  "deliveries=$deliveries failed_deliveries=$failed_deliveries attempts=$attempts requests=$requests"

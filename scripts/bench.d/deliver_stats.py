#!/usr/bin/env python3
"""Figures for `scripts/bench deliver`, from hookvault's SQLite database and the sink's file.

    deliver_stats.py DB SINK_FILE

SINK_FILE holds one "webhook-id receive_time_us" line per request the sink received (see
tests/tools/bench_sink.cc). Prints one line "STATS key=value ..." with:
  events, deliveries, succeeded, pending, failed   rows in events / deliveries
  attempts, failed_attempts                          rows in attempts (outcome 'failure')
  sink_requests, sink_unique, sink_unknown           sink lines; distinct ids; ids not events
  window_s, deliveries_per_s                         first to last sink receive; succeeded / it
  ingest_window_s                                    first to last events.received_at
  tail_s                                             last received_at to last sink receive
  lag_n, lag_missing, lag_p50_ms ... lag_max_ms      per event: its first sink receive minus
                                                     events.received_at (both wall clock, us)
  keys, order_violations                             distinct "key" members of the bodies; the
                                                     events whose first sink receive came before
                                                     that of an event of their key with a lower
                                                     seq (0: FIFO per key held)
Percentiles are nearest-rank. Standard library only.
"""
import math
import sqlite3
import sys


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[k - 1]


def main():
    db, sink_file = sys.argv[1], sys.argv[2]
    first_seen = {}
    times = []
    with open(sink_file) as f:
        for line in f:
            wid, _, us = line.strip().partition(" ")
            if not us:
                continue
            us = int(us)
            times.append(us)
            if wid not in first_seen or us < first_seen[wid]:
                first_seen[wid] = us

    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    one = lambda q: con.execute(q).fetchone()[0]
    out = {}
    out["events"] = one("select count(*) from events")
    out["deliveries"] = one("select count(*) from deliveries")
    for s in ("succeeded", "pending", "failed"):
        out[s] = one("select count(*) from deliveries where status = '%s'" % s)
    out["attempts"] = one("select count(*) from attempts")
    out["failed_attempts"] = one("select count(*) from attempts where outcome = 'failure'")
    received = dict(con.execute("select id, received_at from events"))
    keyed = con.execute("select id, seq, json_extract(cast(body as text), '$.key') from events"
                        " order by seq").fetchall()
    con.close()

    out["sink_requests"] = len(times)
    out["sink_unique"] = len(first_seen)
    out["sink_unknown"] = sum(1 for wid in first_seen if wid not in received)
    window = (max(times) - min(times)) / 1e6 if len(times) > 1 else 0.0
    out["window_s"] = "%.3f" % window
    out["deliveries_per_s"] = "%.0f" % (out["succeeded"] / window if window > 0 else 0)
    if received:
        rs = list(received.values())
        out["ingest_window_s"] = "%.3f" % ((max(rs) - min(rs)) / 1e6)
        out["tail_s"] = "%.3f" % (((max(times) if times else max(rs)) - max(rs)) / 1e6)
    lags = sorted((first_seen[i] - r) / 1000.0 for i, r in received.items() if i in first_seen)
    out["lag_n"] = len(lags)
    out["lag_missing"] = len(received) - len(lags)
    for name, p in (("p50", 50), ("p95", 95), ("p99", 99)):
        out["lag_%s_ms" % name] = "%.1f" % pct(lags, p)
    out["lag_max_ms"] = "%.1f" % (lags[-1] if lags else float("nan"))
    last_by_key = {}
    violations = 0
    for wid, _, key in keyed:
        if key is None or wid not in first_seen:
            continue
        if first_seen[wid] < last_by_key.get(key, 0):
            violations += 1
        last_by_key[key] = max(last_by_key.get(key, 0), first_seen[wid])
    out["keys"] = len(last_by_key)
    out["order_violations"] = violations
    print("STATS " + " ".join("%s=%s" % kv for kv in out.items()))


if __name__ == "__main__":
    main()

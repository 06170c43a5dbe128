#!/usr/bin/env python3
"""The one summary of `scripts/bench`: the machine, and every figure of the run in one table.

    summary.py start META_FILE COMMAND BINARIES
        Writes META_FILE (JSON): the machine (nproc, CPU model, RAM, kernel, OS), the load
        average now (before the benchmarks), the UTC time, the git commit and whether the tree
        is dirty, COMMAND (how the run was started), BINARIES (where the binaries came from)
        and the first 16 hex digits of the SHA-256 of the hookvault beside META_FILE.
    summary.py finish META_FILE OUT_DIR NAME...
        Reads META_FILE and OUT_DIR/bench-NAME.json of each benchmark NAME that ran, writes them
        combined to OUT_DIR/bench.json ("machine", "run", "summary": the rows of the table,
        "processes": peak RSS and WAL size of every process stopped, "benchmarks": each
        benchmark's own JSON unchanged), then reads bench.json back and prints the table from
        it, so the table and the JSON cannot disagree. Exit 1 when a file is missing or not
        valid JSON, or names another benchmark.

Standard library only.
"""
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_first(path, key):
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() == key:
                    return v.strip()
    except OSError:
        pass
    return None


def git(*args):
    try:
        return subprocess.run(["git", "--no-optional-locks", *args], capture_output=True,
                              text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def start(meta_file, command, binaries):
    mem_kb = read_first("/proc/meminfo", "MemTotal")
    mem_kb = int(mem_kb.split()[0]) if mem_kb else None
    with open("/proc/loadavg") as f:
        load = [float(x) for x in f.read().split()[:3]]
    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain")
    hookvault = os.path.join(os.path.dirname(meta_file), "hookvault")
    sha = None
    if os.path.exists(hookvault):
        with open(hookvault, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()[:16]
    meta = {
        "machine": {
            "nproc": len(os.sched_getaffinity(0)),
            "cpu_model": (read_first("/proc/cpuinfo", "model name")
                          or read_first("/proc/cpuinfo", "Hardware") or platform.machine()),
            "mem_total_kb": mem_kb,
            "kernel": platform.release(),
            "os": os_name(),
            "loadavg_before": load,
        },
        "run": {
            "command": command,
            "binaries": binaries,
            "hookvault_sha256_16": sha,
            "started": utc_now(),
            "git_commit": commit.strip() if commit else None,
            "git_dirty": bool(status.strip()) if status is not None else None,
            "git_changed_paths": len(status.splitlines()) if status is not None else None,
        },
    }
    with open(meta_file, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


# --- rows of the table, from each benchmark's own JSON ------------------------------------

def fmt(v, digits=None):
    if v is None:
        return "?"
    if digits is not None:
        return "%.*f" % (digits, v)
    return str(v)


def ms(v):
    return "?" if v is None else "%.2f" % v


def cpu(v):
    return "?" if v is None else "%.1f us" % v


def latency(r):
    """req/s, p50, p99 and, when the run measured it, the server's CPU per request."""
    text = "%s req/s, p50 %s ms, p99 %s ms" % (fmt(r.get("req_per_s")), ms(r.get("p50_ms")),
                                               ms(r.get("p99_ms")))
    if "cpu_us_per_req" in r:
        text += ", CPU %s/req" % cpu(r["cpu_us_per_req"])
    return text


def row(part, measure, result, goal=None, met=None, **figures):
    return {"part": part, "measure": measure, "result": result, "goal": goal, "met": met,
            "figures": figures}


def rows_ingest(j):
    runs = j["runs"]
    b, h, u = runs["batched"], runs["healthz"], runs["unbatched"]
    ratio, gain = j["ingest_over_healthz"], j["batched_over_unbatched"]
    setup = "%s conns, %s B bodies, %s s" % (j["connections"], j["body_bytes"], j["duration_s"])
    keep = ("req_per_s", "p50_ms", "p99_ms", "cpu_us_per_req")
    pick = lambda r: {k: r[k] for k in keep if k in r}
    inter = j.get("interleaved")
    median = " (median of 3 interleaved with healthz)" if inter else ""
    out = [
        row("ingest", "POST /webhooks, max_batch 512 (%s)%s" % (setup, median), latency(b),
            **pick(b)),
        row("ingest", "GET /healthz, same server%s" % (" (median of 3)" if inter else ""),
            latency(h), **pick(h)),
        row("ingest", "ingest / healthz throughput%s" % (" (medians)" if inter else ""),
            fmt(ratio["value"]) + ("" if not inter else " (pairs: %s)" % ", ".join(
                fmt(p["throughput_ratio"], 2) for p in inter["pairs"])),
            ">= %s" % ratio["goal"], ratio["met"], value=ratio["value"]),
    ]
    c = j.get("cpu_ingest_over_healthz")
    if c:
        out.append(row("ingest", "ingest / healthz server CPU per request (medians)",
                       fmt(c["value"]) + " (%s / %s; pairs: %s)" % (
                           cpu(b.get("cpu_us_per_req")), cpu(h.get("cpu_us_per_req")),
                           ", ".join(fmt(p["cpu_ratio"], 2) for p in inter["pairs"])),
                       "<= %s" % c["goal"], c["met"], value=c["value"]))
    f, fr = runs.get("floor"), j.get("http_floor")
    if f and fr:
        out.append(row("ingest", "HTTP floor: the same requests to no route, answered 404 without "
                       "storage (median of 3 interleaved)", latency(f), **pick(f)))
        out.append(row("ingest", "HTTP floor / healthz (medians): throughput, CPU per request",
                       "%s, %s; ingest is %s/req above the floor, the CPU goal leaves %s/req" % (
                           fmt(fr["throughput_over_healthz"]), fmt(fr["cpu_over_healthz"]),
                           cpu(fr["ingest_cpu_above_floor_us"]),
                           cpu(fr["cpu_goal_left_above_floor_us"])),
                       **{k: fr[k] for k in ("throughput_over_healthz", "cpu_over_healthz",
                                             "ingest_cpu_above_floor_us",
                                             "cpu_goal_left_above_floor_us")}))
    t = j.get("cpu_us_per_req_by_thread")
    if t:
        out.append(row("ingest", "server CPU per request by thread (medians; others: reactors, main)",
                       "ingest: writer %s, checkpointer %s, others %s; floor: others %s; healthz: "
                       "others %s" % (cpu(t["batched"]["hv_writer"]), cpu(t["batched"]["hv_checkpoint"]),
                                      cpu(t["batched"]["others"]), cpu(t["floor"]["others"]),
                                      cpu(t["healthz"]["others"])),
                       **{"%s_%s" % (k, n): t[k][n] for k in ("batched", "floor", "healthz")
                          for n in ("hv_writer", "hv_checkpoint", "others")}))
    r = j.get("rate80")
    if r:
        out.append(row("ingest", "POST /webhooks at a constant 80 %% of the median: %s/s, %s conns, "
                       "latency from the intended send time" % (r["target_per_s"], r["connections"]),
                       "p99 %s ms (p50 %s, p99.9 %s, max %s ms; achieved %s/s, CPU %s/req)" % (
                           ms(r["p99_ms"]), ms(r["p50_ms"]), ms(r["p999_ms"]), ms(r["max_ms"]),
                           fmt(r["achieved_per_s"]), cpu(r["cpu_us_per_req"])),
                       "p99 <= %s ms" % r["goal_p99_ms"], r["met"],
                       **{k: r[k] for k in ("target_per_s", "achieved_per_s", "p50_ms", "p99_ms",
                                            "p999_ms", "max_ms", "cpu_us_per_req")}))
    return out + [
        row("ingest", "POST /webhooks, max_batch 1, fresh server", latency(u), **pick(u)),
        row("ingest", "group-commit gain (max_batch 512 / 1)", "%sx" % fmt(gain["value"]),
            ">= %sx" % gain["goal"], gain["met"], value=gain["value"]),
    ] + rows_booking(j)


def rows_booking(j):
    """Ingest runs 4-6 (one booking: token, + schema, GitHub signature) and the in-process
    cost per event of the two checks; absent from the JSON of runs before issue 17."""
    runs, out = j["runs"], []
    size = j.get("booking_bytes")
    for key, what in (("booking_plain", "POST a %s B booking, token only, fresh server" % size),
                      ("booking_schema", "the same, + JSON Schema (booking.schema.json)"),
                      ("booking_github", "the same, GitHub signature instead of a token")):
        if key in runs:
            out.append(row("ingest", what, latency(runs[key]),
                           **{k: runs[key][k] for k in ("req_per_s", "p50_ms", "p99_ms",
                                                        "cpu_us_per_req") if k in runs[key]}))
    if "in_process_us_per_event" in j:
        out += rows_verify_figures("ingest", j["in_process_us_per_event"])
    return out


def rows_verify_figures(part, v):
    us = lambda x: "?" if x is None else "%.2f us/event" % x
    return [
        row(part, "in-process: VerifySignature github, 1 KiB body", us(v["github_signature_1kib"]),
            us_per_event=v["github_signature_1kib"]),
        row(part, "in-process: PayloadSchema::Validate, %s B booking" % fmt(v["payload_bytes"]),
            us(v["schema_validate"]), us_per_event=v["schema_validate"]),
        row(part, "in-process: parsing that booking (for scale)", us(v["parse_payload"]),
            us_per_event=v["parse_payload"]),
    ]


def rows_verify(j):
    return rows_verify_figures("verify", j["us_per_event"])


def rows_deliver(j):
    t, lag = j["throughput"], j["lag"]
    d, lp = j["deliveries_per_s"], j["lag_p95_ms"]
    return [
        row("deliver", "deliveries/s, %s events, 1 destination, concurrency %s"
            % (t["n"], j["destination"]["concurrency"]),
            "%s/s (%s delivered in %s s%s)" % (
                fmt(d["value"]), t["succeeded"], t["window_s"],
                ", server CPU %s/delivery" % cpu(t["server_cpu_us_per_delivery"])
                if "server_cpu_us_per_delivery" in t else ""),
            ">= %s/s" % d["goal"], d["met"], value=d["value"],
            cpu_us_per_delivery=t.get("server_cpu_us_per_delivery")),
        row("deliver", "lag received -> sink, %s events/s for %s s"
            % (lag["rate_per_s"], lag["duration_s"]),
            "p50 %s ms, p95 %s ms, p99 %s ms" % (fmt(lag["p50_ms"]), fmt(lag["p95_ms"]),
                                                 fmt(lag["p99_ms"])),
            "p95 <= %s ms" % lp["goal"], lp["met"],
            p50_ms=lag["p50_ms"], p95_ms=lag["p95_ms"], p99_ms=lag["p99_ms"]),
    ]


QUERY_LABELS = {
    "ev_source": "GET /events?source=...",
    "ev_type": "GET /events?type=...",
    "ev_failed": "GET /events?status=failed",
    "ev_deep": "GET /events?source=..., 99 % down",
    "dl_failed": "GET /deliveries?status=failed",
    "dl_failed_1000": "GET /deliveries?status=failed&limit=1000",
    "q_healthz": "GET /healthz, same server",
}


def rows_query(j):
    out = []
    n = j["events"]
    for key, r in j["lists"].items():
        goal = r.get("goal")
        label = "%s, %s events" % (QUERY_LABELS.get(key, r["path"]), n)
        result = "p99 %s ms (p50 %s ms, %s req/s%s)" % (
            ms(r["p99_ms"]), ms(r["p50_ms"]), fmt(r["req_per_s"]),
            ", CPU %s/req" % cpu(r["cpu_us_per_req"]) if "cpu_us_per_req" in r else "")
        figures = dict(p99_ms=r["p99_ms"], p50_ms=r["p50_ms"], req_per_s=r["req_per_s"],
                       cpu_us_per_req=r.get("cpu_us_per_req"))
        if goal:
            out.append(row("query", label, result, "p99 <= %s ms" % goal["p99_ms_max"],
                           goal["met"], **figures))
        else:
            out.append(row("query", label, result,
                           "(reference)" if key == "q_healthz" else "(no goal)", None, **figures))
    f = j["feed"]
    feed_cpu = ""
    if "cpu_us_per_event" in f:
        feed_cpu = ", server CPU %s/event, %.2f ms/page" % (
            cpu(f["cpu_us_per_event"]),
            f["cpu_us_per_page"] / 1000.0 if f["cpu_us_per_page"] is not None else float("nan"))
    out.append(row("query", "feed, one consumer, 1000 per page, %s events" % n,
                   "%s events/s (%s MB/s, page p99 %s ms%s)" % (
                       fmt(f["events_per_s"]), fmt(f["mb_per_s"]), fmt(f["page_p99_ms"]),
                       feed_cpu),
                   ">= %s/s" % f["goal"], f["met"], value=f["events_per_s"],
                   cpu_us_per_event=f.get("cpu_us_per_event"),
                   cpu_us_per_page=f.get("cpu_us_per_page")))
    return out


def rows_wal(j):
    mib = lambda b: "%.1f" % (b / 1048576.0)
    return [
        row("wal", "sustained ingest, %s s, max_batch 512" % j["duration_s"], latency(j),
            req_per_s=j["req_per_s"], p50_ms=j["p50_ms"], p99_ms=j["p99_ms"]),
        row("wal", "-wal file: largest / at the end of the run",
            "%s / %s MiB" % (mib(j["wal_max_bytes"]), mib(j["wal_end_bytes"])),
            "< %s MiB" % (j["goal_bytes"] // 1048576), j["met"],
            wal_max_bytes=j["wal_max_bytes"], wal_end_bytes=j["wal_end_bytes"]),
    ]


def rows_reprocess(j):
    runs = j["runs"]
    b, d = runs["base"], runs["during"]
    keep = ("req_per_s", "p50_ms", "p99_ms", "max_ms")
    with_max = lambda r: "%s, max %s ms" % (latency(r), ms(r.get("max_ms")))
    return [
        row("reprocess", "POST /webhooks, %s conns, no reprocess (baseline)" % j["connections"],
            with_max(b), **{k: b[k] for k in keep}),
        row("reprocess", "POST /webhooks during a reprocess of %s deliveries" % j["deliveries"],
            with_max(d), **{k: d[k] for k in keep}),
        row("reprocess", "reprocess answered / its dry run (no ingest)",
            "%s s / %s s" % (fmt(j["reprocess_s"]), fmt(j["dry_run_s"])),
            reprocess_s=j["reprocess_s"], dry_run_s=j["dry_run_s"]),
    ]


def rows_cluster(j):
    out = []
    for key, r in j["runs"].items():
        name = "%s, %s node%s" % ("SQLite" if r["backend"] == "sqlite" else "PostgreSQL",
                                  r["nodes"], "s" if r["nodes"] > 1 else "")
        keep = ("req_per_s", "p50_ms", "p99_ms", "node_cpu_ms_per_event",
                "postgres_cpu_ms_per_event", "mean_batch")
        out.append(row("cluster", "ingest, %s (%s conns over the nodes)" % (name, j["connections"]),
                       "%s; CPU/event node %s ms + db %s ms" % (
                           latency(r), fmt(r["node_cpu_ms_per_event"]),
                           fmt(r["postgres_cpu_ms_per_event"])),
                       **{k: r[k] for k in keep}))
        out.append(row("cluster", "deliveries/s, %s, %s events" % (name, j["deliver_n"]),
                       "%s/s" % fmt(r["deliveries_per_s"]),
                       deliveries_per_s=r["deliveries_per_s"]))
    return out


def rows_amqp(j):
    return [row("amqp", "deliveries/s, %s events, %s destination, concurrency %s"
                % (j["n"], name, j["concurrency"]),
                "%s/s, %s us CPU/event%s" % (fmt(j[name]["deliveries_per_s"]),
                                            j[name]["server_cpu_us_per_event"],
                                            "" if j[name]["broker_cpu_us_per_event"] is None
                                            else ", broker %s us/event"
                                            % j[name]["broker_cpu_us_per_event"]),
                value=j[name]["deliveries_per_s"])
            for name in ("http", "amqp")]


ROWS = {"ingest": rows_ingest, "deliver": rows_deliver, "query": rows_query, "wal": rows_wal,
        "reprocess": rows_reprocess, "cluster": rows_cluster, "verify": rows_verify,
        "amqp": rows_amqp}


def finish(meta_file, out_dir, names):
    with open(meta_file) as f:
        meta = json.load(f)
    meta["run"]["finished"] = utc_now()
    benchmarks, summary, processes, errors = {}, [], [], []
    for name in names:
        path = os.path.join(out_dir, "bench-%s.json" % name)
        try:
            with open(path) as f:
                j = json.load(f)
        except (OSError, ValueError) as e:
            print("scripts/bench: %s: %s" % (path, e), file=sys.stderr)
            return 1
        if j.get("benchmark") != name:
            print("scripts/bench: %s names benchmark %r" % (path, j.get("benchmark")),
                  file=sys.stderr)
            return 1
        benchmarks[name] = j
        summary += ROWS[name](j)
        for key, p in j.get("processes", {}).items():
            processes.append(dict(p, benchmark=name, key=key))
        if j.get("errors"):
            errors.append(name)
    combined = dict(meta, benchmarks_run=names, errors=errors, summary=summary,
                    processes=processes, benchmarks=benchmarks)
    out = os.path.join(out_dir, "bench.json")
    with open(out + ".tmp", "w") as f:
        json.dump(combined, f, indent=2)
        f.write("\n")
    os.replace(out + ".tmp", out)
    with open(out) as f:  # the table is printed from what was written
        print_table(json.load(f), out)
    return 0


def table(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def print_table(b, path):
    m, r = b["machine"], b["run"]
    mem = "%.1f GiB RAM" % (m["mem_total_kb"] / 1048576.0) if m["mem_total_kb"] else "RAM ?"
    dirty = ("dirty: %s paths changed" % r["git_changed_paths"] if r["git_dirty"]
             else "clean" if r["git_dirty"] is not None else "?")
    print()
    print("== summary of scripts/bench: %s" % " ".join(b["benchmarks_run"]))
    print("machine:  %s cores (nproc), %s, %s, kernel %s, %s" % (
        m["nproc"], m["cpu_model"], mem, m["kernel"], m["os"] or "OS ?"))
    print("load average before (1, 5, 15 min): %s" % " ".join("%.2f" % x for x in m["loadavg_before"]))
    print("run:      %s to %s UTC; git %s (tree %s)" % (r["started"], r["finished"],
                                                       r["git_commit"] or "?", dirty))
    print("command:  %s   (binaries: %s)" % (r["command"], r["binaries"]))
    print()
    table(["part", "measure", "result", "goal", "verdict"],
          [[s["part"], s["measure"], s["result"], s["goal"] or "",
            "" if s["met"] is None else "met" if s["met"] else "NOT MET"] for s in b["summary"]])
    print()
    mib = lambda kb: "?" if kb is None else "%.1f" % (kb / 1024.0)
    wal = lambda by: "-" if by is None else "%.1f" % (by / 1048576.0)
    table(["process", "kind", "peak RSS MiB (VmHWM)", "RSS at stop MiB", "-wal at stop MiB"],
          [[p["label"], "hookvault" if p["kind"] == "server" else "bench sink",
            mib(p["peak_rss_kb"]), mib(p["rss_kb_at_stop"]), wal(p["wal_bytes_at_stop"])]
           for p in b["processes"]])
    print()
    if b["errors"]:
        print("!! errors in: %s (see above): those figures are not valid" % ", ".join(b["errors"]))
    print("figures of this table: %s (per benchmark: bench-<name>.json beside it)"
          % os.path.relpath(path))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "start":
        start(*sys.argv[2:5])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "finish":
        return finish(sys.argv[2], sys.argv[3], sys.argv[4:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Steady load for `scripts/bench deliver`: POSTs unique ~1 KiB events at a fixed rate.

    steady_post.py URL TOKEN RATE SECONDS NONCE [BODY_BYTES] [WORKERS]

Event i (0-based) is due at start + i / RATE. WORKERS threads (default 8), each with its own
keep-alive http.client connection, take the next event number and send it when due, so one
slow answer does not hold back the schedule. Nothing is timed per request (the lag is
measured at the sink); the one output line, "STEADY key=value ...", says how many were sent
and answered 2xx, the errors, and how well the schedule was kept (sends started more than
5 ms late, the latest start). Standard library only.
"""
import http.client
import sys
import threading
import time
import urllib.parse


def main():
    url, token, rate, seconds, nonce = sys.argv[1:6]
    rate, seconds = float(rate), float(seconds)
    body_bytes = int(sys.argv[6]) if len(sys.argv) > 6 else 1024
    workers = int(sys.argv[7]) if len(sys.argv) > 7 else 8
    parts = urllib.parse.urlsplit(url)
    total = int(round(rate * seconds))
    pad = "abcdefghijklmnopqrstuvwxyz0123456789" * (body_bytes // 36 + 1)

    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "non2xx": 0, "errors": 0, "late": 0, "max_late": 0.0}
    start = time.monotonic() + 0.2  # every worker connected and waiting before event 0

    def body_for(i):
        head = '{"event":"bench.steady","id":"%s-%d","n":%d,"data":"' % (nonce, i, i)
        tail = '"}'
        return (head + pad[: max(0, body_bytes - len(head) - len(tail))] + tail).encode()

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while True:
            with lock:
                i = state["next"]
                if i >= total:
                    break
                state["next"] = i + 1
            body = body_for(i)
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            late = time.monotonic() - due
            headers = {
                "Content-Type": "application/json",
                "x-auth-token": token,
                "Idempotency-Key": "%s-%d" % (nonce, i),
            }
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                good = 200 <= resp.status < 300
                err = False
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                good, err = False, True
            with lock:
                if err:
                    state["errors"] += 1
                elif good:
                    state["ok"] += 1
                else:
                    state["non2xx"] += 1
                if late > 0.005:
                    state["late"] += 1
                state["max_late"] = max(state["max_late"], late)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print("STEADY sent=%d ok=%d non2xx=%d errors=%d late_5ms=%d max_late_ms=%.1f elapsed_s=%.2f"
          % (total, state["ok"], state["non2xx"], state["errors"], state["late"],
             state["max_late"] * 1000, elapsed))


if __name__ == "__main__":
    main()

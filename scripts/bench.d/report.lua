-- Shared by the wrk scripts of scripts/bench (loaded with dofile). It numbers wrk's threads,
-- counts each thread's responses by status class in response(), and makes done() print one
-- machine-readable "BENCH ..." line that scripts/bench parses. Latencies are in microseconds.

-- Main state: number the threads and keep them so that done() can read their counters.
bench_threads = {}
function setup(thread)
  table.insert(bench_threads, thread)
  thread:set("thread_no", #bench_threads)
end

-- Thread states: counters, read back by done() through thread:get().
thread_no, n_2xx, n_other = 0, 0, 0

function response(status, headers, body)
  if status >= 200 and status < 300 then
    n_2xx = n_2xx + 1
  else
    n_other = n_other + 1
  end
end

function done(summary, latency, requests)
  local ok, other = 0, 0
  for _, t in ipairs(bench_threads) do
    ok = ok + (t:get("n_2xx") or 0)
    other = other + (t:get("n_other") or 0)
  end
  io.write(string.format(
    "BENCH requests=%d duration_us=%d ok=%d non2xx=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect_err=%d read_err=%d write_err=%d timeout_err=%d\n",
    summary.requests, summary.duration, ok, other,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end

-- wrk script for `scripts/bench deliver`: ingest.lua's unique ~1 KiB events, but exactly N in
-- all. Each wrk thread POSTs its share of N, then sends only GET /healthz (stores nothing) and
-- stops itself once every one of its POSTs has been answered. wrk's main thread still sleeps
-- for -d, so scripts/bench interrupts wrk (SIGINT) once SQLite holds N events.
-- Arguments (after `--`): run nonce, source token, body size in bytes, N (total events),
-- number of wrk threads (as given to -t), and optionally the number of ordering keys (bodies
-- then carry "key":"k<i>", i cycling over them; see ingest.lua).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "ingest.lua")  -- init(), request(); report.lua's setup(), response(), done()

local ingest_init, ingest_request, report_response = init, request, response
local total, threads, quota, posted, answered = 0, 1, nil, 0, 0
local healthz

function init(args)
  ingest_init(args)
  total = tonumber(args[4] or "0")
  threads = tonumber(args[5] or "1")
  order_keys = tonumber(args[6] or "0")
  order_key_stride = threads
  healthz = wrk.format("GET", "/healthz", {["Connection"] = "keep-alive"})
end

-- wrk 4.x calls request() once on the first thread's Lua state before the run, to check the
-- request for pipelining, and never sends that one: it must not count against the quota.
local verify_call_pending = true

function request()
  if not quota then  -- thread_no (1-based) is set by report.lua's setup() before any request
    quota = math.floor(total / threads) + ((thread_no <= total % threads) and 1 or 0)
  end
  if verify_call_pending then
    verify_call_pending = false
    if thread_no == 1 then return ingest_request() end  -- wrk's check: not sent
  end
  if posted < quota then
    posted = posted + 1
    return ingest_request()
  end
  return healthz
end

function response(status, headers, body)
  report_response(status, headers, body)
  if body ~= '{"status":"ok"}' then  -- an answer to a POST, not to GET /healthz
    answered = answered + 1
    if answered >= quota then wrk.thread:stop() end
  end
end

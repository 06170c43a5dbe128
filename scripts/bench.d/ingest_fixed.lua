-- wrk script for scripts/bench ingest runs 4-6: POSTs one fixed JSON body read from a file
-- (bench.d/booking.payload.json: the same bytes every time, so a signature computed once over
-- them stays valid) with one extra header (the source token, or GitHub's X-Hub-Signature-256)
-- and a unique Idempotency-Key (run nonce + wrk thread number + per-thread counter), so that
-- every request stores a new event rather than answering as a duplicate.
-- Arguments (after `--`): run nonce, header name, header value, body file.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")  -- setup(), response(), done(); sets thread_no per thread

local nonce, counter, body = "run", 0, ""
local headers = {}

function init(args)
  nonce = args[1] or tostring(os.time())
  headers["Content-Type"] = "application/json"
  headers["Connection"] = "keep-alive"
  headers[args[2]] = args[3]
  local file = assert(io.open(args[4], "rb"))
  body = file:read("*a")
  file:close()
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = string.format("%s-%d-%d", nonce, thread_no, counter)
  return wrk.format("POST", nil, headers, body)
end

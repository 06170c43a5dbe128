-- wrk script for scripts/bench: POSTs ~1 KiB JSON webhooks, each with a unique body and a
-- unique Idempotency-Key (run nonce + wrk thread number + per-thread counter), so that every
-- request stores a new event rather than answering as a duplicate.
-- Arguments (after `--`): run nonce, source token, body size in bytes (default 1024).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")  -- setup(), response(), done(); sets thread_no per thread

local nonce, body_bytes, counter = "run", 1024, 0
local headers = {}
local pad = string.rep("abcdefghijklmnopqrstuvwxyz0123456789", 64)

function init(args)
  nonce = args[1] or tostring(os.time())
  headers["Content-Type"] = "application/json"
  headers["Connection"] = "keep-alive"
  headers["x-auth-token"] = args[2] or ""
  body_bytes = tonumber(args[3] or "1024")
end

function request()
  counter = counter + 1
  local id = string.format("%s-%d-%d", nonce, thread_no, counter)
  local head = string.format(
    '{"event":"bench.ingest","id":"%s","thread":%d,"n":%d,"data":"', id, thread_no, counter)
  local tail = '"}'
  headers["Idempotency-Key"] = id
  return wrk.format("POST", nil, headers,
                    head .. pad:sub(1, math.max(0, body_bytes - #head - #tail)) .. tail)
end

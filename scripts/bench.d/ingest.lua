-- wrk script for scripts/bench: POSTs ~1 KiB JSON webhooks, each with a unique body and a
-- unique Idempotency-Key (run nonce + wrk thread number + per-thread counter), so that every
-- request stores a new event rather than answering as a duplicate.
-- Arguments (after `--`): run nonce, source token, body size in bytes (default 1024).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")  -- setup(), response(), done(); sets thread_no per thread

local nonce, body_bytes, counter = "run", 1024, 0
-- When > 0 (set by a wrapper such as deliver_ingest.lua), each body carries "key":"k<i>", i
-- cycling over this many keys: an ordered destination's ordering key (`scripts/bench deliver`).
order_keys, order_key_stride = 0, 1
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
  local key = ""
  if order_keys > 0 then
    key = string.format('"key":"k%d",', (counter * order_key_stride + thread_no) % order_keys)
  end
  local head = string.format(
    '{"event":"bench.ingest","id":"%s","thread":%d,"n":%d,%s"data":"', id, thread_no, counter, key)
  local tail = '"}'
  headers["Idempotency-Key"] = id
  return wrk.format("POST", nil, headers,
                    head .. pad:sub(1, math.max(0, body_bytes - #head - #tail)) .. tail)
end

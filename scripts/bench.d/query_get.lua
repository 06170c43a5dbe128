-- wrk script for `scripts/bench query`: GET of the URL given to wrk (path and query string as
-- is) with keep-alive and, when a token is given, "Authorization: Bearer TOKEN". Counting and
-- the BENCH summary line come from report.lua, as for the other benchmarks.
-- Arguments (after `--`): API token (optional: none for /healthz).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")

local req

function init(args)
  local headers = {["Connection"] = "keep-alive"}
  if args[1] and args[1] ~= "" then headers["Authorization"] = "Bearer " .. args[1] end
  req = wrk.format("GET", wrk.path, headers)
end

function request()
  return req
end

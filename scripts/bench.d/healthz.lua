-- wrk script for scripts/bench: GET /healthz with keep-alive (Pistache 0.0.5 closes the
-- connection after each response unless the client asks for keep-alive). Counting and the
-- summary line come from report.lua, as for ingest, so both runs cost wrk the same per response.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "GET"
wrk.headers["Connection"] = "keep-alive"

-- wrk script for `scripts/bench cluster`: another script of this directory (BENCH_BASE, default
-- ingest.lua; deliver_ingest.lua for exactly N events), with wrk's threads spread round-robin
-- over several hookvault nodes: thread k connects to node (k - 1) mod n of BENCH_NODES
-- ("127.0.0.1:PORT 127.0.0.1:PORT ..."), as a load balancer with one pool per node would. The
-- URL given to wrk only names the first node (and the Host header, which hookvault ignores).
-- Arguments (after `--`): those of BENCH_BASE.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. (os.getenv("BENCH_BASE") or "ingest.lua"))

local nodes = {}
for host, port in (os.getenv("BENCH_NODES") or ""):gmatch("([^%s:]+):(%d+)") do
  table.insert(nodes, wrk.lookup(host, port)[1])
end

local base_setup = setup  -- report.lua's: numbers the threads (bench_threads)
function setup(thread)
  base_setup(thread)
  if #nodes > 0 then thread.addr = nodes[(#bench_threads - 1) % #nodes + 1] end
end

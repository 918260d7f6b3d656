-- ingest.lua spread over several evkit nodes: wrk thread i sends to entry
-- (i - 1) mod n of $WRK_NODES ("127.0.0.1:PORT,127.0.0.1:PORT,..."), so
-- with as many threads as nodes (or a multiple) each node gets the same
-- share of the connections. Used by bench/cluster.
dofile((os.getenv("WRK_DIR") or "bench/wrk") .. "/ingest.lua")

local base_setup = setup
local nodes = nil
local assigned = 0

function setup(thread)
  base_setup(thread)
  if not nodes then
    nodes = {}
    for hostport in string.gmatch(os.getenv("WRK_NODES") or "", "[^,]+") do
      local host, port = string.match(hostport, "^(.+):(%d+)$")
      local addrs = wrk.lookup(host, port)
      assert(addrs and #addrs > 0, "cannot resolve " .. hostport)
      nodes[#nodes + 1] = addrs[1]
    end
  end
  if #nodes > 0 then
    thread.addr = nodes[assigned % #nodes + 1]
    assigned = assigned + 1
  end
end

-- Two hosts in one process, each on its own reactor that catches signals, against a simulator
-- on a third reactor that does not. Once both stream, the process sends itself SIGTERM; each
-- host must see it, close its connections and finish. Prints one line per host, then "done".
-- Run by spec/unit/signals_spec.lua: luajit spec/helpers/two_hosts.lua BUILD_DIR
package.cpath = (arg[1] or "build") .. "/lua/?.so;" .. package.cpath
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
local ffi = require("ffi")
local feedhost = require("feedhost")
local reactor = require("feedhost.runtime.reactor")
local logmod = require("feedhost.util.log")
ffi.cdef("int getpid(void); int kill(int pid, int sig);")

local R0 = assert(reactor.new())
local sim = require("feedhost.sim.alpaca").new(R0, { key = "k2", secret = "s2-secret", rate = 50 })
assert(sim:start())

local hosts, records = {}, { 0, 0 }
for i = 1, 2 do
  hosts[i] = assert(feedhost.new({
    spec = "specs/alpaca.lua", connections = { "market_data" }, signals = true, assets = { "AAPL" },
    credentials = { api_key = "k2", api_secret = "s2-secret" }, urls = { market_data = sim:url() },
    log = logmod.new({ level = "info", sink = function(l) io.stderr:write("host", i, " ", l, "\n") end }),
    on_record = function() records[i] = records[i] + 1 end,
  }))
end

local sent = false
local deadline = reactor.now() + 10
while reactor.now() < deadline and not (hosts[1]:finished() and hosts[2]:finished()) do
  R0:step(5)
  hosts[1]:step(5)
  hosts[2]:step(5)
  if not sent and records[1] > 0 and records[2] > 0 then
    sent = true
    ffi.C.kill(ffi.C.getpid(), 15)
  end
end
for i = 1, 2 do
  local st = hosts[i]:stats().market_data
  print(string.format("host%d finished=%s state=%s records=%d", i, tostring(hosts[i]:finished()),
    st.state, records[i]))
end
for i = 1, 2 do
  hosts[i]:close()
end
sim:stop()
R0:free()
print("done")

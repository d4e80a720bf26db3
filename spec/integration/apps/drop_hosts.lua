-- An application that embeds hosts of every transport, drops them without closing them and ends
-- the way busted does: os.exit(code, true), which closes the Lua state. spec/integration/
-- exit_spec.lua runs it several times against real servers and wants exit status 0 each time.
--
-- Closing the state runs every finalizer: the hosts' loops and watches, then the C modules'
-- handles, which unloads feedhost/core.so (dlclose) while threads the core started (the watchdog,
-- paho's, ZeroMQ's) are still alive. A finalizer made before the core was loaded runs after that
-- unload (userdata are finalized newest first) and takes HOLD seconds, as the end of a big state's
-- lua_close does: an unloaded core crashes in that window, every time instead of now and then.
--
-- Environment: FEEDHOST_BUILD (the build directory), DROP_HOLD (seconds, default 0.3), MQTT_URL,
-- SIO_URL, DWX_PUB/DWX_PULL/DWX_PUSH (as spec/integration/specs/dwx_local.lua reads them).
-- Prints "up <what>" for each host once it got what it should, then "dropping".
package.path = "lua/?.lua;lua/?/init.lua;spec/integration/specs/?.lua;" .. package.path
package.cpath = (os.getenv("FEEDHOST_BUILD") or "build") .. "/lua/?.so;" .. package.cpath
io.stdout:setvbuf("line")

local hold = tonumber(os.getenv("DROP_HOLD") or "") or 0.3
local late = newproxy(true)
getmetatable(late).__gc = function()
  local until_ = os.clock() + hold
  while os.clock() < until_ do
  end
end
_G.DROP_HOSTS_LATE = late   -- alive until the state closes

local feedhost = require("feedhost")
local reactor = require("feedhost.runtime.reactor")
local logmod = require("feedhost.util.log")

local log = logmod.new({ level = "none" })
local got = {}
local function count(what)
  got[what] = 0
  return function()
    got[what] = got[what] + 1
  end
end

-- WebSocket server and client: the simulator on a reactor of its own, specs/alpaca.lua against
-- it with the spec's files watched (inotify) and the loop's descriptor asked for (the pollset)
local R = assert(reactor.new({ log = log }))
local sim = require("feedhost.sim.alpaca").new(R, { key = "k", secret = "s", rate = 50, log = log })
assert(sim:start())
local hosts = {}
hosts.ws = assert(feedhost.new({ spec = "specs/alpaca.lua", connections = { "market_data" },
  credentials = { api_key = "k", api_secret = "s" }, urls = { market_data = sim:url() },
  assets = { "AAPL" }, watch = true, log = log, on_record = count("ws") }))
assert(hosts.ws:fd())
hosts.mqtt = assert(feedhost.new({ spec = "spec/integration/specs/mqtt_feed.lua", trusted = true,
  credentials = { username = "u", password = "p" }, urls = { feed = os.getenv("MQTT_URL") },
  assets = { "AAPL" }, log = log, on_record = count("mqtt") }))
hosts.zmq = assert(feedhost.new({ spec = "spec/integration/specs/dwx_local.lua", trusted = true,
  assets = { "EURUSD" }, log = log, on_record = count("zmq") }))
hosts.sio = assert(feedhost.new({ spec = "spec/integration/specs/sio_v4.lua",
  credentials = { token = "TOK" }, urls = { ticks = os.getenv("SIO_URL") }, assets = { "AAPL" },
  log = log, on_record = count("sio") }))
-- an HTTP request on the simulator's reactor, answered or not
local sim_port = tonumber(sim:url():match(":(%d+)"))
assert(R:open("http", { host = "127.0.0.1", port = sim_port, path = "/", method = "GET" }, {}))

local deadline = reactor.now() + 20
local up = {}
repeat
  R:step(0)
  for name, h in pairs(hosts) do
    h:step(5)
    if not up[name] and got[name] > 0 then
      up[name] = true
      print("up " .. name)
    end
  end
  local all = true
  for name in pairs(hosts) do
    all = all and up[name]
  end
until all or reactor.now() > deadline
for name in pairs(hosts) do
  if not up[name] then
    io.stderr:write("no record from the ", name, " host in 20 s\n")
    os.exit(3)
  end
end

-- half dropped now (collected: their finalizers run in the collector's order), the rest left to
-- the state's close; nothing is closed
print("dropping")
hosts.ws, hosts.zmq = nil, nil
collectgarbage()
collectgarbage()
os.exit(0, true)

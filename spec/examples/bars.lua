-- An application with an event loop of its own (luv) that embeds feedhost: 1-minute bars of AAPL,
-- MSFT and TSLA, printed from the store as they close (1 to 2 seconds after their minute).
--
--   luajit spec/examples/bars.lua [--url ws://...] [--interval SECS] [--duration SECS]
--
-- Plain luajit and the installed module (cmake --install build --prefix /usr/local): no path set.
-- Without --url the exchange is the simulator, in this process, speaking Alpaca's protocol.
local uv = require("luv")
local feedhost = require("feedhost")

local opt = {}
for i = 1, #arg - 1, 2 do
  opt[arg[i]:match("^%-%-(.+)$") or arg[i]] = arg[i + 1]
end
local interval = tonumber(opt.interval or "60")

-- one reactor for the host and, without --url, the simulator beside it
local R = assert(require("feedhost.runtime.reactor").new())
local url = opt.url
if not url then
  local sim = require("feedhost.sim.alpaca").new(R, { key = "demo-key", secret = "demo-secret", rate = 20 })
  assert(sim:start())
  url = sim:url()
end

local function show(bar)
  print(string.format("%s %-5s %ds  open %.2f  high %.2f  low %.2f  close %.2f  volume %d  (%d ticks)",
    os.date("!%H:%M:%S", math.floor(tonumber(bar.start) / 1e9)), bar.symbol, bar.interval,
    bar.open, bar.high, bar.low, bar.close, bar.volume, bar.ticks))
  io.stdout:flush()
end

local host = assert(feedhost.new({
  spec = "specs/alpaca.lua", connections = { "market_data" }, reactor = R,
  credentials = { api_key = "demo-key", api_secret = "demo-secret" },
  urls = { market_data = url }, assets = { "AAPL", "MSFT", "TSLA" }, log_level = "warning",
  store = { intervals = { interval }, on_bar = show },
}))

-- the application's loop: feedhost's descriptor, and timers of the application's own
local poll = uv.new_poll(assert(host:fd()))
poll:start("r", function() host:step(0) end)
local status = uv.new_timer()
status:start(10000, 10000, function()
  local q, st = host.store:quote("AAPL"), host:stats().market_data
  io.stderr:write(string.format("%s: %d records, AAPL bid %s ask %s\n", st.state, st.records,
    q and q.bid or "-", q and q.ask or "-"))
end)
local stop = uv.new_timer()
if opt.duration then
  stop:start(tonumber(opt.duration) * 1000, 0, function() uv.stop() end)
end
local sigint = uv.new_signal()
sigint:start("sigint", function() uv.stop() end)
uv.run()
host:close()

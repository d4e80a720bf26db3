--- feedhost demo: the embedded simulator and specs/alpaca.lua streaming from it.
local args = require("feedhost.cli.args")
local run = require("feedhost.cli.run")

local M = { name = "demo", npos = 0,
  options = { rate = "value", assets = "value", output = "value", ["stats-interval"] = "value",
    ["log-level"] = "value", duration = "value", ["output-wait"] = "value",
    ["output-buffer"] = "value" } }

M.help = [[
usage: feedhost demo [--rate N] [--assets A,B] [--output ndjson|none] [--stats-interval SECS]
                     [--duration SECS] [--output-wait SECS] [--output-buffer MIB]

Starts the embedded exchange simulator (a WebSocket server speaking Alpaca's market-data
protocol on 127.0.0.1) and runs specs/alpaca.lua against it, unchanged but for the URL:
records stream on stdout, a stats line on stderr. Ctrl-C stops it. --rate: data messages a second
(default 5); --output-wait and --output-buffer: as for `feedhost run`.
]]

function M.run(opts)
  local log, lerr = args.logger(opts, "info")
  if not log then
    return args.report("demo", lerr)
  end
  local key, secret = "demo-key", "demo-secret"
  opts.assets = opts.assets or "AAPL,MSFT,TSLA"
  opts.connection = "market_data"
  -- the simulator runs on the host's own reactor, beside the feed
  local R, rerr = require("feedhost.runtime.reactor").new({ log = log })
  if not R then
    return args.report("demo", rerr, 1)
  end
  local sim = require("feedhost.sim.alpaca").new(R, { key = key, secret = secret,
    rate = tonumber(opts.rate or "5"), log = log:child("simulator") })
  local port, serr = sim:start()
  if not port then
    R:free()
    return args.report("demo", serr, 1)
  end
  local output, oerr = args.ndjson_output(opts.output, log, opts)
  if oerr then
    R:free()
    return args.report("demo", oerr)
  end
  local host, rc = run.host("demo", opts, { spec = "specs/alpaca.lua", log = log,
    output = output, credentials = { api_key = key, api_secret = secret },
    urls = { market_data = sim:url() }, reactor = R })
  if not host then
    R:free()
    return rc
  end
  log:info("simulator listening on %s; streaming %s through specs/alpaca.lua", sim:url(), opts.assets)
  local code = run.drive("demo", host, log, tonumber(opts["stats-interval"] or "5"), tonumber(opts.duration or ""))
  sim:stop()
  R:free()
  return code
end

return M

--- feedhost simulate: only the simulator, until a signal.
local args = require("feedhost.cli.args")

local M = { name = "simulate", npos = 0,
  options = { port = "value", host = "value", rate = "value", key = "value", secret = "value",
    seed = "value", symbols = "value", ["bars-every"] = "value", ["log-level"] = "value" } }

M.help = [[
usage: feedhost simulate [--port N] [--host H] [--rate R] [--key K] [--secret S] [--seed N]
                         [--symbols A,B] [--bars-every SECS] [--log-level LEVEL]

Runs the embedded Alpaca market data v2 simulator until SIGINT / SIGTERM. Clients connect to
the printed URL, authenticate with the key and secret (default demo-key / demo-secret) and
subscribe as on Alpaca; each gets R data messages a second (default 20) of its symbols.
]]

function M.run(opts)
  for _, k in ipairs({ "port", "rate", "seed", "bars-every" }) do
    if opts[k] and not tonumber(opts[k]) then
      return args.report("simulate", "option --" .. k .. " needs a number")
    end
  end
  local log, lerr = args.logger(opts, "info")
  if not log then
    return args.report("simulate", lerr)
  end
  local reactor = require("feedhost.runtime.reactor")
  local R, rerr = reactor.new({ log = log })
  if not R then
    return args.report("simulate", rerr, 1)
  end
  local sim = require("feedhost.sim.alpaca").new(R, {
    host = opts.host, port = tonumber(opts.port), rate = tonumber(opts.rate),
    key = opts.key, secret = opts.secret, seed = tonumber(opts.seed),
    symbols = opts.symbols and args.split_list(opts.symbols) or nil,
    bars_every = tonumber(opts["bars-every"]), log = log:child("simulator"),
  })
  local port, lerr = sim:start()
  if not port then
    R:free()
    return args.report("simulate", lerr, 1)
  end
  local running = true
  R:catch_signals(function() running = false end)
  io.stdout:write("simulator listening on ", sim:url(), "\n")
  io.stdout:flush()
  while running do
    R:step(1000)
  end
  sim:stop(1001, "simulator shutting down")
  -- let the close frames go out
  local deadline = reactor.now() + 0.5
  while reactor.now() < deadline and R:step(50) > 0 do
  end
  local st = sim:stats()
  log:info("simulator stopped: %d connections, %d messages sent, %d received", st.connections,
    st.sent, st.received)
  R:free()
  return 0
end

return M

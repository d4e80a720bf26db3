--- feedhost bench-client: the `custom` client of ../shared/bench/run.sh. Connects to the load
-- generator (no auth, no subscribe: it streams on connect), runs every message through the
-- spec's compiled pipeline and prints one JSON line when the server closes.
local args = require("feedhost.cli.args")
local run = require("feedhost.cli.run")
local bench = require("feedhost.cli.bench")

local M = { name = "bench-client", npos = 0,
  options = { port = "value", path = "value", spec = "value", connection = "value", host = "value",
    socketio = "flag", eio = "value", events = "flag" } }

M.help = [[
usage: feedhost bench-client --port N [--path P] [--host H] [--spec SPEC] [--connection NAME]
                             [--socketio] [--eio 3|4] [--events]

The `custom` client of ../shared/bench/run.sh: connects to ws://H:N/P (default host 127.0.0.1),
runs every message through the connection's compiled pipeline (default specs/alpaca.lua,
market_data) without auth or subscribe (the load generator streams on connect), and when the
server closes prints one JSON line: {"impl","msgs","payload_bytes","records","size_sum","errors",
"secs","msg_per_s","rec_per_s","mb_per_s","cpu_secs"}. Timing starts at the first message.
--socketio: the same pipeline over Socket.IO (http://H:N/P: spec/bench/sio_gen.js sends each
message as an event); --events routes by event name instead of the spec's router (the message's
event `m` to the data channel), so every frame's topic is read.
]]

function M.run(opts)
  if not opts.port then
    io.stderr:write(M.help)
    return 2
  end
  local name = opts.connection or "market_data"
  local acc = bench.sink()
  local log = require("feedhost.util.log").new({ level = "warning" })
  opts.connection = name
  local url = string.format("%s://%s:%s%s", opts.socketio and "http" or "ws", opts.host or "127.0.0.1",
    opts.port, opts.path or "/")
  local cpu0
  local host, rc = run.host("bench-client", opts, { spec = opts.spec or "specs/alpaca.lua", log = log,
    urls = { [name] = url }, once = true, lenient_credentials = true,
    on_record = function(r)
      cpu0 = cpu0 or os.clock()
      return acc.emit(r)
    end,
    -- the generator streams on connect: no auth, no subscribe, no credentials
    adjust = function(spec)
      local conn = spec.streaming.connections[name]
      if conn then
        conn.auth, conn.subscribe = nil, nil
        if opts.socketio then
          conn.backend = { type = "socketio", options = { eio = tonumber(opts.eio) or 4 } }
          if opts.events then   -- every event to one channel whose converter rules tell T apart
            conn.router, conn.events = nil, { data = "m" }
            local rules = {}
            for _, ch in ipairs({ "data", "quote" }) do
              for _, r in ipairs(conn.converters[ch] or {}) do
                rules[#rules + 1] = r
              end
            end
            conn.streams, conn.converters = { "data" }, { data = rules }
          end
        end
      end
      spec.credentials = nil
    end })
  if not host then
    return rc
  end
  host:run()
  local st = host:stats()[name]
  local secs = require("feedhost.runtime.reactor").now() - (st.first_frame_at or 0)
  if secs <= 0 then
    secs = 1e-9
  end
  io.stdout:write(string.format('{"role":"client","impl":"feedhost","msgs":%d,"payload_bytes":%d,'
    .. '"records":%d,"size_sum":%d,"errors":%d,"secs":%.3f,"msg_per_s":%.0f,"rec_per_s":%.0f,'
    .. '"mb_per_s":%.1f,"cpu_secs":%.3f}\n', st.frames, st.bytes, acc.nrec, acc.size_sum, st.errors,
    secs, st.frames / secs, acc.nrec / secs, st.bytes / secs / 1e6, os.clock() - (cpu0 or os.clock())))
  host:close()
  return 0
end

return M

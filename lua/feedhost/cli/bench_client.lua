--- feedhost bench-client: the `custom` client of ../shared/bench/run.sh, and the MQTT and
-- ZeroMQ subscriber of spec/bench/mq/run.py. Connects to the load generator (no auth: it
-- streams on connect, or on the subscription), runs every message through the spec's compiled
-- pipeline and prints one JSON line when the server closes or --msgs messages came.
local args = require("feedhost.cli.args")
local run = require("feedhost.cli.run")
local bench = require("feedhost.cli.bench")

local M = { name = "bench-client", npos = 0,
  options = { port = "value", path = "value", spec = "value", connection = "value", host = "value",
    socketio = "flag", eio = "value", events = "flag", backend = "value", connect = "value",
    topic = "value", msgs = "value", idle = "value" } }

M.help = [[
usage: feedhost bench-client --port N [--path P] [--host H] [--spec SPEC] [--connection NAME]
                             [--socketio] [--eio 3|4] [--events]
       feedhost bench-client --backend mqtt|zmq --connect URL [--topic T] --msgs N [--idle SECS]

The `custom` client of ../shared/bench/run.sh: connects to ws://H:N/P (default host 127.0.0.1),
runs every message through the connection's compiled pipeline (default specs/alpaca.lua,
market_data) without auth or subscribe (the load generator streams on connect), and when the
server closes prints one JSON line: {"impl","msgs","payload_bytes","records","size_sum","errors",
"secs","msg_per_s","rec_per_s","mb_per_s","cpu_secs"}. Timing starts at the first message.
--socketio: the same pipeline over Socket.IO (http://H:N/P: spec/bench/sio_gen.js sends each
message as an event); --events routes by event name instead of the spec's router (the message's
event `m` to the data channel), so every frame's topic is read.

With --backend, the same pipeline takes its messages over MQTT (--connect tcp://host:port; it
subscribes topic T at QoS 0, default "bench/#") or ZeroMQ (--connect an endpoint; a SUB socket
with prefix T, default everything). It stops once --msgs messages arrived or were dropped (or
after --idle seconds without one, default 5); "secs" is then first to last message, and the line
also has "dropped".
]]

-- The connection rewired to the MQTT broker or the ZeroMQ publisher of the benchmark.
local function over(conn, backend, url, topic)
  conn.url = url
  if backend == "mqtt" then
    conn.backend = { type = "mqtt", options = { client_id = "feedhost-bench-{random}", qos = 0 } }
    conn.subscribe = { subscribe = { all = { format = "json", topics = { value = topic or "bench/#" } } } }
  else
    conn.backend = { type = "zmq", options = { socket_type = "SUB", subscribe_filter = topic or "",
      rcvhwm = 0 } }
    conn.subscribe = nil
  end
end

-- Steps the host until `msgs` messages came (or were dropped), or none for `idle` seconds.
local function until_count(host, name, msgs, idle)
  local now = require("feedhost.runtime.reactor").now
  local last, seen = now(), -1
  while true do
    host:step(50)
    local st = host:stats()[name]
    local n = st.frames + st.dropped
    if n >= msgs then
      return
    end
    if n ~= seen then
      seen, last = n, now()
    elseif now() - last > idle then
      return
    end
  end
end

function M.run(opts)
  local backend = opts.backend
  if not (opts.port or (backend and opts.connect)) or (backend and backend ~= "mqtt" and backend ~= "zmq") then
    io.stderr:write(M.help)
    return 2
  end
  local name = opts.connection or "market_data"
  local acc = bench.sink()
  local log = require("feedhost.util.log").new({ level = "warning" })
  opts.connection = name
  local url = opts.connect or string.format("%s://%s:%s%s", opts.socketio and "http" or "ws",
    opts.host or "127.0.0.1", opts.port, opts.path or "/")
  local msgs = tonumber(opts.msgs or "")
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
        if backend then
          over(conn, backend, url, opts.topic)
        end
      end
      spec.credentials = nil
    end })
  if not host then
    return rc
  end
  if msgs then
    until_count(host, name, msgs, tonumber(opts.idle or "5"))
  else
    host:run()
  end
  local st = host:stats()[name]
  local t_end = msgs and st.last_frame_at or require("feedhost.runtime.reactor").now()
  local secs = (t_end or 0) - (st.first_frame_at or 0)
  if secs <= 0 then
    secs = 1e-9
  end
  io.stdout:write(string.format('{"role":"client","impl":"feedhost","msgs":%d,"payload_bytes":%d,'
    .. '"records":%d,"size_sum":%d,"errors":%d,"dropped":%d,"secs":%.3f,"msg_per_s":%.0f,'
    .. '"rec_per_s":%.0f,"mb_per_s":%.1f,"cpu_secs":%.3f}\n', st.frames, st.bytes, acc.nrec,
    acc.size_sum, st.errors, st.dropped, secs, st.frames / secs, acc.nrec / secs,
    st.bytes / secs / 1e6, os.clock() - (cpu0 or os.clock())))
  host:close()
  return 0
end

return M

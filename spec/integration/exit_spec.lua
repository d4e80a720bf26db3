-- The exit of a process that embeds feedhost: hosts of every transport (WebSocket client and
-- server, Socket.IO, HTTP, MQTT, ZeroMQ, the file watch, the pollset of host:fd()) running
-- against real servers (mosquitto, the DWX peer, python3-socketio, the simulator), dropped
-- without a close, then the Lua state closed by os.exit(code, true) as busted closes its own.
-- The application is spec/integration/apps/drop_hosts.lua; it holds the end of the close open
-- for a moment, so a core unloaded under a thread it started (the watchdog ticks every 100 ms)
-- crashes there every time.
local it_ = require("spec.helpers.integration")
local brokers = require("spec.helpers.brokers")

local RUNS = 3
local TOKEN = "TOK"

describe("an application's exit", function()
  after_each(function()
    it_.cleanup()
  end)

  it("hosts of every transport dropped without close, then lua_close: exit status 0, "
    .. RUNS .. " runs of " .. RUNS, function()
    local t = it_.tmpdir()
    local broker = brokers.mosquitto(t)
    -- retained: each run's subscription gets it at once
    local ok = os.execute(string.format("mosquitto_pub -h 127.0.0.1 -p %d -q 1 -r -t trades/AAPL"
      .. " -m '{\"t\":1700000000000,\"p\":\"1.5\",\"s\":1}' >/dev/null 2>&1", broker.port))
    assert(ok == 0 or ok == true, "mosquitto_pub failed")
    local dwx = brokers.dwx_peer(t, {})
    local sio = it_.peer(t, "sio_py", { it_.PYTHON, "spec/integration/servers/sio_server.py" },
      { "--token", TOKEN, "--rate", "20" })
    local env = dwx:env({ MQTT_URL = broker:url(), SIO_URL = "http://127.0.0.1:" .. sio.port,
      FEEDHOST_BUILD = os.getenv("FEEDHOST_BUILD") or "build" })
    local argv = { "env" }
    for k, v in pairs(env) do
      argv[#argv + 1] = k .. "=" .. v
    end
    argv[#argv + 1] = "luajit"
    argv[#argv + 1] = "spec/integration/apps/drop_hosts.lua"
    for run = 1, RUNS do
      local app = it_.spawn(t, "drop_hosts", argv)
      local rc = app:wait_exit(60)
      assert(rc == 0, string.format("run %d of %d: exit status %s (139: SIGSEGV)\n%s", run, RUNS,
        tostring(rc), app:describe()))
      for _, what in ipairs({ "ws", "mqtt", "zmq", "sio" }) do
        assert.matches("up " .. what .. "\n", app:stdout())
      end
      assert.matches("dropping\n", app:stdout())
    end
  end)
end)

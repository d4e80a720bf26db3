-- A JSON feed over MQTT for the integration tests (spec/integration/mqtt_spec.lua): one topic per
-- asset ("trades/AAPL"), payloads {"t": epoch ms, "p": "price", "s": sequence}. The login is the
-- credentials' username and password (no auth block). Knobs from the environment:
--   FH_TEST_MAX_QUEUED  the connection's share of the loop's inbox (backend.options.max_queued)
--   FH_TEST_STALL       seconds the first message holds the loop (a slow consumer), via a hook
-- (it reads the environment and calls poll() through the FFI: run it with --trusted-spec)
local ffi = require("ffi")
pcall(ffi.cdef, "int poll(void *fds, unsigned long n, int timeout);")

local stall = tonumber(os.getenv("FH_TEST_STALL") or "0")
local stalled = false

local TOPICS = { format = "json", topics = { source = "map(subscribe_assets, '|a| \"trades/\" .. a.symbol')" } }

return {
  name = "mqtt_feed",
  credentials = { fields = { "username", "password" } },
  registry = {
    -- hooks.on_message: the first message holds the loop's thread for FH_TEST_STALL seconds
    hold = function()
      if stall > 0 and not stalled then
        stalled = true
        ffi.C.poll(nil, 0, math.floor(stall * 1000))
      end
    end,
  },
  streaming = {
    connections = {
      feed = {
        url = "tcp://127.0.0.1:1883",
        backend = { type = "mqtt", options = { qos = 1, keepalive = 5,
          max_queued = tonumber(os.getenv("FH_TEST_MAX_QUEUED") or "") } },
        streams = { "data" },
        subscribe = { subscribe = { data = TOPICS }, unsubscribe = { data = TOPICS } },
        hooks = { on_message = "hold" },
        converters = {
          data = { { fields = {
            asset = { source = "broker.infer_asset{ symbol = split(topic, '/')[2] }" },
            timestamp = { source = "ts(data.t, 'ms')" },
            data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
          } } },
        },
        reconnect = { initial = 0.3, max = 5, factor = 2, jitter = 0, stable_after = 30 },
      },
    },
  },
}

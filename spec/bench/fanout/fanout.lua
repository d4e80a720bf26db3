-- Benchmark spec: Kraken-like trades fanned out with the frame's channel beside each element
-- (frame.each/with), routed by it.
return {
  name = "bench_fanout",
  streaming = { connections = { md = {
    url = "wss://ws.kraken.com/v2",
    streams = { "data" },
    frame = { each = "data.data", with = { ch = "data.channel" } },
    router = { rules = { { channel = "data", match = "ch == 'trade'" },
      { channel = "heartbeat", match = "ch == 'heartbeat'" } } },
    converters = { data = { { fields = require("fields") } } },
  } } },
}

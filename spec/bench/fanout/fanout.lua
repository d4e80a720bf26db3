-- Benchmark spec: Kraken-like trades fanned out with the frame's channel beside each element
-- (frame.each/with), routed by it.
return require("common")("bench_fanout", {
  frame = { each = "data.data", with = { ch = "data.channel" } },
  router = { rules = { { channel = "data", match = "ch == 'trade'" },
    { channel = "heartbeat", match = "ch == 'heartbeat'" } } },
})

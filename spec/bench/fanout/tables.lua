-- Benchmark spec: the workaround before fan-out: a payload_path that rebuilds every element with
-- the frame's channel as Lua tables (issue 13), then frame = "array".
return require("common")("bench_tables", {
  frame = "array",
  parser = { payload_path = "data.data and map(data.data, function(t) return { ch = data.channel, t = t } end)" },
  router = { rules = { { channel = "data", match = "data.ch == 'trade'" } } },
}, "data.t.")

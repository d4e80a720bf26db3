-- Benchmark spec: the workaround before fan-out: a payload_path that rebuilds every element with
-- the frame's channel as Lua tables (issue 13), then frame = "array".
local fields = require("fields")
local function over_t(v)
  if type(v) == "table" and v.source then
    return { source = v.source:gsub("data%.", "data.t.") }
  end
  local out = {}
  for k, x in pairs(v) do out[k] = over_t(x) end
  return out
end
return {
  name = "bench_tables",
  streaming = { connections = { md = {
    url = "wss://ws.kraken.com/v2",
    streams = { "data" },
    frame = "array",
    parser = { payload_path = "data.data and map(data.data, function(t) return { ch = data.channel, t = t } end)" },
    router = { rules = { { channel = "data", match = "data.ch == 'trade'" } } },
    converters = { data = { { fields = over_t(fields) } } },
  } } },
}

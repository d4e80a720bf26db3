-- Benchmark spec: the plain path over the same frames: payload_path selects the list, frame =
-- "array" splits it; the elements carry no outer context (a heartbeat frame has no list: empty).
return {
  name = "bench_plain",
  streaming = { connections = { md = {
    url = "wss://ws.kraken.com/v2",
    streams = { "data" },
    frame = "array",
    parser = { payload_path = "data.data" },
    converters = { data = { { fields = require("fields") } } },
  } } },
}

-- Benchmark spec: the plain path over the same frames: payload_path selects the list, frame =
-- "array" splits it; the elements carry no outer context (a heartbeat frame has no list: empty).
return require("common")("bench_plain", { frame = "array", parser = { payload_path = "data.data" } })

-- specs/alpaca.lua with the frame's receive time beside each record: `received_at` (int64 ns, the
-- CLOCK_REALTIME time the host took the frame from its socket), so lat_meter can split the latency
-- into send -> received (socket, wake-up) and received -> line read (pipeline, output, reader).
-- A diagnostic of spec/bench/latency/run.sh (SPLIT=1); needs --trusted-spec (it reads the spec).
local spec = dofile("specs/alpaca.lua")
local conv = spec.streaming.connections.market_data.converters
for _, rules in pairs(conv) do
  for _, rule in ipairs(rules) do
    rule.fields.received_at = { source = "received_at" }
  end
end
return spec

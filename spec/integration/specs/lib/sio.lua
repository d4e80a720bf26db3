-- Shared shape of the Socket.IO integration specs (server: spec/integration/servers/sio_server.js
-- and sio_server.py): Breeze-like `join` / `leave` emits of "4.1!<symbol>" codes; `stock` events
-- (positional arrays: code, seq, bid, ask, epoch seconds) to quote records, `blob` events (an
-- object with a binary attachment, which arrives as base64) to trade records.
--
--   return require("lib.sio"){ name = ..., eio = 3|4, auth = {...} }
local CODES = "map(subscribe_assets, '|a| \"4.1!\" .. a.symbol')"

local function emit(event)
  return { format = "json", event = event, json = { source = CODES } }
end

return function(opts)
  return {
    name = opts.name,
    credentials = { fields = { "token" } },
    streaming = { connections = { ticks = {
      -- replaced by `--url ticks=http://127.0.0.1:PORT` in every test
      url = "http://127.0.0.1:9/",
      backend = { type = "socketio", options = { eio = opts.eio or 4, namespace = opts.namespace } },
      streams = { "quote", "trade" },
      events = { quote = "stock", trade = "blob" },
      auth = opts.auth,
      subscribe = { subscribe = { quote = emit("join") }, unsubscribe = { quote = emit("leave") } },
      converters = {
        quote = { { fields = {
          asset = { source = "broker.infer_asset{ symbol = data[1]:sub(5) }" },
          timestamp = { source = "ts(data[5], 's')" },
          bid = { source = "num(data[3])" },
          ask = { source = "num(data[4])" },
          bid_volume = { source = "num(data[2])" },   -- the server's sequence number
        } } },
        trade = { { fields = {
          code = { source = "data.code" },
          seq = { source = "num(data.seq)" },
          bytes = { source = "data.bytes" },
          event = { source = "event" },
        } } },
      },
      reconnect = { initial = 0.2, max = 1, factor = 2, jitter = 0.1, stable_after = 1 },
    } } },
  }
end

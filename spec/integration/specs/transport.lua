-- A minimal Alpaca-like spec for the transport tests: subscribe on connect, trades on `data`.
return {
  name = "transport",
  streaming = { connections = {
    feed = {
      url = "ws://127.0.0.1:1/",
      backend = { type = "websocket", options = { deflate = true } },
      streams = { "data" },
      frame = "array",
      subscribe = { subscribe = { data = { format = "json", json = { fields = {
        action = { value = "subscribe" },
        trades = { source = "map(subscribe_assets, '|a| a.symbol')" } } } } } },
      router = { rules = { { channel = "data", match = "data.T == 't'" } } },
      converters = { data = { { fields = {
        asset = { source = "broker.infer_asset({symbol = data.S})" },
        timestamp = { source = "ts(data.t)" },
        data = { price = { source = "data.p" }, volume = { source = "data.s" } },
      } } } },
    },
  } },
}

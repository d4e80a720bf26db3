-- Bybit v5 public streams, spot and USDT perpetuals (linear): trades, and the level-1 order book
-- as quotes.
--
--   feedhost run specs/bybit.lua --assets BTCUSDT,SOLUSDT
--
-- Spot and linear are two endpoints with the same symbols (BTCUSDT on both): each connection
-- resolves symbols in its own universe (the instruments-info list of its category), so a
-- record's asset is the instrument of that market, and --assets subscribes each connection to
-- the symbols its market has. Pushes are {"topic","type","ts","data"}: a trade push's data is a
-- list (fanned out), an order book push's an object (routed whole).
-- Keepalive: {"op":"ping"} every 20 s, answered {"op":"ping","ret_msg":"pong",...}.
-- Refresh the instruments: curl 'https://api.bybit.com/v5/market/instruments-info?category=spot'

local function request(op, prefix)
  return { format = "json", json = { fields = { op = { value = op }, args = { source =
    "map(subscribe_assets, '|a| \"" .. prefix .. "\" .. a.broker_symbol')" } } }, order = { "op", "args" } }
end

local function instruments(file)
  return { file = file, path = "result.list", fields = { symbol = "symbol", name = "baseCoin",
    asset_class = { source = "universe" }, tick_size = { source = "row.priceFilter.tickSize" } } }
end

local function market(category)
  return {
    url = "wss://stream.bybit.com/v5/public/" .. category,
    universe = category,
    streams = { "data", "quote" },
    subscribe = {
      subscribe = { data = request("subscribe", "publicTrade."), quote = request("subscribe", "orderbook.1.") },
      unsubscribe = { data = request("unsubscribe", "publicTrade."), quote = request("unsubscribe", "orderbook.1.") },
    },
    -- the topic is read once per frame: only a trade push is fanned out, so a trade is an
    -- element without a topic (nor an op); a book push (one element) is named by its topic
    frame = { each = "data.data", when = "data.topic ~= nil and data.topic:sub(1, 12) == 'publicTrade.'" },
    router = { rules = {
      { channel = "data", match = "data.topic == nil and data.op == nil" },
      { channel = "quote", match = "data.topic ~= nil and data.topic:sub(1, 12) == 'orderbook.1.'" },
      { channel = "heartbeat", match = "data.op == 'ping'" },
      { channel = "info", match = "data.op ~= nil" }, -- subscribe acks
    } },
    converters = {
      data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.s }" },
        timestamp = { source = "ts(data.T, 'ms')" },
        data = { price = { source = "num(data.p)" }, volume = { source = "num(data.v)" } },
        side = { source = "data.S" },
      } } },
      -- cts: the matching engine's time of this book state
      quote = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.data.s }" },
        timestamp = { source = "ts(data.cts, 'ms')" },
        bid = { source = "num(data.data.b[1][1])" }, bid_volume = { source = "num(data.data.b[1][2])" },
        ask = { source = "num(data.data.a[1][1])" }, ask_volume = { source = "num(data.data.a[1][2])" },
      } } },
    },
    heartbeat = { interval = 20, message = { format = "json", json = { fields = { op = { value = "ping" } } } } },
    reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
    limits = { max_assets = 10 }, -- spot takes at most 10 args per subscribe request
  }
end

return {
  name = "bybit",
  description = "Bybit v5 spot and linear: trades on data, level-1 book on quote, per-market universes",
  credentials = { fields = {} },
  universes = { spot = instruments("bybit_spot.json"), linear = instruments("bybit_linear.json") },
  streaming = { connections = { spot = market("spot"), linear = market("linear") } },
}

-- Binance spot market streams, combined form (PROTOCOLS.md section 3).
--
--   feedhost run specs/binance.lua --assets BTCUSDT,ETHUSDT
--
-- One connection to the combined endpoint; streams are added with live
-- SUBSCRIBE requests, so every frame arrives wrapped as
-- {"stream":"btcusdt@trade","data":{...}} and is routed by its stream name
-- (bookTicker payloads carry no event type). Prices and sizes are decimal
-- strings; times are epoch milliseconds. Public data: no credentials.

-- "<symbol>@<suffix>" stream names of the subscribed assets (lower case)
local function streams(suffix)
  return "map(subscribe_assets, '|a| (a.broker_symbol or a.symbol):lower() .. \"@" .. suffix
    .. "\"')"
end

local function request(method, suffix, id)
  return {
    format = "json",
    json = {
      fields = {
        method = { value = method },
        params = { source = streams(suffix) },
        id = { value = id },
      },
    },
    order = { "method", "params", "id" },
  }
end

return {
  name = "binance",
  description = "Binance spot: trades and closed 1m klines on data, best bid/ask on quote",
  credentials = { fields = {} },

  streaming = {
    connections = {
      market_data = {
        url = "wss://stream.binance.com:9443/stream",
        backend = { type = "websocket" },
        streams = { "data", "quote" },
        auth = { mode = "none" },
        subscribe = {
          -- one request per stream kind (<= 5 messages/s per connection)
          subscribe = {
            data = { request("SUBSCRIBE", "trade", 1), request("SUBSCRIBE", "kline_1m", 2) },
            quote = request("SUBSCRIBE", "bookTicker", 3),
          },
          unsubscribe = {
            data = { request("UNSUBSCRIBE", "trade", 4), request("UNSUBSCRIBE", "kline_1m", 5) },
            quote = request("UNSUBSCRIBE", "bookTicker", 6),
          },
        },
        parser = { format = "json" },
        router = {
          rules = {
            { channel = "data", match = "data.stream ~= nil and data.stream:match('@trade$') ~= nil" },
            -- a kline is a bar only once closed (k.x); open-bar updates every 2 s are dropped
            { channel = "data", match = "data.stream ~= nil and data.stream:match('@kline_') ~= nil"
              .. " and data.data.k.x == true" },
            { channel = "info", match = "data.stream ~= nil and data.stream:match('@kline_') ~= nil" },
            { channel = "quote", match = "data.stream ~= nil and data.stream:match('@bookTicker$') ~= nil" },
            -- {"result":null,"id":1} acks, {"code":..,"msg":..,"id":..} errors, serverShutdown
            { channel = "info", match = "data.id ~= nil or data.stream == '!serverShutdown'" },
          },
        },
        converters = {
          data = {
            {
              condition = "data.data.e == 'trade'",
              fields = {
                asset = { source = "broker.infer_asset{ symbol = data.data.s }" },
                timestamp = { source = "ts(data.data.T, 'ms')" },
                data = {
                  price = { source = "num(data.data.p)" },
                  volume = { source = "num(data.data.q)" },
                },
              },
            },
            {
              condition = "data.data.e == 'kline'",
              fields = {
                asset = { source = "broker.infer_asset{ symbol = data.data.s }" },
                -- bar start time, like Alpaca's bars
                timestamp = { source = "ts(data.data.k.t, 'ms')" },
                data = {
                  open = { source = "num(data.data.k.o)" },
                  high = { source = "num(data.data.k.h)" },
                  low = { source = "num(data.data.k.l)" },
                  close = { source = "num(data.data.k.c)" },
                  volume = { source = "num(data.data.k.v)" },
                },
              },
            },
          },
          quote = {
            {
              fields = {
                asset = { source = "broker.infer_asset{ symbol = data.data.s }" },
                -- bookTicker carries no time: the frame's receive time
                timestamp = { source = "received_at" },
                bid = { source = "num(data.data.b)" },
                bid_volume = { source = "num(data.data.B)" },
                ask = { source = "num(data.data.a)" },
                ask_volume = { source = "num(data.data.A)" },
              },
            },
          },
        },
        -- the server pings every 20 s and drops the link after 24 h: reconnects are routine
        reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
        -- 1024 streams per connection, 3 streams per asset; 5 incoming messages/s
        limits = { max_assets = 300, subscribe_rate = 4 },
      },
    },
  },
}

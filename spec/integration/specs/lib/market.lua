-- Shared shape of the integration test specs: the market_data connection of specs/alpaca.lua
-- (trades and bars on data, quotes on quote; frames are arrays of items tagged by T), with the
-- auth block and the extra connection keys given by each test spec.
--
--   return require("lib.market"){ auth = {...}, heartbeat = {...}, ... }
local SYMBOLS = "map(subscribe_assets, '|a| a.broker_symbol or a.symbol')"

local function action(verb, keys)
  local fields = { action = { value = verb } }
  for _, k in ipairs(keys) do
    fields[k] = { source = SYMBOLS }
  end
  return { format = "json", json = { fields = fields }, order = { "action" } }
end

return function(opts)
  local conn = {
    -- replaced by `--url market_data=ws://127.0.0.1:PORT/v2/iex` in every test
    url = "ws://127.0.0.1:9/v2/iex",
    backend = { type = "websocket" },
    streams = { "data", "quote" },
    frame = "array",
    auth = opts.auth,
    subscribe = {
      subscribe = {
        data = action("subscribe", { "trades", "bars" }),
        quote = action("subscribe", { "quotes" }),
      },
      unsubscribe = {
        data = action("unsubscribe", { "trades", "bars" }),
        quote = action("unsubscribe", { "quotes" }),
      },
    },
    parser = { format = "json" },
    router = {
      rules = {
        { channel = "data", match = "data.T == 't' or data.T == 'b'" },
        { channel = "quote", match = "data.T == 'q'" },
        { channel = "info", match = "data.T == 'success' or data.T == 'subscription'"
          .. " or data.T == 'error' or data.T == 's'" },
      },
    },
    converters = {
      data = {
        {
          condition = "data.T == 't'",
          fields = {
            asset = { source = "broker.infer_asset{ symbol = data.S }" },
            timestamp = { source = "ts(data.t)" },
            data = {
              price = { source = "num(data.p)" },
              volume = { source = "num(data.s)" },
            },
          },
        },
        {
          condition = "data.T == 'b'",
          fields = {
            asset = { source = "broker.infer_asset{ symbol = data.S }" },
            timestamp = { source = "ts(data.t)" },
            data = {
              open = { source = "num(data.o)" },
              high = { source = "num(data.h)" },
              low = { source = "num(data.l)" },
              close = { source = "num(data.c)" },
              volume = { source = "num(data.v)" },
            },
          },
        },
      },
      quote = {
        {
          fields = {
            asset = { source = "broker.infer_asset{ symbol = data.S }" },
            timestamp = { source = "ts(data.t)" },
            bid = { source = "num(data.bp)" },
            ask = { source = "num(data.ap)" },
            bid_volume = { source = "num(data.bs)" },
            ask_volume = { source = "num(data.as)" },
          },
        },
      },
    },
    -- short intervals: the whole suite runs in about a minute
    reconnect = opts.reconnect or { initial = 0.2, max = 1, factor = 2, jitter = 0.1, stable_after = 1 },
    heartbeat = opts.heartbeat,
    limits = opts.limits,
  }
  return {
    name = opts.name,
    description = opts.description,
    credentials = { fields = { "api_key", "api_secret" } },
    streaming = { connections = { market_data = conn } },
  }
end

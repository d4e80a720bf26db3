-- Kraken Spot WebSocket v2 (PROTOCOLS.md section 4.2): trades, and the level-1 ticker as quotes.
--
--   feedhost run specs/kraken.lua --assets BTC/USD,ETH/USD
--
-- Data frames are {"channel":"trade"|"ticker","type":"snapshot"|"update","data":[...]}: the
-- elements of `data` are fanned out (frame.each) with the frame's channel beside them (`ch`),
-- so they are routed by it with no Lua table built per frame. Frames without a `data` list
-- (subscribe acks, {"channel":"heartbeat"} about once a second when idle) are routed whole.
-- Prices are JSON numbers, times RFC 3339. Public data: no credentials.

local SYMBOLS = { source = "map(subscribe_assets, '|a| a.broker_symbol')" }

local function request(method, channel, extra)
  local params = { channel = { value = channel }, symbol = SYMBOLS }
  for k, v in pairs(extra or {}) do params[k] = v end
  return { format = "json", json = { fields = { method = { value = method }, params = params } },
    order = { "method", "params" } }
end

-- the ticker is published on every change of the best bid or offer
local BBO = { event_trigger = { value = "bbo" } }

return {
  name = "kraken",
  description = "Kraken Spot v2: trades on data, best bid/ask (ticker) on quote",
  credentials = { fields = {} },

  streaming = { connections = { market_data = {
    url = "wss://ws.kraken.com/v2",
    streams = { "data", "quote" },
    subscribe = {
      subscribe = { data = request("subscribe", "trade"), quote = request("subscribe", "ticker", BBO) },
      unsubscribe = { data = request("unsubscribe", "trade"), quote = request("unsubscribe", "ticker", BBO) },
    },
    frame = { each = "data.data", with = { ch = "data.channel" } },
    router = { rules = {
      { channel = "data", match = "ch == 'trade'" },
      { channel = "quote", match = "ch == 'ticker'" },
      { channel = "heartbeat", match = "ch == 'heartbeat'" },
      -- subscribe acks and errors ({"method":...}), the status element after connecting
      { channel = "info", match = "data.method ~= nil or ch == 'status'" },
    } },
    converters = {
      data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.symbol }" },
        timestamp = { source = "ts(data.timestamp)" },
        data = { price = { source = "num(data.price)" }, volume = { source = "num(data.qty)" } },
        side = { source = "data.side" },
      } } },
      quote = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.symbol }" },
        timestamp = { source = "ts(data.timestamp)" },
        bid = { source = "num(data.bid)" }, bid_volume = { source = "num(data.bid_qty)" },
        ask = { source = "num(data.ask)" }, ask_volume = { source = "num(data.ask_qty)" },
        last = { source = "num(data.last)" },
      } } },
    },
    reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
  } } },
}

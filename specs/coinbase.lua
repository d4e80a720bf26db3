-- Coinbase Advanced Trade market data (PROTOCOLS.md section 4.1): market_trades on data, the
-- ticker's best bid and ask on quote.
--
--   feedhost run specs/coinbase.lua --assets BTC-USD,ETH-USD
--
-- Every message is one envelope {"channel","client_id","timestamp","sequence_num","events":[...]}
-- whose events carry the items: events[].trades (market_trades) or events[].tickers (ticker).
-- The items are fanned out (frame.each, two levels, one alternative per channel) with the
-- envelope's channel and time beside them; ticker items have no time of their own, so a quote
-- takes the envelope's. One channel per subscribe message; the heartbeats channel, subscribed
-- once per connection (setup), keeps the others open (they close after 60-90 s without
-- updates). Public channels need no JWT.

local function request(kind, channel)
  return { format = "json", json = { fields = {
    type = { value = kind },
    product_ids = { source = "map(subscribe_assets, '|a| a.broker_symbol')" },
    channel = { value = channel },
  } }, order = { "type", "product_ids", "channel" } }
end

return {
  name = "coinbase",
  description = "Coinbase Advanced Trade: market trades on data, ticker best bid/ask on quote",
  credentials = { fields = {} },

  streaming = { connections = { market_data = {
    url = "wss://advanced-trade-ws.coinbase.com",
    streams = { "data", "quote" },
    setup = { format = "json", json = { fields = { type = { value = "subscribe" },
      channel = { value = "heartbeats" } } }, order = { "type", "channel" } },
    subscribe = {
      subscribe = { data = request("subscribe", "market_trades"), quote = request("subscribe", "ticker") },
      unsubscribe = { data = request("unsubscribe", "market_trades"), quote = request("unsubscribe", "ticker") },
    },
    frame = { each = { "data.events[*].trades", "data.events[*].tickers" },
      with = { ch = "data.channel", time = "data.timestamp" } },
    router = { rules = {
      { channel = "data", match = "ch == 'market_trades'" },
      { channel = "quote", match = "ch == 'ticker'" },
      { channel = "heartbeat", match = "ch == 'heartbeats'" },
      { channel = "info", match = "ch == 'subscriptions' or data.type == 'error'" },
    } },
    converters = {
      data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.product_id }" },
        timestamp = { source = "ts(data.time)" },
        data = { price = { source = "num(data.price)" }, volume = { source = "num(data.size)" } },
        side = { source = "data.side" }, -- the taker's, upper case
      } } },
      quote = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.product_id }" },
        timestamp = { source = "ts(time)" },
        bid = { source = "num(data.best_bid)" }, bid_volume = { source = "num(data.best_bid_quantity)" },
        ask = { source = "num(data.best_ask)" }, ask_volume = { source = "num(data.best_ask_quantity)" },
        last = { source = "num(data.price)" },
      } } },
    },
    reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
  } } },
}

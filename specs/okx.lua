-- OKX v5 public WebSocket: trades, and bbo-tbt (tick-by-tick best bid/offer) as quotes.
--
--   feedhost run specs/okx.lua --assets BTC-USDT,BTC-USDT-SWAP
--
-- Pushes are {"arg":{"channel","instId"},"data":[...]}: the items are fanned out with the arg's
-- channel and instrument beside them (bbo-tbt items do not name their instrument). Keepalive is
-- text: a 'ping' every 25 s (OKX drops a connection quiet for 30 s), answered by the text 'pong',
-- which heartbeat.reply counts as a heartbeat instead of parsing it as JSON. Instruments: the
-- SPOT and SWAP lists of GET /api/v5/public/instruments, merged (refresh them with
-- curl 'https://www.okx.com/api/v5/public/instruments?instType=SPOT' > specs/okx_spot.json).

local function request(op, channel)
  return { format = "json", json = { fields = { op = { value = op }, args = { source =
    "map(subscribe_assets, '|a| { channel = \"" .. channel .. "\", instId = a.broker_symbol }')" } } },
    order = { "op", "args" } }
end

return {
  name = "okx",
  description = "OKX v5 public: trades on data, tick-by-tick best bid/ask on quote",
  credentials = { fields = {} },

  master_data = {
    file = { "okx_spot.json", "okx_swap.json" }, path = "data", filter = "row.state == 'live'",
    fields = { symbol = "instId", asset_class = "instType", tick_size = "tickSz", lot_size = "lotSz" },
  },

  streaming = { connections = { market_data = {
    url = "wss://ws.okx.com:8443/ws/v5/public",
    streams = { "data", "quote" },
    subscribe = {
      subscribe = { data = request("subscribe", "trades"), quote = request("subscribe", "bbo-tbt") },
      unsubscribe = { data = request("unsubscribe", "trades"), quote = request("unsubscribe", "bbo-tbt") },
    },
    frame = { each = "data.data", with = { ch = "data.arg.channel", inst = "data.arg.instId" } },
    router = { rules = {
      -- subscribe and error events (they carry the arg too)
      { channel = "info", match = "data.event ~= nil" },
      { channel = "data", match = "ch == 'trades'" },
      { channel = "quote", match = "ch == 'bbo-tbt'" },
    } },
    converters = {
      data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.instId }" },
        timestamp = { source = "ts(data.ts, 'ms')" },
        data = { price = { source = "num(data.px)" }, volume = { source = "num(data.sz)" } },
        side = { source = "data.side" },
      } } },
      quote = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = inst }" },
        timestamp = { source = "ts(data.ts, 'ms')" },
        bid = { source = "num(data.bids[1][1])" }, bid_volume = { source = "num(data.bids[1][2])" },
        ask = { source = "num(data.asks[1][1])" }, ask_volume = { source = "num(data.asks[1][2])" },
      } } },
    },
    heartbeat = { interval = 25, message = { format = "text", text = "ping" }, reply = "pong" },
    reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
  } } },
}

-- Bitfinex WebSocket v2 (public): trades, and the ticker's best bid and ask as quotes.
--
--   feedhost run specs/bitfinex.lua --assets BTCUSD,ETHUSD
--
-- Streams are numbered: every subscribe is acknowledged with {"event":"subscribed","channel",
-- "chanId","symbol"}, and its data arrives as arrays [chanId, ...]. The on_info hook keeps those
-- acks in the connection's `state` by channel id (a new connection starts with an empty one);
-- routers and converters look the stream up there. It also keeps each channel's id by name
-- ("trades:tBTCUSD"): an unsubscribe names the channel by its id ({"event":"unsubscribe",
-- "chanId":17}), one per asset and channel, and is not sent for a channel whose ack has not come
-- (a channel it never had); {"event":"unsubscribed","chanId":17} forgets the channel. A trade snapshot [chanId, [[ID, MTS,
-- AMOUNT, PRICE], ...]] is fanned out with the channel id beside each trade; an update
-- [chanId, "te", [ID, MTS, AMOUNT, PRICE]] is routed whole ("tu", its later copy with the
-- database id, is left out); heartbeats are [chanId, "hb"]. The setup message sets the TIMESTAMP
-- flag (32768): every message then ends with the time it was sent, a ticker's only timestamp.
-- Symbols: the pair list (GET /v2/conf/pub:list:pair:exchange, a list of strings); the
-- exchange's names take a "t" before the pair (tBTCUSD).

local function request(channel)
  return { format = "text", text = '{{"event":"subscribe","channel":"' .. channel
    .. '","symbol":"{symbol}"}}', tokens = { fields = { symbol = { source = "asset.broker_symbol" } } } }
end

-- the unsubscribe of an asset's `channel`, by the id its ack gave (code: in `state`)
local function leave(channel)
  local id = "state['" .. channel .. ":' .. asset.broker_symbol]"
  return { format = "text", text = '{{"event":"unsubscribe","chanId":{id}}}',
    tokens = { fields = { id = { source = id } } }, condition = id .. " ~= nil" }
end

-- whether the stream with channel id `id` (code) is a `name` one
local function is(id, name)
  return "state[" .. id .. "] ~= nil and state[" .. id .. "].channel == '" .. name .. "'"
end
local SYMBOL = { source = "broker.infer_asset{ broker_symbol = state[chan].symbol }" }

return {
  name = "bitfinex",
  description = "Bitfinex v2: trades on data, ticker best bid/ask on quote",
  credentials = { fields = {} },

  master_data = { file = "bitfinex_pairs.json", path = "[1]",
    fields = { symbol = "value", broker_symbol = { source = "'t' .. row.value" } } },

  streaming = { connections = { market_data = {
    url = "wss://api-pub.bitfinex.com/ws/2",
    streams = { "data", "quote" },
    setup = { format = "json", json = { fields = { event = { value = "conf" }, flags = { value = 32768 } } },
      order = { "event", "flags" } },
    subscribe = { subscribe = { data = request("trades"), quote = request("ticker") },
      unsubscribe = { data = leave("trades"), quote = leave("ticker") } },
    hooks = { on_info = function(ctx) -- channel ids of the subscribe acks, both ways
      local d, state = ctx.data, ctx.state
      local ack = d.event == "unsubscribed" and state[d.chanId]
      if d.event == "subscribed" then
        state[d.chanId], state[d.channel .. ":" .. d.symbol] = d, d.chanId
      elseif ack then
        local name = ack.channel .. ":" .. ack.symbol
        state[d.chanId], state[name] = nil, state[name] ~= d.chanId and state[name] or nil
      end
    end },
    frame = { each = "data[2]", with = { chan = "data[1]" }, when = is("data[1]", "trades") },
    router = { rules = {
      { channel = "info", match = "data.event ~= nil or data[2] == 'tu'" },
      { channel = "heartbeat", match = "data[2] == 'hb'" },
      { channel = "data", match = is("chan", "trades") },
      { channel = "quote", match = is("chan", "ticker") },
    } },
    converters = {
      data = {
        { condition = "data[2] == 'te'", fields = { asset = SYMBOL, timestamp = { source = "ts(data[3][2], 'ms')" },
          data = { price = { source = "data[3][4]" }, volume = { source = "math.abs(data[3][3])" } },
          side = { source = "data[3][3] > 0 and 'buy' or 'sell'" } } },
        { fields = { asset = SYMBOL, timestamp = { source = "ts(data[2], 'ms')" }, -- a snapshot's trade
          data = { price = { source = "data[4]" }, volume = { source = "math.abs(data[3])" } },
          side = { source = "data[3] > 0 and 'buy' or 'sell'" } } },
      },
      quote = { { fields = { asset = SYMBOL, timestamp = { source = "ts(data[3], 'ms')" },
        bid = { source = "data[2][1]" }, bid_volume = { source = "data[2][2]" },
        ask = { source = "data[2][3]" }, ask_volume = { source = "data[2][4]" },
        last = { source = "data[2][7]" } } } },
    },
    reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
    limits = { max_assets = 12 }, -- 25 channels per connection, two per asset
  } } },
}

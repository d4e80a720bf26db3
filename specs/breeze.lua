-- ICICI Direct Breeze live ticks over Socket.IO (PROTOCOLS.md section 8.2).
--
--   BREEZE_USER_ID=... BREEZE_SESSION_TOKEN=... feedhost run specs/breeze.lua --assets RELIANCE,INFY
--
-- Engine.IO 4 / Socket.IO 5 over WebSocket only. The session's user id and token go in the
-- namespace CONNECT payload (`40{"user":..,"token":..}`: the auth first message, which has no
-- event); subscriptions are `join` emits of stock codes "<exchange>.<kind>!<scrip token>"
-- (4 NSE, 1 quotes), and `leave` to unsubscribe. Ticks arrive as `stock` events whose argument
-- is a positional array; for NSE/BSE cash (21 items):
--   [code, open, last, high, low, change, bPrice, bQty, sPrice, sQty, ltq, avgPrice, ttq,
--    totalBuyQt, totalSellQ, ttv, trend, lowerCktLm, upperCktLm, ltt (epoch s), close]
-- F&O and currency (23 items) insert OI and CHNGOI after avgPrice. Stock codes come from the
-- master data (breeze_instruments.csv beside this spec: symbol, stock code, scrip token).

-- a value of the tick array at 1-based position i
local function at(i, conv)
  return { source = (conv or "num") .. "(data[" .. i .. "])" }
end

local CODES = "map(subscribe_assets, '|a| a.broker_symbol')"

return {
  name = "breeze",
  description = "ICICI Direct Breeze: quotes of NSE/BSE cash and F&O from the live stream",
  credentials = { fields = { "user_id", "session_token" } },

  master_data = {
    file = "breeze_instruments.csv",
    format = "csv",
    fields = { symbol = "symbol", broker_symbol = "stock_code", security_id = "token",
      exchange = "exchange", name = "name" },
  },

  streaming = {
    connections = {
      ticks = {
        url = "https://livestream.icicidirect.com",
        backend = { type = "socketio", options = {
          eio = 4,
          headers = { ["User-Agent"] = "python-socketio[client]/socket" },
        } },
        streams = { "quote" },
        events = { quote = "stock" },
        auth = {
          mode = "first_message",
          -- no event: the CONNECT payload
          first_message = { format = "json", json = { fields = {
            user = { source = "credentials.user_id" },
            token = { source = "credentials.session_token" },
          } }, order = { "user", "token" } },
        },
        subscribe = {
          subscribe = { quote = { format = "json", event = "join", json = { source = CODES } } },
          unsubscribe = { quote = { format = "json", event = "leave", json = { source = CODES } } },
        },
        parser = { format = "json" },
        converters = {
          quote = {
            { -- cash: 21 items, ltt at 20 and close at 21
              condition = "data[21] ~= nil and data[22] == nil",
              fields = {
                asset = { source = "broker.infer_asset{ broker_symbol = data[1] }" },
                timestamp = { source = "ts(data[20], 's')" },
                last = at(3), bid = at(7), bid_volume = at(8), ask = at(9), ask_volume = at(10),
                open = at(2), high = at(4), low = at(5), close = at(21),
              },
            },
            { -- F&O / currency: 23 items (OI and CHNGOI after avgPrice)
              condition = "data[23] ~= nil",
              fields = {
                asset = { source = "broker.infer_asset{ broker_symbol = data[1] }" },
                timestamp = { source = "ts(data[22], 's')" },
                last = at(3), bid = at(7), bid_volume = at(8), ask = at(9), ask_volume = at(10),
                open = at(2), high = at(4), low = at(5), close = at(23),
              },
            },
          },
        },
        reconnect = { initial = 1, max = 30, factor = 2, jitter = 0.2, stable_after = 30 },
      },
    },
  },
}

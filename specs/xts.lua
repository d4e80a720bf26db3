-- Symphony XTS market data over Socket.IO (PROTOCOLS.md section 8.1), used by many Indian
-- brokers (IIFL, Jainam, ...).
--
--   XTS_TOKEN=... XTS_USER_ID=... feedhost run specs/xts.lua --assets RELIANCE,INFY
--
-- Engine.IO 3 / Socket.IO 2 over WebSocket, at /apimarketdata/socket.io; the token, user id and
-- format ride in the handshake query (auth.mode = "url"). Subscriptions are not emits: they are
-- REST calls on the same host (POST /apimarketdata/instruments/subscription, PUT to
-- unsubscribe) with the token in the `authorization` header, one per message code: 1501
-- touchline (quote), 1512 last traded price (data). Data arrives as events named
-- "<code>-json-full" whose one argument is a JSON object sent as a string (decoded by the
-- host). Times are seconds since 1980-01-01 00:00 IST: epoch = v + 315513000. The vendor spells
-- LastTradedQunatity so. Segments and instrument ids come from xts_instruments.csv.

local INSTRUMENTS = "map(subscribe_assets, '|a| { exchangeSegment = int(a.exchange),"
  .. " exchangeInstrumentID = int(a.security_id) }')"

-- the REST subscription of message code `code` (`method` POST subscribes, PUT unsubscribes)
local function rest(method, code)
  return {
    format = "http", method = method,
    -- on the connection's own host (so --url moves it too)
    url = "/apimarketdata/instruments/subscription",
    headers = { fields = { authorization = { source = "credentials.token" } } },
    json = { fields = { instruments = { source = INSTRUMENTS }, xtsMessageCode = { value = code } } },
    order = { "instruments", "xtsMessageCode" },
  }
end

local ASSET = { source = "broker.infer_asset{ security_id = str(data.ExchangeInstrumentID) }" }
local XTS_EPOCH = "315513000"   -- 1980-01-01 00:00 IST in Unix seconds

return {
  name = "xts",
  description = "Symphony XTS market data: touchline quotes (1501) and LTP ticks (1512)",
  credentials = { fields = { "token", "user_id" } },

  master_data = {
    file = "xts_instruments.csv",
    format = "csv",
    fields = { symbol = "symbol", exchange = "segment", security_id = "instrument_id", name = "name" },
  },

  streaming = {
    connections = {
      market_data = {
        url = "https://developers.symphonyfintech.in",
        backend = { type = "socketio", options = { eio = 3, path = "/apimarketdata/socket.io" } },
        streams = { "quote", "data" },
        events = { quote = "1501-json-full", data = "1512-json-full" },
        auth = {
          mode = "url",
          url = { query = { fields = {
            token = { source = "credentials.token" },
            userID = { source = "credentials.user_id" },
            publishFormat = { value = "JSON" },
            broadcastMode = { value = "Full" },
          } } },
        },
        subscribe = {
          subscribe = { quote = rest("POST", 1501), data = rest("POST", 1512) },
          unsubscribe = { quote = rest("PUT", 1501), data = rest("PUT", 1512) },
        },
        parser = { format = "json" },
        converters = {
          quote = { { fields = {
            asset = ASSET,
            timestamp = { source = "ts(data.Touchline.LastTradedTime + " .. XTS_EPOCH .. ", 's')" },
            bid = { source = "num(data.Touchline.BidInfo.Price)" },
            bid_volume = { source = "num(data.Touchline.BidInfo.Size)" },
            ask = { source = "num(data.Touchline.AskInfo.Price)" },
            ask_volume = { source = "num(data.Touchline.AskInfo.Size)" },
            last = { source = "num(data.Touchline.LastTradedPrice)" },
          } } },
          data = { { fields = {
            asset = ASSET,
            timestamp = { source = "ts(data.LastUpdateTime + " .. XTS_EPOCH .. ", 's')" },
            data = {
              price = { source = "num(data.LastTradedPrice)" },
              volume = { source = "num(data.LastTradedQunatity)" },
            },
          } } },
        },
        reconnect = { initial = 1, max = 30, factor = 2, jitter = 0.2, stable_after = 30 },
      },
    },
  },
}

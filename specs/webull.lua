-- Webull-style market data over MQTT (PROTOCOLS.md 9: the app feed's JSON topics and JSON
-- payloads, 9.2; the login of the official API, 9.1).
--
--   feedhost run specs/webull.lua --assets AAPL,MSFT
--   credentials: WEBULL_APP_KEY, WEBULL_APP_SECRET (the MQTT user name and password)
--
-- One MQTT session (paho; MQTT 3.1.1 over WebSocket and TLS by default) subscribes one JSON
-- topic per asset and record type, made by the registry builder webull_topics:
--   {"tickerIds":[913256135],"type":"103"}   trades        -> data
--   {"tickerIds":[913256135],"type":"102"}   price summary -> quote (last, open/high/low/close)
--   {"tickerIds":[913256135],"type":"104"}   book          -> quote (best bid/ask and depth)
-- Messages are routed on their topic's type; the asset is the payload's tickerId, mapped to a
-- symbol through the master data below. Ticker ids other than AAPL's are illustrative.

local ASSET = { source = "broker.infer_asset{ security_id = str(data.tickerId) }" }
local TIME = { source = "ts(data.tradeStamp, 'ms')" }

-- one side of the book as a list of {price, volume}
local function depth(side)
  return { source = "map(data." .. side .. ", '|l| {num(l.price), num(l.volume)}')" }
end

local TOPICS = { format = "json", custom = "webull_topics" }

return {
  name = "webull",
  description = "Webull-style MQTT feed: JSON topics per ticker and record type, JSON payloads",
  credentials = { fields = { "app_key", "app_secret" } },

  mappings = {
    -- the summary's trading session
    session = { map = { pre = "F", regular = "T", after = "A" }, default = "regular" },
  },

  master_data = {
    rows = {
      { symbol = "AAPL", ticker_id = "913256135", name = "Apple Inc." },
      { symbol = "MSFT", ticker_id = "913323997", name = "Microsoft Corp." },
      { symbol = "TSLA", ticker_id = "913255598", name = "Tesla Inc." },
      { symbol = "NVDA", ticker_id = "913257561", name = "NVIDIA Corp." },
    },
    fields = { symbol = "symbol", security_id = "ticker_id", name = "name" },
  },

  registry = require("registry.webull"),

  streaming = {
    connections = {
      market_data = {
        url = "wss://wspush.webullbroker.com:443/mqtt",
        backend = { type = "mqtt", options = { client_id = "feedhost-{random}", keepalive = 30 } },
        auth = {
          mode = "login",
          username = { source = "credentials.app_key" },
          password = { source = "credentials.app_secret" },
        },
        streams = { "data", "quote" },
        -- per channel: the builder reads the channel to pick the record types
        subscribe = {
          subscribe = { data = TOPICS, quote = TOPICS },
          unsubscribe = { data = TOPICS, quote = TOPICS },
        },
        router = {
          rules = {
            { channel = "data", match = "wb_type(topic) == '103'" },
            { channel = "quote", match = "wb_type(topic) == '102' or wb_type(topic) == '104'" },
          },
          default_channel = "unknown",
        },
        converters = {
          data = { {
            fields = {
              asset = ASSET,
              timestamp = TIME,
              data = {
                price = { source = "num(data.deal.price)" },
                volume = { source = "num(data.deal.volume)" },
              },
              side = { source = "data.deal.trdBs == 'B' and 'buy' or data.deal.trdBs == 'S' and 'sell' or nil" },
              sequence = { source = "data.trdSeq" },
            },
          } },
          quote = {
            {
              condition = "wb_type(topic) == '104'",
              fields = {
                asset = ASSET,
                timestamp = TIME,
                bid = { source = "num(data.bidList[1].price)" },
                bid_volume = { source = "num(data.bidList[1].volume)" },
                ask = { source = "num(data.askList[1].price)" },
                ask_volume = { source = "num(data.askList[1].volume)" },
                market_depth = { bids = depth("bidList"), asks = depth("askList") },
              },
            },
            {
              condition = "wb_type(topic) == '102'",
              fields = {
                asset = ASSET,
                timestamp = TIME,
                last = { source = "num(data.pPrice)" },
                open = { source = "num(data.open)" },
                high = { source = "num(data.high)" },
                low = { source = "num(data.low)" },
                close = { source = "num(data.close)" },
                volume = { source = "num(data.volume)" },
                session = { source = "mappings.session(data.status)" },
              },
            },
          },
        },
        -- no data at all for 2 minutes in a live session: reconnect and resubscribe
        heartbeat = { idle_timeout = 120 },
      },
    },
  },
}

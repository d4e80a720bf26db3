-- Darwinex DWX ZeroMQ connector for MetaTrader 4 (PROTOCOLS.md 10).
--
--   feedhost run specs/dwx.lua --assets EURUSD,GBPUSD
--
-- The EA (DWX_ZeroMQ_Server) binds three sockets on the MetaTrader machine; this spec connects:
--   tcp://127.0.0.1:32770  its PUB  -> our SUB: prices "EURUSD:|:bid;ask", rates "EURUSD_M1:|:..."
--   tcp://127.0.0.1:32768  its PULL <- our PUSH: ';'-delimited commands (TRACK_PRICES;EURUSD)
--   tcp://127.0.0.1:32769  its PUSH -> our PULL: replies, Python dict literals (topic "reply")
-- Subscribing sends TRACK_PRICES and TRACK_RATES (M1) for the assets and sets the SUB prefixes
-- "EURUSD:|:" (prices) and "EURUSD_M1:|:" (rates). registry.dwx's dwx_decode reads all three
-- kinds of message: prices and rates by their field count, replies through a Python-literal
-- reader. A HEARTBEAT; command every 10 s is answered on the reply socket.
--
-- TRACK_PRICES replaces the EA's tracked set, so an unsubscribe only drops the SUB prefixes of
-- the assets that went (the EA keeps publishing them until the next subscribe replaces the set).

-- the assets' MetaTrader symbols
local SYMBOLS = "map(subscribe_assets, '|a| a.broker_symbol or a.symbol')"

local function command(text, fields, prefix)
  return {
    format = "text",
    text = text,
    tokens = { fields = fields },
    topics = { source = "map(subscribe_assets, '|a| (a.broker_symbol or a.symbol) .. \"" .. prefix .. "\"')" },
  }
end

local function prefixes(prefix)
  return { format = "json", topics = { source = "map(subscribe_assets, '|a| (a.broker_symbol or a.symbol) .. \""
    .. prefix .. "\"')" } }
end

local ASSET = { source = "broker.infer_asset{ symbol = data.symbol }" }

return {
  name = "dwx",
  description = "Darwinex DWX ZeroMQ bridge to MetaTrader 4: prices, M1 rates, trade replies",

  registry = require("registry.dwx"),

  streaming = {
    connections = {
      market_data = {
        url = "tcp://127.0.0.1:32770",
        backend = {
          type = "zmq",
          options = {
            socket_type = "SUB",
            command_endpoint = "tcp://127.0.0.1:32768",
            reply_endpoint = "tcp://127.0.0.1:32769",
          },
        },
        streams = { "quote", "data", "order" },
        subscribe = {
          subscribe = {
            quote = command("TRACK_PRICES;{symbols}",
              { symbols = { source = "table.concat(" .. SYMBOLS .. ", ';')" } }, ":|:"),
            data = command("TRACK_RATES;{pairs}",
              { pairs = { source = "table.concat(map(" .. SYMBOLS .. ", '|s| s .. \";1\"'), ';')" } }, "_M1:|:"),
          },
          unsubscribe = { quote = prefixes(":|:"), data = prefixes("_M1:|:") },
        },
        parser = { format = "text", decode = "dwx_decode" },
        router = {
          rules = {
            { channel = "quote", match = "data.kind == 'tick'" },
            { channel = "data", match = "data.kind == 'bar'" },
            { channel = "heartbeat", match = "data._action == 'heartbeat'" },
            { channel = "order", match = "data._action == 'EXECUTION'" },
            { channel = "info", match = "data._action ~= nil or data._response ~= nil" },
          },
          default_channel = "unknown",
        },
        converters = {
          -- prices carry no time: the frame's receive time
          quote = { { fields = {
            asset = ASSET,
            timestamp = { source = "received_at" },
            bid = { source = "num(data.bid)" },
            ask = { source = "num(data.ask)" },
          } } },
          data = { { fields = {
            asset = ASSET,
            timestamp = { source = "ts(data.time, 's')" },
            interval = { source = "data.interval" },
            data = {
              open = { source = "num(data.open)" },
              high = { source = "num(data.high)" },
              low = { source = "num(data.low)" },
              close = { source = "num(data.close)" },
              volume = { source = "num(data.tick_volume)" },
            },
            spread = { source = "num(data.spread)" },
          } } },
          -- an order the EA opened (TRADE;OPEN;...): its ticket, symbol and fill price
          order = { { fields = {
            order_id = { source = "str(data._ticket)" },
            status = { value = "complete" },
            asset = { source = "broker.infer_asset{ symbol = data._symbol }" },
            average_price = { source = "data._open_price" },
            magic = { source = "data._magic" },
            timestamp = { source = "ts(dwx_time(data._open_time))" },
          } } },
        },
        heartbeat = {
          interval = 10,
          message = { format = "text", text = "HEARTBEAT;" },
          -- the EA publishes a price when it changes: none for 5 minutes while markets are open
          -- means it is gone
          idle_timeout = 300,
        },
      },
    },
  },
}

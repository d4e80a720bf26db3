-- Zerodha Kite Connect ticker (PROTOCOLS.md section 5).
--
--   feedhost run specs/kite.lua --assets INFY,RELIANCE,"NIFTY 50"
--   credentials: KITE_API_KEY, KITE_ACCESS_TOKEN
--
-- One WebSocket carries binary market data (big-endian packets, decoded by
-- registry.kite's kite_decode into one table per instrument) and JSON text
-- frames: order updates ({"type":"order"}), errors and broker messages.
-- Instruments are known by their numeric instrument_token, mapped to assets
-- through the instrument dump in kite_instruments.csv (a closed universe).

-- instrument tokens of the subscribed assets, as JSON numbers (Kite ignores strings)
local TOKENS = "map(subscribe_assets, '|a| tonumber(a.security_id)')"

local function request(a, v)
  return { format = "json", json = { fields = { a = { value = a }, v = v } }, order = { "a", "v" } }
end

-- quote record fields shared by the packet kinds
local ASSET = { source = "broker.infer_asset{ security_id = data.token }" }
local OHLC = {
  open = { source = "data.open" },
  high = { source = "data.high" },
  low = { source = "data.low" },
  close = { source = "data.close" },
}

local function with(base, extra)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

-- one depth side as a list of {px, qty} pairs
local function depth(side)
  return { source = "map(data.depth." .. side .. ", '|l| {l.price, l.qty}')" }
end

return {
  name = "kite",
  description = "Zerodha Kite Connect: binary ticks (ltp/quote/full, indices) and order updates",
  credentials = { fields = { "api_key", "access_token" } },

  mappings = {
    order_status = {
      map = {
        open = { "OPEN", "UPDATE", "PUT ORDER REQ RECEIVED", "VALIDATION PENDING",
          "OPEN PENDING", "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED",
          "CANCEL PENDING", "AMO REQ RECEIVED" },
        complete = "COMPLETE",
        cancelled = "CANCELLED",
        rejected = "REJECTED",
        inactive = "TRIGGER PENDING",
      },
      default = "open",
    },
  },

  master_data = {
    file = "kite_instruments.csv", -- beside this spec
    format = "csv",
    fields = {
      symbol = "tradingsymbol",
      security_id = "instrument_token",
      exchange = "exchange",
      name = "name",
      expiry = "expiry",
      strike = "strike",
      tick_size = "tick_size",
      lot_size = "lot_size",
    },
  },

  registry = require("registry.kite"),

  streaming = {
    connections = {
      market_data = {
        url = "wss://ws.kite.trade",
        backend = { type = "websocket", options = { headers = { ["X-Kite-Version"] = "3" } } },
        streams = { "quote", "order" },
        auth = {
          mode = "url",
          url = {
            query = {
              fields = {
                api_key = { source = "credentials.api_key" },
                access_token = { source = "credentials.access_token" },
              },
            },
          },
        },
        subscribe = {
          -- subscribe, then ask for full mode (the default after subscribe is quote)
          subscribe = {
            quote = {
              request("subscribe", { source = TOKENS }),
              request("mode", { { value = "full" }, { source = TOKENS } }),
            },
          },
          unsubscribe = {
            quote = request("unsubscribe", { source = TOKENS }),
          },
        },
        -- binary frames -> kite_decode (a list of packets, each routed alone);
        -- text frames -> JSON
        parser = { format = "binary", decode = "kite_decode" },
        router = {
          rules = {
            { channel = "quote", match = "data.kind ~= nil" },
            { channel = "order", match = "data.type == 'order'" },
            -- {"type":"error","data":"..."} and {"type":"message","data":"..."}
            { channel = "info", match = "data.type == 'error' or data.type == 'message'" },
          },
        },
        converters = {
          quote = {
            {
              -- 184-byte full packet: exchange time and five levels of depth
              condition = "data.kind == 'full'",
              fields = with(OHLC, {
                asset = ASSET,
                timestamp = { source = "ts(data.exchange_timestamp, 's')" },
                last = { source = "data.ltp" },
                bid = { source = "data.depth.bids[1].price" },
                bid_volume = { source = "data.depth.bids[1].qty" },
                ask = { source = "data.depth.asks[1].price" },
                ask_volume = { source = "data.depth.asks[1].qty" },
                market_depth = { bids = depth("bids"), asks = depth("asks") },
              }),
            },
            {
              -- 32-byte index packet: carries the exchange time
              condition = "data.kind == 'index_full'",
              fields = with(OHLC, {
                asset = ASSET,
                timestamp = { source = "ts(data.exchange_timestamp, 's')" },
                last = { source = "data.ltp" },
              }),
            },
            {
              -- 44-byte quote and 28-byte index packets carry no time
              condition = "data.kind == 'quote' or data.kind == 'index_quote'",
              fields = with(OHLC, {
                asset = ASSET,
                timestamp = { source = "received_at" },
                last = { source = "data.ltp" },
              }),
            },
            {
              condition = "data.kind == 'ltp'",
              fields = {
                asset = ASSET,
                timestamp = { source = "received_at" },
                last = { source = "data.ltp" },
              },
            },
          },
          order = {
            {
              fields = {
                order_id = { source = "data.data.order_id" },
                asset = { source = "broker.infer_asset{ security_id = data.data.instrument_token }" },
                status = { source = "mappings.order_status(data.data.status)" },
                side = { source = "string.lower(data.data.transaction_type)" },
                order_type = { source = "data.data.order_type" },
                quantity = { source = "data.data.quantity" },
                filled = { source = "data.data.filled_quantity", default = 0 },
                average_price = { source = "data.data.average_price", default = 0 },
                -- Kite times are IST wall-clock "2022-03-03 09:24:25"
                timestamp = {
                  source = "ts(string.sub(data.data.exchange_update_timestamp"
                    .. " or data.data.order_timestamp, 1, 10) .. 'T'"
                    .. " .. string.sub(data.data.exchange_update_timestamp"
                    .. " or data.data.order_timestamp, 12) .. '+05:30')",
                },
              },
            },
          },
        },
        reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
        -- 3000 instruments per connection (3 connections per API key)
        limits = { max_assets = 3000 },
      },
    },
  },
}

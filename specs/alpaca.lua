-- Alpaca: market data v2 (trades, quotes, minute bars) and the trading stream
-- (trade_updates). Protocol notes: shared/PROTOCOLS.md section 2.
--
--   feedhost run specs/alpaca.lua --assets AAPL,MSFT
--   credentials: ALPACA_API_KEY, ALPACA_API_SECRET (or --credentials FILE)
--
-- Market data frames are JSON arrays of items tagged by `T`; each item is routed
-- alone (frame = "array"). Trading updates are single JSON objects whose
-- numbers are strings.

-- symbols of the subscribed assets, as Alpaca spells them
local SYMBOLS = "map(subscribe_assets, '|a| a.broker_symbol or a.symbol')"

local function action(verb, keys)
  local fields = { action = { value = verb } }
  for _, k in ipairs(keys) do
    fields[k] = { source = SYMBOLS }
  end
  return { format = "json", json = { fields = fields }, order = { "action" } }
end

return {
  name = "alpaca",
  description = "Alpaca market data v2 (IEX) and trade_updates",
  credentials = { fields = { "api_key", "api_secret" } },

  mappings = {
    order_status = {
      map = {
        open = { "new", "accepted", "pending_new", "accepted_for_bidding", "partially_filled",
          "pending_cancel", "pending_replace", "replaced", "calculated" },
        complete = "filled",
        cancelled = { "canceled", "expired", "done_for_day" },
        rejected = "rejected",
        inactive = { "held", "stopped", "suspended" },
      },
      default = "open",
    },
  },

  streaming = {
    connections = {
      market_data = {
        description = "stocks: trades and minute bars on data, quotes on quote",
        url = "wss://stream.data.alpaca.markets/v2/iex",
        backend = { type = "websocket" },
        streams = { "data", "quote" },
        frame = "array",
        auth = {
          mode = "first_message",
          first_message = {
            format = "json",
            json = {
              fields = {
                action = { value = "auth" },
                key = { source = "credentials.api_key" },
                secret = { source = "credentials.api_secret" },
              },
            },
            order = { "action", "key", "secret" },
          },
          -- data is the whole frame here: [{"T":"success","msg":"authenticated"}]
          ack = "data[1] ~= nil and data[1].T == 'success' and data[1].msg == 'authenticated'",
          -- 401 not authenticated, 402 auth failed, 404 auth timeout, 406 connection limit
          reject = "data[1] ~= nil and data[1].T == 'error'"
            .. " and (data[1].code == 401 or data[1].code == 402 or data[1].code == 404"
            .. " or data[1].code == 406)",
        },
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
            -- success / subscription / error / trading status: control traffic, no record
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
        reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
      },

      trading = {
        description = "order updates (trade_updates) of the account",
        url = "wss://paper-api.alpaca.markets/stream",
        backend = { type = "websocket" },
        streams = { "order" },
        auth = {
          mode = "first_message",
          first_message = {
            format = "json",
            json = {
              fields = {
                action = { value = "authenticate" },
                data = {
                  key_id = { source = "credentials.api_key" },
                  secret_key = { source = "credentials.api_secret" },
                },
              },
            },
            order = { "action", "data" },
          },
          ack = "data.stream == 'authorization' and data.data.status == 'authorized'",
          reject = "data.stream == 'authorization' and data.data.status == 'unauthorized'",
        },
        subscribe = {
          subscribe = {
            order = {
              format = "json",
              json = {
                fields = {
                  action = { value = "listen" },
                  data = { streams = { { value = "trade_updates" } } },
                },
              },
              order = { "action", "data" },
            },
          },
          unsubscribe = {
            order = {
              format = "json",
              json = {
                fields = {
                  action = { value = "listen" },
                  -- listen replaces the set: an empty list stops the stream
                  data = { streams = { source = "json.array()" } },
                },
              },
              order = { "action", "data" },
            },
          },
        },
        -- paper accounts send the same JSON in binary frames
        parser = { format = "json" },
        router = {
          rules = {
            { channel = "order", match = "data.stream == 'trade_updates'" },
            { channel = "info", match = "data.stream == 'authorization'"
              .. " or data.stream == 'listening'" },
          },
        },
        converters = {
          order = {
            {
              fields = {
                order_id = { source = "data.data.order.id" },
                client_order_id = { source = "data.data.order.client_order_id" },
                asset = { source = "broker.infer_asset{ symbol = data.data.order.symbol }" },
                event = { source = "data.data.event" },
                status = { source = "mappings.order_status(data.data.order.status)" },
                side = { source = "data.data.order.side" },
                order_type = { source = "data.data.order.type" },
                quantity = { source = "num(data.data.order.qty)" },
                filled = { source = "num(data.data.order.filled_qty)", default = 0 },
                -- null until the first fill
                average_price = { source = "num(data.data.order.filled_avg_price)", default = 0 },
                -- fills carry their own time; other events use the order's last update
                timestamp = { source = "ts(data.data.timestamp or data.data.order.updated_at)" },
              },
            },
          },
        },
        reconnect = { initial = 1, max = 60, factor = 2, jitter = 0.2, stable_after = 30 },
      },
    },
  },
}

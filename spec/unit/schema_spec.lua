local schema = require "feedhost.spec.schema"
local schema_def = require "feedhost.spec.schema_def"

local function noop() end

-- A valid spec touching every key family. A fresh copy each call, so tests may mutate it.
local function full_spec()
  local registry = {
    kite_decode = noop, preprocess_frame = noop, convert_order = noop, encode_sub = noop,
    load_instruments = noop, on_connect = noop, on_disconnect = noop, on_error = noop,
    mqtt_topics = noop,
  }
  local subscribe_assets = "map(subscribe_assets, '|a| a.broker_symbol or a.symbol')"
  return {
    name = "example",
    description = "an example broker",
    version = "1.2",
    credentials = { fields = { "api_key", "api_secret", "access_token" },
      optional = { "access_token" } },
    mappings = {
      order_status = {
        map = { open = { "new", "accepted" }, complete = "filled",
          cancelled = { "canceled", "expired" }, rejected = "rejected" },
        default = "open",
      },
      side = { map = { buy = { 1, "B" }, sell = 2 } },
    },
    master_data = {
      file = "instruments.csv",
      delimiter = ",",
      fields = {
        symbol = "tradingsymbol", broker_symbol = "tradingsymbol",
        security_id = "instrument_token", exchange = "exchange", name = "name",
        asset_class = "instrument_type", tick_size = "tick_size", lot_size = "lot_size",
        expiry = "expiry", strike = "strike", option_type = "option_type",
      },
      filter = "row.segment == 'NSE'",
    },
    registry = registry,
    streaming = {
      connections = {
        market_data = {
          description = "trades and quotes",
          url = "wss://stream.example.com/v2/iex",
          backend = { type = "websocket", options = { headers = { ["User-Agent"] = "x" },
            verify = true, ca_file = "ca.pem", deflate = false, ping_interval = 20, ping_timeout = 10 } },
          streams = { "data", "quote" },
          frame = "array",
          auth = {
            mode = "first_message",
            first_message = {
              format = "json",
              json = { fields = { action = { source = "'auth'" },
                key = { source = "credentials.api_key" },
                secret = { source = function(ctx) return ctx.credentials.api_secret end } } },
              order = { "action", "key", "secret" },
            },
            ack = "data[1].T == 'success'",
            reject = function() return false end,
            timeout = 10,
          },
          subscribe = {
            subscribe = {
              data = { format = "json", json = { fields = {
                action = { value = "subscribe" },
                trades = { source = subscribe_assets },
              } } },
              quote = { format = "text", text = "SUB {symbol}",
                tokens = { fields = { symbol = { source = "asset.broker_symbol or asset.symbol" } } } },
              all = { format = "binary", encoder = "encode_sub" },
            },
            unsubscribe = {
              all = { format = "http", method = "POST", url = "https://api.example.com/unsub",
                headers = { fields = { Authorization = { source = "'Bearer ' .. credentials.api_key" } } },
                json = { source = "{ symbols = " .. subscribe_assets .. " }" } },
            },
          },
          parser = { format = "json", preprocess = "preprocess_frame",
            payload_path = "data.payload or data" },
          router = {
            enabled = true,
            rules = {
              { channel = "data", match = "data.T == 't'" },
              { channel = "quote", match = function(ctx) return ctx.data.T == "q" end },
              { channel = "heartbeat", match = "data.T == 'h'" },
            },
            default_channel = "unknown",
          },
          converters = {
            data = { {
              condition = "data.T == 't'",
              fields = {
                asset = { source = "broker.infer_asset{symbol = data.S}" },
                timestamp = { source = "ts(data.t)" },
                data = { price = { source = "num(data.p)" },
                  volume = { source = "num(data.s)", default = 0 } },
              },
            } },
            quote = { {
              fields = {
                asset = { source = "broker.infer_asset{symbol = data.S}" },
                bid = { source = function(ctx) return ctx.data.bp end },
                ask = { source = "data.ap" },
                open = { source = "data.o", condition = "data.o ~= nil" },
                market_depth = {
                  bids = { { { source = "data.b1" }, { source = "data.q1" } } },
                  asks = { { { source = "data.a1" }, { source = "data.r1" } } },
                },
                flags = { value = { 1, 2, 3 } },
                extra = { custom = "convert_order" },
              },
            } },
          },
          hooks = { on_connect = "on_connect", on_disconnect = "on_disconnect",
            on_error = "on_error", on_message = function(ctx) return ctx.message end },
          heartbeat = { interval = 30, message = "ping", timeout = 10, idle_timeout = 60 },
          reconnect = { initial = 0.5, max = 30, factor = 2, jitter = 0.2, stable_after = 60 },
          limits = { max_assets = 1000, subscribe_rate = 5, max_frame_bytes = 1048576 },
        },
        trading = {
          url = "https://stream.example.com",
          backend = { type = "socketio", options = { eio = 3, transports = { "websocket" },
            path = "/apimarketdata/socket.io" } },
          streams = { "order", "position", "account", "news", "trade", "info" },
          events = { order = "order-update", position = "1502-json-full" },
          frame = "record",
          auth = { mode = "url", url = { query = { fields = {
            token = { source = "credentials.access_token" },
            userID = { value = "u1" },
          } } } },
          subscribe = { subscribe = { all = { format = "json", event = "join", namespace = "/",
            json = { custom = "encode_sub" } } } },
          parser = { format = "binary", decode = "kite_decode" },
          router = { enabled = false },
          converters = {
            order = {
              { condition = "data.kind == 'raw'", custom = "convert_order" },
              { fields = {
                order_id = { source = "str(data.order_id)" },
                status = { source = "mappings.order_status(data.status)" },
                filled = { source = "num(data.filled_qty)", default = 0 },
              } },
            },
          },
          heartbeat = { interval = 20, message = { format = "text", text = "2", event = "beat" } },
        },
      },
    },
  }
end

local function conn(spec, name) return spec.streaming.connections[name or "market_data"] end

-- Returns the errors at exactly `path`.
local function at(errors, path)
  local out = {}
  for _, e in ipairs(errors) do
    if e.path == path then out[#out + 1] = e end
  end
  return out
end

local function dump(errors)
  return schema.format_errors(errors, "t.lua")
end

-- Asserts that validating `spec` gives an error at `path` whose message contains every one of
-- the `parts` (plain text), and returns all errors.
local function expect(spec, path, ...)
  local errors = schema.validate(spec, "t.lua")
  local here = at(errors, path)
  assert(#here > 0, "no error at " .. path .. "; got:\n" .. dump(errors))
  for _, part in ipairs({ ... }) do
    local found = false
    for _, e in ipairs(here) do
      if e.msg:find(part, 1, true) then found = true end
    end
    assert(found, "no error at " .. path .. " mentioning [" .. part .. "]; got:\n" .. dump(errors))
  end
  return errors
end

-- Asserts that validating `spec` gives exactly these {path, msg} pairs, in this order.
local function expect_exactly(spec, expected)
  local errors = schema.validate(spec, "t.lua")
  local got = {}
  for i, e in ipairs(errors) do got[i] = { e.path, e.msg } end
  assert.same(expected, got)
end

local MD = "streaming.connections.market_data"
local TR = "streaming.connections.trading"

describe("feedhost.spec.schema", function()
  describe("valid specs", function()
    it("a full spec with two connections and every key family has no errors", function()
      local errors = schema.validate(full_spec(), "t.lua")
      assert.same({}, errors, dump(errors))
    end)

    it("accepts the mqtt and zmq backends with their options", function()
      local spec = full_spec()
      spec.streaming.connections.ticks = {
        url = "ssl://mqtt.example.com:8883",
        backend = { type = "mqtt", options = { client_id = "c1", keepalive = 60,
          transport = "websockets", tls_kwargs = { tls_version = 2 } } },
        streams = { "quote" },
        subscribe = { subscribe = { all = { format = "json", topics = { source =
          "map(subscribe_assets, '|a| a.security_id')" } } } },
        parser = { format = "text" },
      }
      spec.streaming.connections.internal = {
        url = "tcp://127.0.0.1:5556",
        backend = { type = "zmq", options = { socket_type = "SUB", subscribe_filter = "" } },
        streams = { "data" },
        subscribe = { subscribe = { data = { format = "json", custom = "mqtt_topics" } } },
      }
      local errors = schema.validate(spec, "t.lua")
      assert.same({}, errors, dump(errors))
    end)

    it("accepts master data given as rows or as a custom loader, and headers auth", function()
      local spec = full_spec()
      spec.master_data = { rows = { { tradingsymbol = "AAPL" } }, fields = { symbol = "tradingsymbol" } }
      conn(spec).auth = { mode = "headers", headers = { fields = {
        ["APCA-API-KEY-ID"] = { source = "credentials.api_key" } } } }
      assert.same({}, schema.validate(spec))
      spec.master_data = { custom = "load_instruments" }
      assert.same({}, schema.validate(spec))
      spec.master_data = { custom = function() return {} end, format = "json" }
      assert.same({}, schema.validate(spec))
      spec.master_data = { file = "instruments.JSON" }
      assert.same({}, schema.validate(spec))
    end)

    it("accepts a minimal spec", function()
      assert.same({}, schema.validate({ name = "x", streaming = { connections = {
        md = { url = "ws://127.0.0.1:9000" } } } }))
    end)

    it("does not check registry names when the spec has no registry", function()
      local spec = full_spec()
      spec.registry = nil
      assert.same({}, schema.validate(spec))
    end)
  end)

  describe("top level", function()
    it("reports a spec that is not a table at (spec)", function()
      local errors = schema.validate("nope", "x.lua")
      assert.same({ { path = "(spec)", msg = "a spec must be a table, got string", file = "x.lua" } },
        errors)
    end)

    it("requires name and streaming", function()
      expect_exactly({}, {
        { "name", "required key is missing" },
        { "streaming", "required key is missing" },
      })
    end)

    it("reports wrong types with the expected and the actual type", function()
      local spec = full_spec()
      spec.name = 42
      spec.description = {}
      spec.version = true
      expect_exactly(spec, {
        { "description", "expected string, got table" },
        { "name", "expected string, got number" },
        { "version", "expected number or string, got boolean" },
      })
    end)

    it("suggests the right top-level key", function()
      local spec = full_spec()
      spec.streming, spec.streaming = spec.streaming, nil
      expect_exactly(spec, {
        { "streaming", "required key is missing" },
        { "streming", "unknown key (did you mean 'streaming'?)" },
      })
    end)

    it("lists the known keys when nothing is close", function()
      local spec = full_spec()
      spec.zzzzzz = 1
      expect(spec, "zzzzzz", "unknown key (known keys: credentials, description, mappings,"
        .. " master_data, name, registry, streaming, universes, version)")
    end)

    it("checks credentials lists", function()
      local spec = full_spec()
      spec.credentials = { fields = { "api_key", 7 }, optional = "access_token", secret = {} }
      expect_exactly(spec, {
        { "credentials.fields[2]", "expected string, got number" },
        { "credentials.optional", "expected a list, got string" },
        { "credentials.secret", "unknown key (known keys: fields, optional)" },
      })
    end)

    it("checks registry entries are functions", function()
      local spec = full_spec()
      spec.registry.helper = "not a function"
      expect_exactly(spec, { { "registry.helper", "expected function, got string" } })
    end)

    it("checks mappings: map entries, default and duplicate broker values", function()
      local spec = full_spec()
      local m = spec.mappings.order_status
      m.default = "opne"
      m.map.complete = { "filled", true }
      m.map.rejected = "new"
      spec.mappings.side = { default = "buy" }
      expect_exactly(spec, {
        { "mappings.order_status.default", "'opne' is not a canonical value of this map"
          .. " (one of cancelled, complete, open, rejected) (did you mean 'open'?)" },
        { "mappings.order_status.map.complete[2]", "expected string or number, got boolean" },
        { "mappings.order_status.map.rejected", "broker value 'new' is already mapped to 'open'" },
        { "mappings.side.map", "required key is missing" },
      })
    end)
  end)

  describe("master_data", function()
    it("needs exactly one of file, rows, custom", function()
      local spec = full_spec()
      spec.master_data = { format = "csv" }
      expect(spec, "master_data", "needs exactly one of file, rows, custom")
      spec.master_data = { file = "a.csv", rows = {} }
      expect(spec, "master_data", "'file' and 'rows' cannot be used together")
    end)

    it("checks format, fields, filter, rows, custom and delimiter", function()
      local spec = full_spec()
      spec.master_data = { file = "instruments.txt", fields = { simbol = "ts", expiry = 3 },
        filter = 1, delimiter = false }
      expect_exactly(spec, {
        { "master_data.delimiter", "expected string, got boolean" },
        { "master_data.fields.expiry", "expected string, function or table, got number" },
        { "master_data.fields.simbol", "'simbol' is not one of symbol, broker_symbol,"
          .. " security_id, exchange, name, asset_class, tick_size, lot_size, expiry, strike,"
          .. " option_type (did you mean 'symbol'?)" },
        { "master_data.filter", "expected string or function, got number" },
        { "master_data.format", "cannot infer the format from 'instruments.txt'; set format ="
          .. " 'csv' or 'json'" },
      })
      spec.master_data = { file = "a.csv", format = "xml" }
      expect(spec, "master_data.format", "'xml' is not one of csv, json")
      spec.master_data = { rows = { "AAPL" } }
      expect(spec, "master_data.rows[1]", "expected table, got string")
      spec.master_data = { custom = "load_instrumnets" }
      expect(spec, "master_data.custom",
        "registry has no function 'load_instrumnets' (did you mean 'load_instruments'?)")
    end)
  end)

  describe("streaming and connections", function()
    it("requires at least one connection", function()
      local spec = full_spec()
      spec.streaming.connections = {}
      expect_exactly(spec, { { "streaming.connections", "at least one connection is required" } })
      spec.streaming = {}
      expect_exactly(spec, { { "streaming.connections", "required key is missing" } })
    end)

    it("requires connection names to be identifiers", function()
      local spec = full_spec()
      spec.streaming.connections["market-data"] = { url = "wss://x" }
      spec.streaming.connections["2nd"] = { url = "wss://x" }
      expect_exactly(spec, {
        { 'streaming.connections["2nd"]',
          "connection name must be an identifier (letters, digits, underscore)" },
        { 'streaming.connections["market-data"]',
          "connection name must be an identifier (letters, digits, underscore)" },
      })
    end)

    it("suggests 'converters' for 'convertors'", function()
      local spec = full_spec()
      local c = conn(spec)
      c.convertors, c.converters = c.converters, nil
      expect_exactly(spec, { { MD .. ".convertors", "unknown key (did you mean 'converters'?)" } })
      assert.equal("t.lua: " .. MD .. ".convertors: unknown key (did you mean 'converters'?)",
        schema.format_errors(schema.validate(spec, "t.lua"), "t.lua"))
    end)

    it("requires a url whose scheme suits the backend", function()
      local spec = full_spec()
      conn(spec).url = nil
      expect_exactly(spec, { { MD .. ".url", "required key is missing" } })
      conn(spec).url = "http://stream.example.com"
      expect_exactly(spec, { { MD .. ".url",
        "a websocket url must start with ws:// or wss://, got 'http://stream.example.com'" } })
      conn(spec).url = 5
      expect_exactly(spec, { { MD .. ".url", "expected string, got number" } })
    end)

    it("rejects unknown websocket options with a suggestion", function()
      local spec = full_spec()
      conn(spec).backend.options.verfy = false
      local errors = schema.validate(spec)
      assert.equal(1, #errors)
      assert.equal(MD .. ".backend.options.verfy", errors[1].path)
      assert.matches("did you mean 'verify'", errors[1].msg)
    end)

    it("Socket.IO: options are a closed set with suggestions, emits need an event, Engine.IO 3"
      .. " has no CONNECT payload, events belong to Socket.IO", function()
      local spec = full_spec()
      local tr = spec.streaming.connections.trading
      tr.backend.options.namespce = "/md"
      tr.backend.options.transports = { "polling" }
      local errors = schema.validate(spec)
      assert.equal(2, #errors, dump(errors))
      assert.equal(TR .. ".backend.options.namespce", errors[1].path)
      assert.matches("did you mean 'namespace'", errors[1].msg)
      assert.equal(TR .. ".backend.options.transports[1]", errors[2].path)
      spec = full_spec()
      tr = spec.streaming.connections.trading
      tr.backend.options.namespace = "md"
      tr.subscribe.subscribe.all.event = nil
      tr.auth = { mode = "first_message", first_message = { format = "json", json = { fields = {
        token = { value = "t" } } } } }
      conn(spec).events = { quote = "q" }
      expect_exactly(spec, {
        { MD .. ".events", "only for backend type 'socketio' (event names of channels)" },
        { TR .. ".auth.first_message", "Engine.IO 3 has no CONNECT payload: put the credentials"
          .. " in the URL (auth.mode = \"url\") or make the message an emit (event)" },
        { TR .. ".backend.options.namespace", "a Socket.IO namespace starts with '/', got 'md'" },
        { TR .. ".subscribe.subscribe.all", "a Socket.IO message is an emit: give its event name"
          .. " (event = \"...\"), or format = \"http\" for a subscription over HTTP" },
      })
      -- over HTTP, no event is needed; Engine.IO 4 takes the first message as CONNECT payload
      tr.subscribe.subscribe.all = { format = "http", method = "POST", url = "/subscribe",
        json = { fields = { a = { value = 1 } } } }
      tr.backend.options.eio, tr.backend.options.namespace = 4, "/md"
      conn(spec).events = nil
      expect_exactly(spec, {})
    end)

    it("checks the mqtt and zmq options as closed sets, the login mode and ZeroMQ endpoints", function()
      local spec = full_spec()
      conn(spec).url = "tcp://mqtt.example.com:1883"
      conn(spec).backend = { type = "mqtt", options = { keepalve = 30, qos = 3,
        tls_kwargs = { ca_cert = "x.pem" } } }
      conn(spec).auth = { mode = "login", password = { source = "credentials.api_secret" } }
      expect_exactly(spec, {
        { MD .. ".auth.username", "required when mode is 'login'" },
        { MD .. ".backend.options.keepalve", "unknown key (did you mean 'keepalive'?)" },
        { MD .. ".backend.options.qos", "3 is not one of 0, 1, 2" },
        { MD .. ".backend.options.tls_kwargs.ca_cert", "unknown key (did you mean 'ca_certs'?)" },
      })

      spec = full_spec()
      conn(spec).auth = { mode = "login", username = { source = "credentials.api_key" } }
      expect_exactly(spec, { { MD .. ".auth.mode", "'login' (user name and password in the"
        .. " session's CONNECT) is for MQTT connections, this one is 'websocket'" } })

      spec = full_spec()
      conn(spec).url = "tcp://localhost"
      conn(spec).backend = { type = "zmq", options = { command_endpoint = "tcp://localhost:99999",
        reply_endpoint = "udp://x:1", socket_type = "SUB" } }
      expect_exactly(spec, {
        { MD .. ".backend.options.command_endpoint", "a ZeroMQ endpoint is tcp://host:port,"
          .. " ipc://path or inproc://name (tcp wants a host and a port 1-65535), got"
          .. " 'tcp://localhost:99999'" },
        { MD .. ".backend.options.reply_endpoint", "a ZeroMQ endpoint is tcp://host:port,"
          .. " ipc://path or inproc://name, got 'udp://x:1'" },
        { MD .. ".url", "a ZeroMQ endpoint is tcp://host:port, ipc://path or inproc://name (tcp"
          .. " wants a host and a port 1-65535), got 'tcp://localhost'" },
      })

      for _, ok in ipairs({ "tcp://127.0.0.1:32770", "tcp://[::1]:5556", "tcp://*:5556",
        "tcp://eth0;example.com:5556", "ipc:///tmp/feed.sock", "inproc://prices" }) do
        spec = full_spec()
        conn(spec).url = ok
        conn(spec).backend = { type = "zmq", options = { subscribe_filter = { "EURUSD", "GBPUSD" } } }
        expect_exactly(spec, {})
      end
    end)

    it("checks backend type and per-backend options", function()
      local spec = full_spec()
      conn(spec).backend = { type = "websockt" }
      expect_exactly(spec, { { MD .. ".backend.type",
        "'websockt' is not one of websocket, socketio, mqtt, zmq (did you mean 'websocket'?)" } })

      spec = full_spec()
      conn(spec, "trading").backend.options = { eio = 5, transports = "websocket", path = 1 }
      expect_exactly(spec, {
        { TR .. ".backend.options.eio", "5 is not one of 3, 4" },
        { TR .. ".backend.options.path", "expected string, got number" },
        { TR .. ".backend.options.transports", "expected a list, got string" },
      })

      spec = full_spec()
      conn(spec).url = "tcp://mqtt.example.com:1883"
      conn(spec).backend = { type = "mqtt", options = { keepalive = "60", client_id = 1,
        transport = "tpc" } }
      expect_exactly(spec, {
        { MD .. ".backend.options.client_id", "expected string, got number" },
        { MD .. ".backend.options.keepalive", "expected number, got string" },
        { MD .. ".backend.options.transport",
          "'tpc' is not one of tcp, websockets (did you mean 'tcp'?)" },
      })

      spec = full_spec()
      conn(spec).url = "ipc:///tmp/feed"
      conn(spec).backend = { type = "zmq", options = { socket_type = "sub", subscribe_filter = 0 } }
      expect_exactly(spec, {
        { MD .. ".backend.options.socket_type",
          "'sub' is not one of SUB, PULL, DEALER, PAIR (did you mean 'SUB'?)" },
        { MD .. ".backend.options.subscribe_filter", "expected string or table, got number" },
      })

      spec = full_spec()
      conn(spec).backend = { type = "websocket", options = "x", kind = "ws" }
      expect_exactly(spec, {
        { MD .. ".backend.kind", "unknown key (known keys: options, type)" },
        { MD .. ".backend.options", "expected table, got string" },
      })
    end)

    it("checks channel names in streams, events, router, converters and subscribe", function()
      local spec = full_spec()
      local c, t = conn(spec), conn(spec, "trading")
      c.streams = { "data", "qoute" }
      t.events = { ordr = "order", position = 3 }
      c.router.rules[1].channel = "dta"
      c.router.default_channel = "unknwn"
      c.converters.trades = c.converters.data
      c.subscribe.subscribe.al = c.subscribe.subscribe.all
      local errors = schema.validate(spec, "t.lua")
      local function msg(path)
        local here = at(errors, path)
        assert.equal(1, #here, "errors at " .. path .. ":\n" .. dump(errors))
        return here[1].msg
      end
      local all = "data, quote, order, position, account, news, trade, heartbeat, info, unknown"
      assert.equal("'qoute' is not one of " .. all .. " (did you mean 'quote'?)",
        msg(MD .. ".streams[2]"))
      assert.equal("'ordr' is not one of " .. all .. " (did you mean 'order'?)",
        msg(TR .. ".events.ordr"))
      assert.equal("expected string, got number", msg(TR .. ".events.position"))
      assert.equal("'dta' is not one of " .. all .. " (did you mean 'data'?)",
        msg(MD .. ".router.rules[1].channel"))
      assert.equal("'unknwn' is not one of " .. all .. " (did you mean 'unknown'?)",
        msg(MD .. ".router.default_channel"))
      assert.equal("'trades' is not one of " .. all .. " (did you mean 'trade'?)",
        msg(MD .. ".converters.trades"))
      assert.equal("'al' is not one of all, " .. all .. " (did you mean 'all'?)",
        msg(MD .. ".subscribe.subscribe.al"))
      assert.equal(7, #errors, dump(errors))
    end)

    it("checks frame", function()
      local spec = full_spec()
      conn(spec).frame = "arrays"
      expect_exactly(spec, { { MD .. ".frame",
        "'arrays' is not one of record, array (did you mean 'array'?)" } })
    end)

    it("checks auth and the key each mode requires", function()
      local spec = full_spec()
      conn(spec).auth = { headers = { fields = {} } }
      expect_exactly(spec, { { MD .. ".auth.mode", "required key is missing" } })
      conn(spec).auth = { mode = "headers" }
      expect_exactly(spec, { { MD .. ".auth.headers", "required when mode is 'headers'" } })
      conn(spec).auth = { mode = "first_message" }
      expect_exactly(spec, { { MD .. ".auth.first_message",
        "required when mode is 'first_message'" } })
      conn(spec).auth = { mode = "url", url = {} }
      expect_exactly(spec, { { MD .. ".auth.url.query", "required key is missing" } })
      conn(spec).auth = { mode = "url" }
      expect_exactly(spec, { { MD .. ".auth.url", "required when mode is 'url'" } })
      conn(spec).auth = { mode = "oauth", ack = 1, reject = {}, timeout = -1 }
      expect_exactly(spec, {
        { MD .. ".auth.ack", "expected string or function, got number" },
        { MD .. ".auth.mode", "'oauth' is not one of none, headers, first_message, url, login" },
        { MD .. ".auth.reject", "expected string or function, got table" },
        { MD .. ".auth.timeout", "must be > 0, got -1" },
      })
      conn(spec).auth = { mode = "none" }
      expect_exactly(spec, {})
    end)

    it("checks messages and the key each format requires", function()
      local spec = full_spec()
      local sub = conn(spec).subscribe.subscribe
      sub.data = { json = { fields = {} } }
      sub.quote = { format = "text", tokens = { symbol = { source = "x" } } }
      sub.all = { format = "binary", encoder = "encode_subs" }
      conn(spec).subscribe.unsubscribe.all = { format = "http", method = "PATCH", order = "a" }
      expect_exactly(spec, {
        { MD .. ".subscribe.subscribe.all.encoder",
          "registry has no function 'encode_subs' (did you mean 'encode_sub'?)" },
        { MD .. ".subscribe.subscribe.data.format", "required key is missing" },
        { MD .. ".subscribe.subscribe.quote.text", "required when format is 'text'" },
        { MD .. ".subscribe.subscribe.quote.tokens.fields", "required key is missing" },
        { MD .. ".subscribe.subscribe.quote.tokens.symbol",
          "unknown key (known keys: fields)" },
        { MD .. ".subscribe.unsubscribe.all.method",
          "'PATCH' is not one of GET, POST, PUT, DELETE" },
        { MD .. ".subscribe.unsubscribe.all.order", "expected a list, got string" },
        { MD .. ".subscribe.unsubscribe.all.url", "required when format is 'http'" },
      })
    end)

    it("requires json (or topics/custom) for json messages and an encoder for binary", function()
      local spec = full_spec()
      local sub = conn(spec).subscribe.subscribe
      sub.data = { format = "json" }
      sub.all = { format = "binary" }
      sub.quote = { format = "jsno", json = { feilds = {} } }
      expect_exactly(spec, {
        { MD .. ".subscribe.subscribe.all.encoder", "required when format is 'binary'" },
        { MD .. ".subscribe.subscribe.data.json",
          "required when format is 'json' (or give topics or custom)" },
        { MD .. ".subscribe.subscribe.quote.format",
          "'jsno' is not one of json, text, binary, http (did you mean 'json'?)" },
        { MD .. ".subscribe.subscribe.quote.json",
          "needs exactly one of fields, source, value, custom" },
        { MD .. ".subscribe.subscribe.quote.json.feilds", "unknown key (did you mean 'fields'?)" },
      })
    end)

    it("explains a message placed directly under subscribe.subscribe", function()
      local spec = full_spec()
      conn(spec).subscribe = { subscribe = { format = "json", json = { custom = "encode_sub" } } }
      local errors = expect(spec, MD .. ".subscribe.subscribe.format",
        "a message goes under a channel name or 'all'")
      expect(spec, MD .. ".subscribe.subscribe.json", "a message goes under a channel name")
      assert.equal(2, #errors)
    end)

    it("checks parser format, decode and fn-refs", function()
      local spec = full_spec()
      conn(spec).parser = { format = "jsno", preprocess = 3, payload_path = false }
      expect_exactly(spec, {
        { MD .. ".parser.format", "'jsno' is not one of json, text, binary (did you mean 'json'?)" },
        { MD .. ".parser.payload_path", "expected string or function, got boolean" },
        { MD .. ".parser.preprocess", "expected string or function, got number" },
      })
      conn(spec).parser = { format = "binary" }
      expect_exactly(spec, { { MD .. ".parser.decode", "required when format is 'binary'" } })
      conn(spec).parser = { format = "binary", decode = "kite_decod" }
      expect_exactly(spec, { { MD .. ".parser.decode",
        "registry has no function 'kite_decod' (did you mean 'kite_decode'?)" } })
      conn(spec).parser = { format = "binary", decode = "zzz_unrelated" }
      expect_exactly(spec, { { MD .. ".parser.decode", "registry has no function 'zzz_unrelated'" } })
    end)

    it("checks the router", function()
      local spec = full_spec()
      local r = conn(spec).router
      r.enabled = "yes"
      r.rules[2].match = nil
      r.rules[3] = { chanel = "data", match = 5 }
      expect_exactly(spec, {
        { MD .. ".router.enabled", "expected boolean, got string" },
        { MD .. ".router.rules[2].match", "required key is missing" },
        { MD .. ".router.rules[3].chanel", "unknown key (did you mean 'channel'?)" },
        { MD .. ".router.rules[3].channel", "required key is missing" },
        { MD .. ".router.rules[3].match", "expected string or function, got number" },
      })
      conn(spec).router = { rules = { channel = "data", match = "true" } }
      expect_exactly(spec, { { MD .. ".router.rules",
        "expected a list, got a table with named keys (wrap the entry in { ... })" } })
    end)

    it("sorts list indices numerically", function()
      local spec = full_spec()
      local rules = {}
      for i = 1, 11 do rules[i] = { channel = "data", match = "true" } end
      rules[2].match = 1
      rules[10].match = 1
      conn(spec).router.rules = rules
      expect_exactly(spec, {
        { MD .. ".router.rules[2].match", "expected string or function, got number" },
        { MD .. ".router.rules[10].match", "expected string or function, got number" },
      })
    end)

    it("checks converters: rule shape and exactly one of fields/custom", function()
      local spec = full_spec()
      local cv = conn(spec).converters
      cv.data = { condition = "true", fields = {} }
      cv.quote = {
        { condition = "true" },
        { fields = { bid = { source = "x" } }, custom = "convert_order" },
        { custom = "convert_ordr" },
      }
      expect_exactly(spec, {
        { MD .. ".converters.data",
          "expected a list, got a table with named keys (wrap the entry in { ... })" },
        { MD .. ".converters.quote[1]", "needs exactly one of fields, custom" },
        { MD .. ".converters.quote[2]",
          "'fields' and 'custom' cannot be used together (use exactly one of fields, custom)" },
        { MD .. ".converters.quote[3].custom",
          "registry has no function 'convert_ordr' (did you mean 'convert_order'?)" },
      })
    end)

    it("checks hooks", function()
      local spec = full_spec()
      conn(spec).hooks = { on_connected = "on_connect", on_error = 1, on_disconnect = "nope" }
      expect_exactly(spec, {
        { MD .. ".hooks.on_connected", "unknown key (did you mean 'on_connect'?)" },
        { MD .. ".hooks.on_disconnect", "registry has no function 'nope'" },
        { MD .. ".hooks.on_error", "expected string, function or table, got number" },
      })
    end)

    it("checks heartbeat", function()
      local spec = full_spec()
      conn(spec).heartbeat = { interval = 0, message = "pong", timeout = "5", idle_timeout = -1 }
      expect_exactly(spec, {
        { MD .. ".heartbeat.idle_timeout", "must be > 0, got -1" },
        { MD .. ".heartbeat.interval", "must be > 0, got 0" },
        { MD .. ".heartbeat.message", "'pong' is not one of ping (did you mean 'ping'?); the only"
          .. " string allowed is 'ping' (a WebSocket ping frame); use a message table for"
          .. " anything else" },
        { MD .. ".heartbeat.timeout", "expected number, got string" },
      })
      conn(spec).heartbeat = { message = { format = "text" } }
      expect_exactly(spec, {
        { MD .. ".heartbeat.interval", "required when heartbeat.message is set" },
        { MD .. ".heartbeat.message.text", "required when format is 'text'" },
      })
      conn(spec).heartbeat = { interval = 5, message = 1 }
      expect_exactly(spec, { { MD .. ".heartbeat.message", "expected string or table, got number" } })
    end)

    it("checks reconnect bounds", function()
      local spec = full_spec()
      conn(spec).reconnect = { initial = -1, max = 30, factor = 0.5, jitter = 1.5, stable_after = "x" }
      expect_exactly(spec, {
        { MD .. ".reconnect.factor", "must be >= 1, got 0.5" },
        { MD .. ".reconnect.initial", "must be >= 0, got -1" },
        { MD .. ".reconnect.jitter", "must be between 0 and 1, got 1.5" },
        { MD .. ".reconnect.stable_after", "expected number, got string" },
      })
      conn(spec).reconnect = { initial = 10, max = 5 }
      expect_exactly(spec, { { MD .. ".reconnect.max", "must be >= initial (10), got 5" } })
    end)

    it("checks limits", function()
      local spec = full_spec()
      conn(spec).limits = { max_assets = 1.5, subscribe_rate = 0, max_frame_bytes = -4, burst = 1 }
      expect_exactly(spec, {
        { MD .. ".limits.burst",
          "unknown key (known keys: connect_timeout, max_assets, max_frame_bytes, subscribe_rate)" },
        { MD .. ".limits.max_assets", "must be an integer, got 1.5" },
        { MD .. ".limits.max_frame_bytes", "must be > 0, got -4" },
        { MD .. ".limits.subscribe_rate", "must be > 0, got 0" },
      })
    end)

    it("reports a non-table where a section is expected", function()
      local spec = full_spec()
      conn(spec).router = "on"
      conn(spec, "trading").auth = noop
      expect_exactly(spec, {
        { MD .. ".router", "expected table, got string" },
        { TR .. ".auth", "expected table, got function" },
      })
    end)
  end)

  describe("values", function()
    local F = MD .. ".converters.data[1].fields"

    local function with_fields(fields)
      local spec = full_spec()
      conn(spec).converters.data[1].fields = fields
      return spec
    end

    it("rejects a bare string or number with a hint", function()
      expect_exactly(with_fields({ price = "data.p", size = 3 }), {
        { F .. ".price", 'expected a value table like { source = "..." } or { value = ... },'
          .. " got string" },
        { F .. ".size", 'expected a value table like { source = "..." } or { value = ... },'
          .. " got number" },
      })
    end)

    it("rejects source and value together, and checks each leaf key", function()
      expect_exactly(with_fields({
        a = { source = "x", value = 1 },
        b = { source = 1 },
        c = { value = 1, condition = 2 },
        d = { value = 1, default = noop },
        e = { custom = "nope" },
        f = { source = "x", defualt = 0 },
      }), {
        { F .. ".a", "'source' and 'value' cannot be used together (use exactly one of source,"
          .. " value, custom)" },
        { F .. ".b.source", "expected string or function, got number" },
        { F .. ".c.condition", "expected string or function, got number" },
        { F .. ".d.default", "expected a constant, got function" },
        { F .. ".e.custom", "registry has no function 'nope'" },
        { F .. ".f.defualt", "unknown key (did you mean 'default'?)" },
      })
    end)

    it("validates nested tables and lists of values recursively", function()
      expect_exactly(with_fields({
        data = { close = { source = "data.c" }, volume = "data.v",
          deep = { x = { sorce = "data.x" } } },
        market_depth = { bids = { { { source = "data.b" }, 5 } } },
        empty = {},
        mixed = { { source = "a" }, b = { source = "b" } },
        leafless = { condition = "x", default = 0 },
      }), {
        { F .. ".data.deep.x.sorce", "unknown key (did you mean 'source'?)" },
        { F .. ".data.volume", 'expected a value table like { source = "..." } or'
          .. " { value = ... }, got string" },
        { F .. ".empty", 'empty table: expected a value table like { source = "..." } or'
          .. " { value = ... } (a constant empty table is { value = {} })" },
        { F .. ".leafless", "needs exactly one of source, value, custom" },
        { F .. ".market_depth.bids[1][2]", 'expected a value table like { source = "..." } or'
          .. " { value = ... }, got number" },
        { F .. ".mixed", "a table of values is either a list or named fields, not both" },
      })
    end)

    it("writes non-identifier names in brackets", function()
      local spec = full_spec()
      conn(spec).auth = { mode = "headers", headers = { fields = { ["APCA-API-KEY-ID"] = "k" } } }
      expect(spec, MD .. '.auth.headers.fields["APCA-API-KEY-ID"]', "expected a value table like")
    end)

    it("checks json bodies given as a value and text tokens", function()
      local spec = full_spec()
      conn(spec).subscribe.unsubscribe.all.json = { source = "x", custom = "encode_sub" }
      conn(spec).subscribe.subscribe.quote.tokens.fields.symbol = "asset.symbol"
      expect_exactly(spec, {
        { MD .. ".subscribe.subscribe.quote.tokens.fields.symbol",
          'expected a value table like { source = "..." } or { value = ... }, got string' },
        { MD .. ".subscribe.unsubscribe.all.json",
          "'source' and 'custom' cannot be used together (use exactly one of fields, source,"
          .. " value, custom)" },
      })
    end)
  end)

  describe("all errors at once", function()
    it("reports three mistakes together, sorted by path", function()
      local spec = full_spec()
      conn(spec).parser.format = "jsno"
      conn(spec).router.rules[2].match = nil
      conn(spec, "trading").streams[1] = "odrer"
      expect_exactly(spec, {
        { MD .. ".parser.format", "'jsno' is not one of json, text, binary (did you mean 'json'?)" },
        { MD .. ".router.rules[2].match", "required key is missing" },
        { TR .. ".streams[1]", "'odrer' is not one of data, quote, order, position, account,"
          .. " news, trade, heartbeat, info, unknown (did you mean 'order'?)" },
      })
    end)

    it("formats errors as FILE: PATH: MSG lines", function()
      local spec = full_spec()
      spec.name = nil
      conn(spec).frame = 1
      local errors = schema.validate(spec, "specs/x.lua")
      assert.equal("specs/x.lua: name: required key is missing\n"
        .. "specs/x.lua: " .. MD .. ".frame: expected string or table, got number",
        schema.format_errors(errors, "specs/x.lua"))
      assert.equal("", schema.format_errors({}, "specs/x.lua"))
    end)

    it("gives the same result on every run", function()
      local spec = full_spec()
      spec.version = {}
      conn(spec).frame = "x"
      conn(spec).limits.max_assets = 0
      conn(spec, "trading").parser.decode = nil
      local first = schema.validate(spec)
      for _ = 1, 5 do assert.same(first, schema.validate(spec)) end
      assert.equal(4, #first)
    end)
  end)

  describe("suggest", function()
    it("finds typos within max(1, #word // 3) edits", function()
      assert.equal("converters", schema.suggest("convertors", { "url", "converters", "hooks" }))
      assert.equal("json", schema.suggest("jsno", { "json", "text", "binary" }))
      assert.equal("url", schema.suggest("ur", { "url" }))
      assert.is_nil(schema.suggest("xyz", { "url" }))
      assert.is_nil(schema.suggest("ab", { "abcd" }))
      assert.equal("streaming", schema.suggest("straeming", { "streaming" }))
    end)

    it("matches case-insensitively at any distance", function()
      assert.equal("SUB", schema.suggest("sub", { "PULL", "SUB" }))
      assert.equal("first_message", schema.suggest("FIRST_MESSAGE", { "url", "first_message" }))
    end)

    it("prefers the closest and then the earliest candidate", function()
      assert.equal("quote", schema.suggest("qoute", { "quota", "quote" }))
      assert.equal("date", schema.suggest("dat", { "date", "data" }))
      assert.equal("trade", schema.suggest("trades", { "data", "trade", "trades2" }))
    end)

    it("uses true Damerau-Levenshtein distance", function()
      assert.equal(1, schema.distance("ab", "ba"))
      assert.equal(2, schema.distance("ca", "abc"))
      assert.equal(3, schema.distance("kitten", "sitting"))
      assert.equal(0, schema.distance("", ""))
    end)

    it("returns nil for non-string words", function()
      assert.is_nil(schema.suggest(1, { "1" }))
    end)
  end)

  it("exports the channel list", function()
    assert.same({ "data", "quote", "order", "position", "account", "news", "trade", "heartbeat",
      "info", "unknown" }, schema_def.CHANNELS)
  end)
end)

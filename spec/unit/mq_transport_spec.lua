-- The pure parts of the MQTT and ZeroMQ transports: topic lists and their bytes for C, MQTT URLs
-- and paho's URIs, ZeroMQ endpoints, client ids; registry.dwx's readers of the DWX EA's messages
-- (prices, rates, Python-literal replies); and what `feedhost check` prints for the MQTT and
-- ZeroMQ specs (their login, topics, commands and prefixes).
require("feedhost.core")
local transport = require("feedhost.transport")
local mqtt = require("feedhost.transport.mqtt")
local dwx = require("registry.dwx")
local webull = require("registry.webull")

describe("transport topics", function()
  it("normalizes strings, {topic, qos} pairs and records, without repeats", function()
    local list = assert(transport.topic_list({ "a/b", { "c/#", 1 }, { topic = "d", qos = 2 }, "a/b" }, 0))
    assert.are.same({ { "a/b", 0 }, { "c/#", 1 }, { "d", 2 } }, list)
    assert.are.same({ { "x", 1 } }, transport.topic_list("x", 1))
    assert.are.same({ { "", 0 } }, transport.topic_list({ "" }))   -- a ZeroMQ prefix for everything
  end)

  it("refuses what no broker takes, saying which entry", function()
    local _, err = transport.topic_list({ "a", { "b", 3 } })
    assert.matches("topics%[2%]: QoS must be 0, 1 or 2, got 3", err)
    _, err = transport.topic_list({ "a", 5 })
    assert.matches("topics%[2%]: expected a topic string, got number", err)
    _, err = transport.topic_list({ "a\0b" })
    assert.matches("NUL", err)
    _, err = transport.topic_list(42)
    assert.matches("expected a topic string or a list", err)
  end)

  it("encodes a request as C reads it: a QoS digit, the topic, a NUL each", function()
    assert.are.equal("1q/A\0" .. "0\0", transport.encode_topics({ { "q/A", 1 }, { "", 0 } }))
  end)

  it("resubscribes by topic: what stays is neither withdrawn nor subscribed again", function()
    local held = { { topics = { "trades/A", "news/A" }, request = "subscribe" } }
    local unsub = { { topics = { "trades/A", "news/A" }, request = "unsubscribe" } }
    local sub = { { topics = { "trades/A", "ticks/A" }, request = "subscribe" } }
    local u, s = transport.topic_changes(unsub, held, sub)
    assert.are.same({ { topics = { "news/A" }, request = "unsubscribe" } }, u)
    assert.are.same({ { topics = { "ticks/A" }, request = "subscribe" } }, s)
    assert.are.same({ "trades/A", "ticks/A" }, sub[1].topics)   -- the frames given stay as they were
    -- a QoS changed is subscribed again (a broker replaces it); a topic string alone is a list
    u, s = transport.topic_changes({ { topics = "q/A" } }, { { topics = { { "q/A", 0 } } } },
      { { topics = { { "q/A", 1 } } } })
    assert.are.same({}, u)
    assert.are.same({ { topics = { { "q/A", 1 } } } }, s)
    -- a command's text still goes out without its prefixes (ZeroMQ, DWX); an unsubscribe left
    -- empty is dropped; frames without topics (WebSocket) pass as they are
    u, s = transport.topic_changes({ { topics = { "EURUSD:|:" } }, { text = "bye" } },
      { { text = "TRACK_PRICES;EURUSD", topics = { "EURUSD:|:" } } },
      { { text = "TRACK_PRICES;EURUSD", topics = { "EURUSD:|:" } },
        { text = "TRACK_RATES;EURUSD;1", topics = { "EURUSD_M1:|:" } } })
    assert.are.same({ { text = "bye" } }, u)
    assert.are.same({ { text = "TRACK_PRICES;EURUSD", topics = {} },
      { text = "TRACK_RATES;EURUSD;1", topics = { "EURUSD_M1:|:" } } }, s)
    -- topics a session will refuse are left for it to refuse
    u = transport.topic_changes({ { topics = { "a", 5 } } }, {}, { { topics = { "a" } } })
    assert.are.same({ { topics = { "a", 5 } } }, u)
  end)

  it("makes random hex client ids that differ", function()
    local a, b = transport.random_hex(8), transport.random_hex(8)
    assert.matches("^%x+$", a)
    assert.are.equal(16, #a)
    assert.are_not.equal(a, b)
  end)
end)

describe("mqtt URLs", function()
  it("reads every scheme with its default port and makes paho's URI", function()
    local cases = {
      { "tcp://broker.example.com", "tcp://broker.example.com:1883" },
      { "mqtt://broker:1884", "tcp://broker:1884" },
      { "ssl://broker", "ssl://broker:8883" },
      { "mqtts://broker:8884", "ssl://broker:8884" },
      { "ws://127.0.0.1:9001", "ws://127.0.0.1:9001/mqtt" },
      { "wss://wspush.webullbroker.com:443/mqtt", "wss://wspush.webullbroker.com:443/mqtt" },
      { "tcp://[::1]:1883", "tcp://[::1]:1883" },
    }
    for _, c in ipairs(cases) do
      local u = assert(mqtt.parse_url(c[1]))
      assert.are.equal(c[2], mqtt.paho_uri(u))
    end
  end)

  it("goes over WebSocket with the seed's transport = 'websockets'", function()
    assert.are.equal("wss://b:8883/mqtt", mqtt.paho_uri(assert(mqtt.parse_url("ssl://b", true))))
    assert.are.equal("ws://b:1883/mqtt", mqtt.paho_uri(assert(mqtt.parse_url("tcp://b", true))))
  end)

  it("refuses other schemes and a missing host", function()
    local _, err = mqtt.parse_url("http://b")
    assert.matches("must start with tcp://", err)
    _, err = mqtt.parse_url("tcp://:1883")
    assert.matches("no host", err)
  end)
end)

describe("zmq endpoints", function()
  it("accepts tcp, ipc, inproc and pgm endpoints", function()
    assert.are.same({ scheme = "tcp", host = "127.0.0.1", port = 32770, address = "127.0.0.1:32770" },
      transport.zmq_endpoint("tcp://127.0.0.1:32770"))
    assert.are.equal("::1", transport.zmq_endpoint("tcp://[::1]:5556").host)
    assert.is_nil(transport.zmq_endpoint("tcp://*:*").port)   -- a bind on any port
    assert.are.equal("ipc", transport.zmq_endpoint("ipc:///tmp/x").scheme)
    assert.are.equal("inproc", transport.zmq_endpoint("inproc://prices").scheme)
    assert.are.equal("epgm", transport.zmq_endpoint("epgm://eth0;239.192.1.1:5555").scheme)
  end)

  it("says what an endpoint looks like when it is not one", function()
    for _, bad in ipairs({ "127.0.0.1:32770", "tcp://host", "tcp://host:0", "tcp://host:70000",
      "udp://host:1", "ipc://", "inproc://" }) do
      local ok, err = transport.zmq_endpoint(bad)
      assert.is_nil(ok, bad)
      assert.matches("a ZeroMQ endpoint is tcp://host:port, ipc://path or inproc://name", err)
    end
  end)
end)

describe("registry.dwx", function()
  it("reads prices and rates by their field count", function()
    assert.are.same({ kind = "tick", symbol = "EURUSD", bid = "1.085210", ask = "1.085230" },
      dwx.dwx_decode("EURUSD:|:1.085210;1.085230"))
    local bar = dwx.dwx_decode("EURUSD_H4:|:1612345620;1.1;1.3;1.0;1.2;120;2;0")
    assert.are.equal("bar", bar.kind)
    assert.are.equal("EURUSD", bar.symbol)
    assert.are.equal(14400, bar.interval)
    assert.are.equal("120", bar.tick_volume)
    local _, err = dwx.dwx_decode("EURUSD:|:1;2;3")
    assert.matches("2 fields %(bid;ask%) or 8 %(a bar%), got 3", err)
    _, err = dwx.dwx_decode("EURUSD 1.08")
    assert.matches("no ':|:'", err)
    _, err = dwx.dwx_decode("EURUSD_X9:|:1;2;3;4;5;6;7;8")
    assert.matches("SYMBOL_TIMEFRAME", err)
  end)

  it("reads Python literals: quotes, escapes, numbers, constants, integer keys, tuples", function()
    local v = assert(dwx.py_literal([[{'a': 'it\'s', "b": -1.5e-3, 'c': [1, 2.0, (3, 4)], ]]
      .. [[12: {'x': True, 'y': False, 'z': None}, 'd': '',}]]))
    assert.are.equal("it's", v.a)
    assert.are.equal(-0.0015, v.b)
    assert.are.same({ 1, 2, { 3, 4 } }, v.c)
    assert.are.same({ x = true, y = false }, v[12])
    assert.are.equal("", v.d)
    assert.are.same({}, dwx.py_literal("{}"))
  end)

  it("refuses what is not a Python literal, saying where", function()
    for _, bad in ipairs({ "{'a': 1", "{'a' 1}", "{'a': nope}", "[1, 2] x", "{'a': 'x}", "{None: 1}" }) do
      local v, err = dwx.py_literal(bad)
      assert.is_nil(v, bad)
      assert.matches("not a Python literal", err)
    end
  end)

  it("turns MetaTrader's time text into ISO 8601", function()
    assert.are.equal("2019-06-06T11:08:20Z", dwx.dwx_time("2019.06.06 11:08:20"))
    assert.are.equal("2020-01-02T00:00:00Z", dwx.dwx_time("2020.01.02 00:00"))
    assert.is_nil(dwx.dwx_time("yesterday"))
  end)
end)

describe("registry.webull", function()
  it("builds one topic per asset and record type of the channel, and reads the type back", function()
    local assets = { { symbol = "AAPL", security_id = "913256135" } }
    local t = webull.webull_topics({ channel = "quote", subscribe_assets = assets })
    assert.are.same({ { topic = [[{"tickerIds":[913256135],"type":"102"}]], qos = 1 },
      { topic = [[{"tickerIds":[913256135],"type":"104"}]], qos = 1 } }, t)
    assert.are.same({}, webull.webull_topics({ channel = "news", subscribe_assets = assets }))
    assert.are.equal("104", webull.wb_type(t[2].topic))
    assert.is_nil(webull.wb_type(nil))
  end)
end)

describe("feedhost check on the MQTT and ZeroMQ specs", function()
  local BIN = os.getenv("FEEDHOST_BIN") or "build/feedhost"
  local function check(args)
    local p = io.popen(BIN .. " --lua-dev check " .. args .. " 2>&1; echo \"RC=$?\"")
    local out = p:read("*a")
    p:close()
    return out
  end

  it("prints the MQTT login and each topic with its QoS, never the password", function()
    local creds = os.tmpname()
    local f = assert(io.open(creds, "w"))
    f:write('{"app_key":"KEY-1","app_secret":"s3cret-never-printed"}')
    f:close()
    local out = check("specs/webull.lua --assets AAPL --credentials " .. creds)
    os.remove(creds)
    assert.matches("RC=0", out)
    assert.matches("connection market_data %(mqtt, auth login%)", out)
    assert.matches("login: user %*%*%* %(password set%)", out)   -- a credential: never in clear
    assert.is_nil(out:find("KEY-1", 1, true))
    assert.matches("> subscribe data: 1 topic\n      topic {\"tickerIds\":%[913256135%],\"type\":\"103\"}  qos 1", out)
    assert.matches("> subscribe quote: 2 topics", out)
    assert.is_nil(out:find("s3cret", 1, true))
  end)

  it("prints the ZeroMQ commands and the SUB prefixes after them", function()
    local out = check("specs/dwx.lua --assets EURUSD,GBPUSD")
    assert.matches("RC=0", out)
    assert.matches("connection market_data %(zmq, auth none%)", out)
    assert.matches("> subscribe quote: TRACK_PRICES;EURUSD;GBPUSD\n      prefix EURUSD:|:\n      prefix GBPUSD:|:", out)
    assert.matches("> subscribe data: TRACK_RATES;EURUSD;1;GBPUSD;1", out)
  end)
end)

describe("subscribe messages of MQTT and ZeroMQ connections", function()
  local function subscribe(backend, message, url)
    local specmod = require("feedhost.spec")
    local spec = { name = "t", registry = {
      build = function(ctx)
        local out = {}
        for _, a in ipairs(ctx.subscribe_assets) do
          out[#out + 1] = { "q/" .. a.symbol, 1 }
        end
        return out
      end,
    }, streaming = { connections = { c = {
      url = url, backend = { type = backend }, streams = { "quote" },
      subscribe = { subscribe = { quote = message } },
    } } } }
    assert.are.same({}, require("feedhost.spec.schema").validate(spec, "t.lua"))
    local compiled = assert(specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {}))
    local c = compiled.connections.c
    return c.subscribe(compiled.universe:resolve({ "AAPL", "MSFT" }))
  end

  it("take their topics from a custom builder, written as the seed does or at the message", function()
    for _, msg in ipairs({ { format = "json", json = { custom = "build" } },
      { format = "json", custom = "build" } }) do
      local frames = subscribe("mqtt", msg, "tcp://b:1883")
      assert.are.equal(1, #frames)
      assert.is_nil(frames[1].text)   -- the body stands for the topics, nothing else is sent
      assert.are.same({ { "q/AAPL", 1 }, { "q/MSFT", 1 } }, frames[1].topics)
      assert.are.equal("subscribe", frames[1].request)
    end
  end)

  it("keep a json body as text on a WebSocket connection", function()
    local frames = subscribe("websocket", { format = "json", json = { value = { op = "sub" } } }, "ws://b/")
    assert.are.equal('{"op":"sub"}', frames[1].text)
    assert.is_nil(frames[1].topics)
  end)
end)

-- Hot reload over every transport besides WebSocket (spec/integration/reload_spec.lua has that):
-- `feedhost run` against real peers on 127.0.0.1, the spec file rewritten while it runs (the file
-- watch takes it) or SIGHUP (with --no-watch), for Socket.IO (npm socket.io,
-- servers/sio_server.js), MQTT (mosquitto, spec/helpers/brokers.lua) and ZeroMQ (the DWX peer,
-- servers/dwx_peer.py, whose socket monitors log every connection its sockets accept or lose).
-- Per transport: a converter changed (records change at once, the peer sees no new session, the
-- sequence numbers in the payloads run on without a gap across the swap), a subscribe message
-- changed (on the live session: what the peer sees withdrawn and added), the URL changed (a
-- reconnect to the new peer). Every wait has a deadline.
local it_ = require("spec.helpers.integration")
local brokers = require("spec.helpers.brokers")

local TOKEN = "TOK-reload-8Qm2"

-- A spec of one connection `name` whose definition is the Lua text `conn`; `head` goes before the
-- `return`, `tail` into the spec's table.
local function spec_text(name, conn, head, tail)
  return ([[%s
return {
  name = "reload_%s",
  credentials = { fields = { "token" } },
  %s
  streaming = { connections = { %s = %s } },
}
]]):format(head or "", name, tail or "", name, conn)
end

local function setup()
  local t = it_.tmpdir()
  os.execute("mkdir -p " .. it_.shq(t .. "/specs") .. " " .. it_.shq(t .. "/registry"))
  return t, t .. "/specs/live.lua", it_.write(t .. "/creds.json", it_.json_encode({ token = TOKEN }))
end

-- `feedhost run SPEC --assets ASSET`; how == "HUP": with --no-watch (reloads come from SIGHUP)
local function run(t, spec, creds, asset, how, env)
  local args = { "--assets", asset, "--credentials", creds, "--stats-interval", "0.5" }
  if how == "HUP" then
    args[#args + 1] = "--no-watch"
  end
  return it_.feedhost(t, spec, args, env)
end

-- Saves the new spec text and has it reloaded (the watch, or SIGHUP): the reload line.
local function reload(fh, how, spec, text, ...)
  it_.save(spec, text)
  if how == "HUP" then
    fh:signal("HUP")
  end
  return it_.wait_reloads(fh, 1, "the reload (" .. how .. ")", ...)[1]
end

-- Records of `channel` in the order written, their payload's sequence numbers (`seq(r)`)
-- contiguous from the first on: none lost or doubled. @return the records
local function assert_contiguous(fh, channel, seq)
  local recs = {}
  for _, r in ipairs(fh:records()) do
    if r.channel == channel then
      recs[#recs + 1] = r
      local n = #recs
      assert(n == 1 or seq(r) == seq(recs[n - 1]) + 1, string.format("record %d has seq %s after %s",
        n, tostring(seq(r)), tostring(n > 1 and seq(recs[n - 1]))))
    end
  end
  return recs
end

-- The same across a swap: the records before it without `rev`, every one after with rev = `rev`.
-- @return the records, the index of the first swapped one
local function assert_swap(fh, channel, seq, rev)
  local recs = assert_contiguous(fh, channel, seq)
  local swapped_at
  for i, r in ipairs(recs) do
    if r.rev and not swapped_at then
      swapped_at = i
    end
    assert.are.equal(swapped_at and rev or nil, r.rev, "record " .. i)
  end
  assert(swapped_at and swapped_at > 1, "records on both sides of the swap")
  return recs, swapped_at
end

-- The last stats line of connection `name`: no reconnect, no error.
local function assert_steady(fh, name)
  local st = it_.wait_for(function() return fh:last_stats(name) end, 5, "a stats line", fh)
  assert.are.equal(0, st.reconnects, st.line)
  assert.are.equal(0, st.errors, st.line)
end

-- ---- Socket.IO ------------------------------------------------------------------------------------
-- Breeze-like: `join` / `leave` emits of "<prefix>AAPL" codes (o.code, default "4.1!"); `stock`
-- events (code, seq, bid, ask, epoch s) to quote records, bid_volume = the server's seq.
local function sio_conn(o)
  local codes = ("map(subscribe_assets, '|a| %q .. a.symbol')"):format(o.code or "4.1!")
  local function emit(event)
    return ("{ format = 'json', event = %q, json = { source = %q } }"):format(event, codes)
  end
  return ([[{
    url = %q,
    backend = { type = "socketio", options = { eio = 4 } },
    streams = { "quote" },
    events = { quote = "stock" },
    auth = { mode = "first_message", first_message = { format = "json", json = { fields = {
      user = %s, token = { source = "credentials.token" } } } } },
    subscribe = { subscribe = { quote = %s }, unsubscribe = { quote = %s } },
    converters = { quote = { { fields = {
      asset = { source = "broker.infer_asset{ symbol = data[1]:sub(5) }" },
      timestamp = { source = "ts(data[5], 's')" },
      bid = { source = "num(data[3])" }, ask = { source = "num(data[4])" },
      bid_volume = { source = "num(data[2])" }, code = { source = "data[1]" },
      %s
    } } } },
    reconnect = { initial = 0.2, max = 1, factor = 2, jitter = 0.1, stable_after = 1 },
  }]]):format(o.url, o.user or '{ value = "U1" }', emit("join"), emit("leave"), o.fields or "")
end

local function sio_server(t, args)
  local all = { "--token", TOKEN }
  for _, a in ipairs(args) do
    all[#all + 1] = a
  end
  return it_.peer(t, "sio_node", { "node", "spec/integration/servers/sio_server.js" }, all)
end

local function quotes(fh)
  local n = 0
  for _, r in ipairs(fh:records()) do
    n = n + (r.channel == "quote" and 1 or 0)
  end
  return n
end

local function bid_volume(r)
  return r.bid_volume
end

-- A Socket.IO server (`args`) and feedhost (`how`, see run) on a spec of it, until `n` quotes
-- came. @return spec path, server, conn (sio_conn's options), feedhost
local function sio_streaming(args, how, n)
  local t, spec, creds = setup()
  local srv = sio_server(t, args)
  local conn = { url = "http://127.0.0.1:" .. srv.port }
  it_.save(spec, spec_text("ticks", sio_conn(conn)))
  local fh = run(t, spec, creds, "AAPL", how)
  it_.wait_for(function() return quotes(fh) >= n end, 10, n .. " quote records", fh, srv)
  return spec, srv, conn, fh
end

describe("hot reload over Socket.IO (npm socket.io)", function()
  after_each(function()
    it_.cleanup()
  end)

  it("a converter changed: records change at once, no second handshake, every event sent is a"
    .. " record across the swap", function()
    local spec, srv, conn, fh = sio_streaming({ "--rate", "50", "--limit", "150" }, "watch", 30)
    conn.fields = "rev = { value = 2 },"
    local line = reload(fh, "watch", spec, spec_text("ticks", sio_conn(conn)), srv)
    assert.matches("live%.lua changed%): ticks: converters changed, pipeline swapped %(", line)
    it_.wait_for(function() return #srv:events("silent") == 1 end, 10, "the server's 150 events", fh, srv)
    it_.wait_for(function()
      local st = fh:last_stats("ticks")
      return st and st.frames == 150
    end, 5, "150 frames in the stats line", fh, srv)
    local recs, swapped_at = assert_swap(fh, "quote", bid_volume, 2)
    assert.are.equal(150, #recs)
    assert.are.equal(1, recs[1].bid_volume)
    assert.is_true(swapped_at > 30 and swapped_at < 150)
    assert.are.equal(1, #srv:events("connect"))
    assert.are.equal(0, #srv:events("disconnect"))
    assert_steady(fh, "ticks")
  end)

  it("a subscribe message changed (SIGHUP): the server sees the old codes left and the new ones"
    .. " joined in the same session", function()
    local spec, srv, conn, fh = sio_streaming({ "--rate", "50" }, "HUP", 5)
    conn.code = "4.2!"
    local line = reload(fh, "HUP", spec, spec_text("ticks", sio_conn(conn)), srv)
    assert.matches("reload %(SIGHUP%): ticks: subscribe changed, resubscribing %(", line)
    it_.wait_for(function() return #srv:events("join") >= 2 end, 10, "the second join", fh, srv)
    local seen = srv:events(function(e) return e.ev == "join" or e.ev == "leave" end)
    local got = {}
    for i, e in ipairs(seen) do
      got[i] = e.ev .. " " .. table.concat(e.codes, ",") .. " conn " .. e.conn
    end
    assert.are.same({ "join 4.1!AAPL conn 1", "leave 4.1!AAPL conn 1", "join 4.2!AAPL conn 1" }, got)
    it_.wait_for(function()
      local recs = fh:records()
      return recs[#recs].code == "4.2!AAPL"
    end, 5, "records of the new subscription", fh, srv)
    assert.are.equal(1, #srv:events("connect"))
    assert_steady(fh, "ticks")
  end)

  it("the URL changed: the connection leaves the old server and joins the new one at once", function()
    local t, spec, creds = setup()
    local a = sio_server(t, { "--rate", "50" })
    local b = sio_server(t, { "--rate", "50" })
    local conn = { url = "http://127.0.0.1:" .. a.port }
    it_.save(spec, spec_text("ticks", sio_conn(conn)))
    local fh = run(t, spec, creds, "AAPL", "watch")
    it_.wait_for(function() return quotes(fh) >= 5 end, 10, "records from server A", fh, a)
    conn.url = "http://127.0.0.1:" .. b.port
    local line = reload(fh, "watch", spec, spec_text("ticks", sio_conn(conn)), a, b)
    assert.matches("ticks: url changed, reconnecting", line)
    it_.wait_for(function() return #b:events("join") == 1 and #b:events("data") >= 5 end, 10,
      "a session on server B with data", fh, b)
    it_.wait_for(function() return #a:events("disconnect") == 1 end, 5, "A's disconnect", a)
    assert.are.equal("client namespace disconnect", a:events("disconnect")[1].reason)
    assert.are.same({ user = "U1", token = TOKEN }, b:events("connect")[1].auth)
    -- A's session is over: records now come from B
    local n = quotes(fh)
    it_.wait_for(function() return quotes(fh) >= n + 5 end, 5, "records of server B's data", fh, b)
  end)
end)

describe("hot reload of subscriptions over HTTP (specs/xts.lua, Socket.IO)", function()
  after_each(function()
    it_.cleanup()
  end)

  it("the old unsubscribe requests, then the new subscribe requests, in that order, a refused one"
    .. " retried before the next", function()
    local t, spec = setup()
    -- the first PUT gets a 503; a PUT of any code drops the instruments at this server
    local srv = sio_server(t, { "--eio3", "--rate", "20", "--path", "/apimarketdata/socket.io",
      "--rest-fail-put", "1" })
    it_.write(t .. "/specs/xts_instruments.csv", it_.read("specs/xts_instruments.csv"))
    local text = it_.read("specs/xts.lua")
    it_.save(spec, text)
    local creds = it_.write(t .. "/xts.json", it_.json_encode({ token = TOKEN, user_id = "U7" }))
    local fh = it_.feedhost(t, spec, { "--assets", "RELIANCE", "--credentials", creds,
      "--url", "market_data=http://127.0.0.1:" .. srv.port, "--stats-interval", "0.5" })
    it_.wait_for(function() return quotes(fh) >= 3 and #srv:events("http") == 2 end, 10,
      "quotes after two subscriptions over HTTP", fh, srv)
    local dropped, n = text:gsub(', data = rest%("POST", 1512%)', "")
    assert.are.equal(1, n)
    local line = reload(fh, "watch", spec, dropped, srv)
    assert.matches("market_data: subscribe changed, resubscribing %(", line)
    it_.wait_for(function() return #srv:events("http") == 6 end, 10, "six requests", fh, srv)
    local got = {}
    for i, e in ipairs(srv:events("http")) do
      got[i] = ("%s %d %d"):format(e.method, it_.json_decode(e.body).xtsMessageCode, e.status)
    end
    assert.are.same({ "POST 1501 200", "POST 1512 200", "PUT 1501 503", "PUT 1501 200",
      "PUT 1512 200", "POST 1501 200" }, got)
    -- subscribed at the end: quotes go on
    local q = quotes(fh)
    it_.wait_for(function() return quotes(fh) >= q + 5 end, 5, "quotes after the resubscription", fh, srv)
    assert.are.equal(1, #srv:events("connect"))
  end)
end)

-- ---- MQTT -----------------------------------------------------------------------------------------
-- Topics "<prefix>/<symbol>" for each prefix of o.topics (default { "trades" }), in one SUBSCRIBE;
-- payloads {"t": epoch ms, "p": price, "s": seq} to data records (volume = seq, src = the prefix).
local function mqtt_conn(o)
  local prefixes = {}
  for i, p in ipairs(o.topics or { "trades" }) do
    prefixes[i] = ("%q"):format(p)
  end
  local msg = ([[{ format = "json", topics = { source = function(ctx)
      local out = {}
      for _, p in ipairs({ %s }) do
        for _, a in ipairs(ctx.subscribe_assets) do
          out[#out + 1] = p .. "/" .. a.symbol
        end
      end
      return out
    end } }]]):format(table.concat(prefixes, ", "))
  return ([[{
    url = %q,
    backend = { type = "mqtt", options = { qos = 1, keepalive = 5, client_id = %s } },
    auth = %s,
    streams = { "data" },
    subscribe = { subscribe = { data = %s }, unsubscribe = { data = %s } },
    converters = { data = { { fields = {
      asset = { source = "broker.infer_asset{ symbol = split(topic, '/')[2] }" },
      timestamp = { source = "ts(data.t, 'ms')" },
      data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
      src = { source = "split(topic, '/')[1]" },
      %s
    } } } },
    reconnect = { initial = 0.2, max = 1, factor = 2, jitter = 0.1, stable_after = 1 },
  }]]):format(o.url, o.client_id and ("%q"):format(o.client_id) or "nil", o.login or "nil", msg, msg,
    o.fields or "")
end

local function trades(n, from)
  local out = {}
  for i = from or 1, (from or 1) + n - 1 do
    out[#out + 1] = string.format('{"t":%d,"p":"101.5","s":%d}', 1732633200000 + i, i)
  end
  return out
end

local function volume(r)
  return r.data.volume
end

local function data_records(fh)
  local out = {}
  for _, r in ipairs(fh:records()) do
    if r.channel == "data" then
      out[#out + 1] = r
    end
  end
  return out
end

describe("hot reload over MQTT (mosquitto)", function()
  after_each(function()
    it_.cleanup()
  end)

  it("a converter changed: records change at once, one CONNECT and one SUBSCRIBE at the broker,"
    .. " every message published is a record across the swap", function()
    local t, spec, creds = setup()
    local b = brokers.mosquitto(t)
    local conn = { url = b:url() }
    it_.save(spec, spec_text("feed", mqtt_conn(conn)))
    local fh = run(t, spec, creds, "AAPL", "watch")
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE", fh, b.proc)
    local pub = b:stream("trades/AAPL", trades(300), 100)
    it_.wait_for(function() return #data_records(fh) >= 50 end, 10, "50 records", fh, pub)
    conn.fields = "rev = { value = 2 },"
    local line = reload(fh, "watch", spec, spec_text("feed", mqtt_conn(conn)), b.proc)
    assert.matches("live%.lua changed%): feed: converters changed, pipeline swapped %(", line)
    it_.wait_for(function() return pub:rc() ~= nil end, 15, "the publisher's 300 messages", pub)
    assert.are.equal(0, pub:rc())
    it_.wait_for(function()
      local st = fh:last_stats("feed")
      return st and st.frames == 300
    end, 5, "300 frames in the stats line", fh, b.proc)
    local recs, swapped_at = assert_swap(fh, "data", volume, 2)
    assert.are.equal(300, #recs)
    assert.are.equal(1, recs[1].data.volume)
    assert.is_true(swapped_at > 50 and swapped_at < 300)
    assert.are.equal(1, #b:connects(false, "feedhost-"))
    assert.are.equal(1, #b:subscribes())
    assert.are.equal(0, #b:subscribes(nil, true))
    assert_steady(fh, "feed")
  end)

  it("a subscribe message changed: UNSUBSCRIBE of the topic that went, SUBSCRIBE of the new one,"
    .. " the topic kept streams on without a gap", function()
    local t, spec, creds = setup()
    local b = brokers.mosquitto(t)
    local conn = { url = b:url(), topics = { "trades", "news" } }
    it_.save(spec, spec_text("feed", mqtt_conn(conn)))
    local fh = run(t, spec, creds, "AAPL", "watch")
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE", fh, b.proc)
    local client = b:connects()[1].client
    assert.are.same({ { "trades/AAPL (QoS 1)", "news/AAPL (QoS 1)" } }, b:subscribes(client))
    local pub = b:stream("trades/AAPL", trades(300), 100)
    it_.wait_for(function() return #data_records(fh) >= 50 end, 10, "50 records", fh, pub)
    conn.topics = { "trades", "ticks" }
    local line = reload(fh, "watch", spec, spec_text("feed", mqtt_conn(conn)), b.proc)
    assert.matches("feed: subscribe changed, resubscribing %(", line)
    it_.wait_for(function() return #b:subscribes(client) >= 2 end, 10, "the second SUBSCRIBE", fh, b.proc)
    assert.are.same({ { "news/AAPL" } }, b:subscribes(client, true))
    assert.are.same({ "ticks/AAPL (QoS 1)" }, b:subscribes(client)[2])
    b:publish("ticks/AAPL", trades(1, 1000)[1])
    b:publish("news/AAPL", trades(1, 2000)[1])
    it_.wait_for(function() return pub:rc() ~= nil end, 15, "the publisher's 300 messages", pub)
    it_.wait_for(function()
      local st = fh:last_stats("feed")
      return st and st.frames == 301
    end, 5, "301 frames in the stats line (300 trades, 1 tick, no news)", fh, b.proc)
    local got = {}
    for _, r in ipairs(data_records(fh)) do
      if r.src == "trades" then
        got[#got + 1] = r.data.volume
      else
        assert.are.same({ "ticks", 1000 }, { r.src, r.data.volume })
      end
    end
    for i = 1, 300 do
      assert(got[i] == i, "trade " .. i .. " is " .. tostring(got[i]))
    end
    assert.are.equal(1, #b:connects(false, "feedhost-"))
  end)

  it("the URL changed (SIGHUP): the session moves to the new broker at once", function()
    local t, spec, creds = setup()
    local a = brokers.mosquitto(t)
    local b = brokers.mosquitto(t)
    local conn = { url = a:url() }
    it_.save(spec, spec_text("feed", mqtt_conn(conn)))
    local fh = run(t, spec, creds, "AAPL", "HUP")
    it_.wait_for(function() return #a:subscribes() >= 1 end, 10, "SUBSCRIBE at broker A", fh, a.proc)
    local client = a:connects()[1].client
    conn.url = b:url()
    local line = reload(fh, "HUP", spec, spec_text("feed", mqtt_conn(conn)), a.proc, b.proc)
    assert.matches("reload %(SIGHUP%): feed: url changed, reconnecting %(", line)
    it_.wait_for(function() return #b:subscribes(client) >= 1 end, 10, "SUBSCRIBE at broker B", fh, b.proc)
    assert.are.same({ "trades/AAPL (QoS 1)" }, b:subscribes(client)[1])
    it_.wait_for(function()
      for _, l in ipairs(a:lines()) do
        if l == "Client " .. client .. " disconnected." then
          return true
        end
      end
    end, 5, "the session's end at broker A", a.proc)
    b:publish("trades/AAPL", trades(1, 7)[1])
    it_.wait_for(function()
      local recs = data_records(fh)
      return #recs > 0 and recs[#recs].data.volume == 7
    end, 10, "a record from broker B", fh, b.proc)
    assert.are.equal(1, #a:connects(false, "feedhost-"))
    assert.are.equal(1, #b:connects(false, "feedhost-"))
  end)
end)

describe("hot reload of what a session's handshake carries", function()
  after_each(function()
    it_.cleanup()
  end)

  it("Socket.IO: the CONNECT payload from a registry function changed: a new session with it",
    function()
    local t, spec, creds = setup()
    local srv = sio_server(t, { "--rate", "50" })
    local module = it_.write(t .. "/registry/who.lua", 'return { user = function() return "U1" end }\n')
    local conn = { url = "http://127.0.0.1:" .. srv.port, user = '{ custom = "user" }' }
    local text = spec_text("ticks", sio_conn(conn), nil, 'registry = require("registry.who"),')
    it_.save(spec, text)
    local fh = run(t, spec, creds, "AAPL", "watch")
    it_.wait_for(function() return quotes(fh) >= 5 end, 10, "5 quote records", fh, srv)
    it_.save(module, 'return { user = function() return "U2" end }\n')
    local line = it_.wait_reloads(fh, 1, "the reload", srv)[1]
    assert.matches("registry changed; ticks: auth changed, reconnecting %(", line)
    it_.wait_for(function() return #srv:events("join") == 2 end, 10, "the second session's join", fh, srv)
    local c = srv:events("connect")
    assert.are.equal(2, #c)
    assert.are.same({ { user = "U1", token = TOKEN }, { user = "U2", token = TOKEN } }, { c[1].auth, c[2].auth })
  end)

  it("MQTT: the login from a registry function, then the client id changed: each a new session"
    .. " that carries it", function()
    local t, spec, creds = setup()
    local b = brokers.mosquitto(t, { users = { U1 = TOKEN, U2 = TOKEN } })
    local module = it_.write(t .. "/registry/who.lua", 'return { user = function() return "U1" end }\n')
    local conn = { url = b:url(), login = '{ mode = "login", username = { custom = "user" },'
      .. ' password = { source = "credentials.token" } }', client_id = "fh-one" }
    local function text()
      return spec_text("feed", mqtt_conn(conn), nil, 'registry = require("registry.who"),')
    end
    it_.save(spec, text())
    local fh = run(t, spec, creds, "AAPL", "watch")
    it_.wait_for(function() return #b:subscribes() >= 1 end, 10, "SUBSCRIBE", fh, b.proc)
    it_.save(module, 'return { user = function() return "U2" end }\n')
    local line = it_.wait_reloads(fh, 1, "the reload", b.proc)[1]
    assert.matches("registry changed; feed: auth changed, reconnecting %(", line)
    it_.wait_for(function() return #b:subscribes() >= 2 end, 10, "SUBSCRIBE of the new session", fh, b.proc)
    conn.client_id = "fh-two"
    it_.save(spec, text())
    line = it_.wait_reloads(fh, 2, "the second reload", b.proc)[2]
    assert.matches("feed: backend changed, reconnecting %(", line)
    it_.wait_for(function() return #b:subscribes() >= 3 end, 10, "SUBSCRIBE of the third session", fh, b.proc)
    local got = {}
    for i, c in ipairs(b:connects()) do
      got[i] = c.client .. " " .. c.user
    end
    assert.are.same({ "fh-one U1", "fh-one U2", "fh-two U2" }, got)
    assert.are.equal(0, b:refusals())
  end)
end)

-- ---- ZeroMQ ---------------------------------------------------------------------------------------
-- specs/dwx.lua's connection to a DWX peer's three sockets: quotes (TRACK_PRICES, prefix
-- "EURUSD:|:"), with o.rates also M1 bars (TRACK_RATES, "EURUSD_M1:|:").
local function zmq_conn(o)
  local p = o.peer.ports
  return ([[{
    url = "tcp://127.0.0.1:%d",
    backend = { type = "zmq", options = { socket_type = "SUB",
      command_endpoint = "tcp://127.0.0.1:%d", reply_endpoint = "tcp://127.0.0.1:%d" } },
    streams = { "quote"%s },
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
    router = { rules = {
      { channel = "quote", match = "data.kind == 'tick'" },
      { channel = "data", match = "data.kind == 'bar'" },
      { channel = "info", match = "data._action ~= nil or data._response ~= nil" },
    } },
    converters = {
      quote = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.symbol }" },
        timestamp = { source = "received_at" },
        bid = { source = "num(data.bid)" }, ask = { source = "num(data.ask)" },
        %s
      } } },
      data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.symbol }" },
        timestamp = { source = "ts(data.time, 's')" },
        data = { open = { source = "num(data.open)" }, close = { source = "num(data.close)" } },
      } } },
    },
    reconnect = { initial = 0.3, max = 5, factor = 2, jitter = 0 },
  }]]):format(p.pub, p.pull, p.push, o.rates and ', "data"' or "", o.fields or "")
end

local ZMQ_HEAD = [[
local SYMBOLS = "map(subscribe_assets, '|a| a.broker_symbol or a.symbol')"
local function command(text, fields, prefix)
  return { format = "text", text = text, tokens = { fields = fields },
    topics = { source = "map(subscribe_assets, '|a| a.symbol .. \"" .. prefix .. "\"')" } }
end
local function prefixes(prefix)
  return { format = "json", topics = { source = "map(subscribe_assets, '|a| a.symbol .. \"" .. prefix .. "\"')" } }
end
]]

local function zmq_spec(o)
  return spec_text("market_data", zmq_conn(o), ZMQ_HEAD, 'registry = require("registry.dwx"),')
end

local function zmq_setup()
  local t, spec, creds = setup()
  it_.write(t .. "/registry/dwx.lua", it_.read("registry/dwx.lua"))
  return t, spec, creds
end

-- the peer's sequence number of a EURUSD quote: bid = 1.0852 + seq * 0.00001
local function dwx_seq(r)
  return math.floor((r.bid - 1.0852) / 0.00001 + 0.5)
end

local function count_of(fh, channel)
  local n = 0
  for _, r in ipairs(fh:records()) do
    n = n + (r.channel == channel and 1 or 0)
  end
  return n
end

-- what the peer's socket monitors saw: "accepted pub", ... in order
local function peer_links(peer)
  local out = {}
  for _, e in ipairs(peer:events()) do
    if e.ev == "accepted" or e.ev == "disconnected" then
      out[#out + 1] = e.ev .. " " .. e.socket
    end
  end
  table.sort(out)
  return out
end

local ACCEPTED = { "accepted pub", "accepted pull", "accepted push" }

-- A DWX peer publishing every 20 ms and feedhost (`how`, see run) on a spec of it, until `n`
-- quotes came. @return spec path, peer, conn (zmq_conn's options), feedhost
local function zmq_streaming(how, n)
  local t, spec, creds = zmq_setup()
  local peer = brokers.dwx_peer(t, { "--interval", "0.02" })
  local conn = { peer = peer }
  it_.save(spec, zmq_spec(conn))
  local fh = run(t, spec, creds, "EURUSD", how)
  it_.wait_for(function() return count_of(fh, "quote") >= n end, 10, n .. " quotes", fh, peer.proc)
  return spec, peer, conn, fh
end

-- waits for `n` more quotes
local function more_quotes(fh, n, peer)
  local had = count_of(fh, "quote")
  it_.wait_for(function() return count_of(fh, "quote") >= had + n end, 10, n .. " more quotes", fh, peer.proc)
end

describe("hot reload over ZeroMQ (the DWX peer)", function()
  after_each(function()
    it_.cleanup()
  end)

  it("a converter changed (SIGHUP): records change at once, the peer sees no new command and no"
    .. " new connection, every price published is a record across the swap", function()
    local spec, peer, conn, fh = zmq_streaming("HUP", 30)
    conn.fields = "rev = { value = 2 },"
    local line = reload(fh, "HUP", spec, zmq_spec(conn), peer.proc)
    assert.matches("reload %(SIGHUP%): market_data: converters changed, pipeline swapped %(", line)
    more_quotes(fh, 30, peer)
    local recs = assert_swap(fh, "quote", dwx_seq, 2)
    -- every price the peer published from the first record to the last is one
    local published = 0
    for _, e in ipairs(peer:events("price")) do
      if e.seq >= dwx_seq(recs[1]) and e.seq <= dwx_seq(recs[#recs]) then
        published = published + 1
      end
    end
    assert.are.equal(#recs, published)
    assert.are.same({ "TRACK_PRICES;EURUSD" }, peer:commands())
    assert.are.same(ACCEPTED, peer_links(peer))
    assert_steady(fh, "market_data")
  end)

  it("a subscribe message changed: the peer gets the new commands on the same sockets, the quotes"
    .. " kept stream on without a gap", function()
    local spec, peer, conn, fh = zmq_streaming("watch", 20)
    conn.rates = true
    local line = reload(fh, "watch", spec, zmq_spec(conn), peer.proc)
    assert.matches("market_data: subscribe changed, resubscribing %(", line)
    it_.wait_for(function() return count_of(fh, "data") >= 2 end, 10, "2 bars", fh, peer.proc)
    assert.are.same({ "TRACK_PRICES;EURUSD", "TRACK_PRICES;EURUSD", "TRACK_RATES;EURUSD;1" },
      peer:commands())
    more_quotes(fh, 10, peer)
    assert_contiguous(fh, "quote", dwx_seq)
    assert.are.same(ACCEPTED, peer_links(peer))
  end)

  it("the URL changed: the sockets move to the new peer at once", function()
    local t, spec, creds = zmq_setup()
    local a = brokers.dwx_peer(t, {})
    local b = brokers.dwx_peer(t, {})
    local conn = { peer = a }
    it_.save(spec, zmq_spec(conn))
    local fh = run(t, spec, creds, "EURUSD", "watch")
    it_.wait_for(function() return count_of(fh, "quote") >= 5 end, 10, "quotes from peer A", fh, a.proc)
    conn.peer = b
    local line = reload(fh, "watch", spec, zmq_spec(conn), a.proc, b.proc)
    assert.matches("market_data: url, backend changed, reconnecting %(", line)
    it_.wait_for(function() return b:commands()[1] == "TRACK_PRICES;EURUSD" end, 10,
      "TRACK_PRICES at peer B", fh, b.proc)
    it_.wait_for(function()
      return #peer_links(a) == 6
    end, 10, "peer A's three sockets disconnected", a.proc)
    assert.are.same({ "accepted pub", "accepted pull", "accepted push", "disconnected pub",
      "disconnected pull", "disconnected push" }, peer_links(a))
    more_quotes(fh, 5, b)
    assert.are.same(ACCEPTED, peer_links(b))
  end)
end)

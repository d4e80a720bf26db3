-- feedhost.runtime over a real reactor: the client sockets talk to a WebSocket server that the
-- test runs on the same reactor (127.0.0.1, ephemeral port), scripted per test.
require("feedhost.core")
local ffi = require("ffi")
local json = require("feedhost.util.json")
local schema = require("feedhost.spec.schema")
local specmod = require("feedhost.spec")
local reactor = require("feedhost.runtime.reactor")
local runtime = require("feedhost.runtime")
local ws = require("feedhost.transport.websocket")
local logmod = require("feedhost.util.log")

-- A scripted server: every accepted connection is a table {id, got = {texts}}; `on_text(c, text)`
-- answers.
local function server(R, on_text, on_accept)
  local srv = { conns = {}, accepted = 0 }
  local acceptor = {}
  function acceptor.on_accept(_, id)
    local c = { id = id, got = {}, open = true }
    srv.conns[#srv.conns + 1] = c
    srv.accepted = srv.accepted + 1
    local h = {}
    function h.on_frames(_, _, b)
      for i = 0, b.n - 1 do
        local f = b.frames[i]
        local text = ffi.string(b.buf + f.off, f.len)
        c.got[#c.got + 1] = text
        if on_text then
          on_text(c, text)
        end
      end
    end
    function h.on_close()
      c.open = false
    end
    if on_accept then
      on_accept(c)
    end
    return h
  end
  local _, port = R:listen("ws-server", { host = "127.0.0.1", port = 0 }, acceptor)
  srv.port = port
  function srv.send(c, text)
    R:send(c.id, text)
  end
  function srv.all_got()
    local out = {}
    for _, c in ipairs(srv.conns) do
      for _, t in ipairs(c.got) do
        out[#out + 1] = t
      end
    end
    return out
  end
  return srv
end

local function conn_spec(extra)
  local conn = {
    url = "ws://127.0.0.1:1/feed",
    streams = { "data" },
    frame = "array",
    auth = {
      mode = "first_message",
      first_message = { format = "json", json = { fields = {
        action = { value = "auth" }, key = { source = "credentials.key" } } } },
      ack = "data[1] ~= nil and data[1].T == 'success' and data[1].msg == 'authenticated'",
      reject = "data[1] ~= nil and data[1].T == 'error'",
    },
    subscribe = { subscribe = { data = { format = "json", json = { fields = {
      action = { value = "subscribe" },
      trades = { source = "map(subscribe_assets, '|a| a.symbol')" } } } } } },
    router = { rules = { { channel = "data", match = "data.T == 't'" } }, default_channel = "info" },
    converters = { data = { { fields = {
      asset = { source = "broker.infer_asset({symbol = data.S})" },
      timestamp = { source = "ts(data.t)" },
      data = { price = { source = "data.p" }, volume = { source = "data.s" } },
    } } } },
    reconnect = { initial = 0.05, max = 0.2, factor = 2, jitter = 0, stable_after = 5 },
  }
  for k, v in pairs(extra or {}) do
    conn[k] = v
  end
  return conn
end

-- Compiles `conn` and starts a runtime on R against `port`. Returns env {rt, records, log_lines}.
local function start(R, conn, port, symbols)
  local spec = { name = "t", streaming = { connections = { feed = conn } } }
  local errs = schema.validate(spec, "t.lua")
  assert(#errs == 0, schema.format_errors(errs, "t.lua"))
  local env = { records = {}, lines = {} }
  local log = logmod.new({ level = "debug", sink = function(l) env.lines[#env.lines + 1] = l end })
  log:add_secret("sekrit-123")
  local rt
  local compiled = assert(specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {
    credentials = { key = "sekrit-123" }, log = log, open_assets = symbols,
    emit = function(r) env.records[#env.records + 1] = r end,
  }))
  rt = runtime.new({ compiled = compiled, reactor = R, log = log,
    urls = { feed = "ws://127.0.0.1:" .. port .. "/feed" } })
  rt:set_assets(compiled.universe:resolve(symbols))
  rt:start()
  env.rt = rt
  return env
end

local function wait(R, cond, secs)
  local deadline = reactor.now() + (secs or 5)
  while reactor.now() < deadline do
    if cond() then
      return true
    end
    R:step(20)
  end
  return cond()
end

local function alpaca_like(c, text)
  local m = json.decode(text)
  if m.action == "auth" then
    return '[{"T":"success","msg":"authenticated"}]'
  elseif m.action == "subscribe" then
    return '[{"T":"subscription","trades":' .. json.encode(m.trades) .. '}]'
  end
end

describe("runtime", function()
  local R
  before_each(function()
    R = assert(reactor.new())
  end)
  after_each(function()
    R:free()
  end)

  it("parses WebSocket URLs", function()
    local u = ws.parse_url("wss://stream.example.com/v2/iex?x=1")
    assert.same({ scheme = "wss", host = "stream.example.com", port = 443, path = "/v2/iex?x=1", tls = true }, u)
    u = ws.parse_url("ws://127.0.0.1:9000")
    assert.same({ scheme = "ws", host = "127.0.0.1", port = 9000, path = "/", tls = false }, u)
    local bad, err = ws.parse_url("http://x/")
    assert.is_nil(bad)
    assert.matches("ws://", err)
  end)

  it("a timer that raises leaves the connection, its liveness ticks and its data running", function()
    local srv
    srv = server(R, function(c, text)
      local reply = alpaca_like(c, text)
      if reply then
        srv.send(c, reply)
      end
    end, function(c) srv.send(c, '[{"T":"success","msg":"connected"}]') end)
    local env = start(R, conn_spec({ heartbeat = { idle_timeout = 0.6 } }), srv.port, { "AAPL" })
    local raised = 0
    R:every(0.02, function()
      raised = raised + 1
      error("an application timer's bug")
    end)
    local seq = 0
    R:every(0.05, function()   -- the server streams while the broken timer keeps raising
      if srv.conns[1] and srv.conns[1].open then
        seq = seq + 1
        srv.send(srv.conns[1], '[{"T":"t","S":"AAPL","p":' .. seq .. ',"s":1,"t":"2021-02-22T15:51:44Z"}]')
      end
    end)
    assert.is_true(wait(R, function() return #env.records >= 20 end, 5))
    assert.is_true(raised >= 20)
    local s = env.rt.sockets[1]
    assert.equal("live", s.state)
    assert.equal(0, s.reconnects)   -- the liveness tick saw the data: no idle reconnect
    assert.equal(1, srv.accepted)
  end)

  it("authenticates, subscribes only after the ack, and converts data", function()
    local srv
    srv = server(R, function(c, text)
      local m = json.decode(text)
      if m.action == "auth" then
        -- the subscription must not have arrived before the ack is sent
        assert.equal(1, #c.got)
        R:after(0.05, function()
          srv.send(c, '[{"T":"success","msg":"authenticated"}]')
        end)
      elseif m.action == "subscribe" then
        srv.send(c, '[{"T":"t","S":"AAPL","p":1.5,"s":3,"t":"2021-02-22T15:51:44.208123456Z"}]')
      end
    end, function(c) srv.send(c, '[{"T":"success","msg":"connected"}]') end)
    local env = start(R, conn_spec(), srv.port, { "AAPL", "MSFT" })
    assert.is_true(wait(R, function() return #env.records == 1 end))
    local got = srv.conns[1].got
    assert.same({ action = "auth", key = "sekrit-123" }, json.decode(got[1]))
    assert.same({ action = "subscribe", trades = { "AAPL", "MSFT" } }, json.decode(got[2]))
    local r = env.records[1]
    assert.equal("AAPL", r.asset.symbol)
    assert.equal(1614009104208123456LL, r.timestamp)
    assert.same({ price = 1.5, volume = 3 }, r.data)
    assert.equal("live", env.rt.sockets[1].state)
    for _, l in ipairs(env.lines) do
      assert.not_matches("sekrit%-123", l)
    end
  end)

  it("backs off after an auth rejection instead of retrying in a tight loop", function()
    local srv = server(R, function(c, text)
      if json.decode(text).action == "auth" then
        R:send(c.id, '[{"T":"error","code":402,"msg":"auth failed"}]')
      end
    end)
    local env = start(R, conn_spec(), srv.port, { "AAPL" })
    wait(R, function() return false end, 0.6)
    -- initial 0.05, factor 2, max 0.2: at most ~5 attempts in 0.6 s, and never a subscription
    assert.is_true(srv.accepted >= 2, "retried")
    assert.is_true(srv.accepted <= 6, "attempts: " .. srv.accepted)
    for _, t in ipairs(srv.all_got()) do
      assert.not_matches("subscribe", t)
    end
    local rejected = 0
    for _, l in ipairs(env.lines) do
      if l:match("auth rejected") then
        rejected = rejected + 1
      end
      assert.not_matches("sekrit%-123", l)
    end
    assert.is_true(rejected >= 2)
  end)

  it("reconnects after the server closes and resubscribes every asset", function()
    local srv
    srv = server(R, function(c, text)
      local reply = alpaca_like(c, text)
      if reply then
        srv.send(c, reply)
      end
      if #srv.conns == 1 and json.decode(text).action == "subscribe" then
        R:close(c.id, 1011, "going away")
      end
    end)
    local env = start(R, conn_spec(), srv.port, { "AAPL", "MSFT", "AAPL" })
    assert.is_true(wait(R, function()
      return #srv.conns == 2 and #srv.conns[2].got >= 2 and env.rt.sockets[1].state == "live"
    end))
    assert.same({ action = "subscribe", trades = { "AAPL", "MSFT" } }, json.decode(srv.conns[2].got[2]))
    assert.equal(1, env.rt.sockets[1].reconnects)
  end)

  it("calls on_connect, on_disconnect (code, reason) and on_error; a throwing hook is counted", function()
    local calls = {}
    local srv
    srv = server(R, function(c, text)
      local m = json.decode(text)
      if m.action == "auth" and #srv.conns == 1 then
        srv.send(c, '[{"T":"success","msg":"authenticated"}]')
      elseif m.action == "auth" then
        srv.send(c, '[{"T":"error","code":402,"msg":"auth failed"}]')
      elseif m.action == "subscribe" then
        R:close(c.id, 4321, "bye now")
      end
    end)
    local env = start(R, conn_spec({ hooks = {
      on_connect = function(ctx) calls[#calls + 1] = "connect " .. ctx.connection_name end,
      on_disconnect = function(ctx) calls[#calls + 1] = "disconnect " .. ctx.code .. " " .. ctx.reason end,
      on_error = function(ctx)
        calls[#calls + 1] = "error " .. ctx.error
        error("hook blew up")
      end,
    } }), srv.port, { "AAPL" })
    assert.is_true(wait(R, function() return #calls >= 4 end))
    assert.same({ "connect feed", "disconnect 4321 bye now", "connect feed", "error auth rejected" },
      { calls[1], calls[2], calls[3], calls[4] })
    local logged = false
    for _, l in ipairs(env.lines) do
      logged = logged or l:match("hooks.on_error failed") ~= nil
    end
    assert.is_true(logged)
  end)

  it("sends the spec's heartbeat message at its interval", function()
    local srv
    srv = server(R, function(c, text)
      local reply = alpaca_like(c, text)
      if reply then
        srv.send(c, reply)
      end
    end)
    start(R, conn_spec({ heartbeat = { interval = 0.2, message = { format = "json",
      json = { fields = { action = { value = "ping" }, who = { source = "connection_name" } } } } } }),
      srv.port, { "AAPL" })
    assert.is_true(wait(R, function()
      local n = 0
      for _, t in ipairs(srv.all_got()) do
        if t == '{"action":"ping","who":"feed"}' then
          n = n + 1
        end
      end
      return n >= 3
    end, 3))
    assert.equal(1, #srv.conns)
  end)

  it("closes a silent connection after idle_timeout and reconnects", function()
    local srv
    srv = server(R, function(c, text)
      local reply = alpaca_like(c, text)
      if reply then
        srv.send(c, reply)
      end
    end)
    local env = start(R, conn_spec({ heartbeat = { idle_timeout = 0.3 } }), srv.port, { "AAPL" })
    assert.is_true(wait(R, function() return #srv.conns >= 2 end, 5))
    local idle = false
    for _, l in ipairs(env.lines) do
      idle = idle or l:match("idle_timeout") ~= nil
    end
    assert.is_true(idle)
  end)

  it("shards assets over sockets by limits.max_assets and paces subscribe messages", function()
    local srv
    srv = server(R, function(c, text)
      local reply = alpaca_like(c, text)
      if reply then
        srv.send(c, reply)
      end
    end)
    local t0 = reactor.now()
    local env = start(R, conn_spec({ limits = { max_assets = 2, subscribe_rate = 20 } }), srv.port,
      { "A", "B", "C", "D", "E" })
    assert.is_true(wait(R, function()
      for _, s in ipairs(env.rt.sockets) do
        if s.state ~= "live" then
          return false
        end
      end
      return true
    end))
    assert.equal(3, #env.rt.sockets)
    local seen = {}
    for _, t in ipairs(srv.all_got()) do
      local m = json.decode(t)
      if m.action == "subscribe" then
        for _, s in ipairs(m.trades) do
          seen[#seen + 1] = s
        end
      end
    end
    table.sort(seen)
    assert.same({ "A", "B", "C", "D", "E" }, seen)
    assert.is_true(reactor.now() - t0 > 0.04)
  end)

  it("counts an oversized frame and keeps the connection", function()
    local srv
    srv = server(R, function(c, text)
      local reply = alpaca_like(c, text)
      if reply then
        srv.send(c, reply)
      end
      if json.decode(text).action == "subscribe" then
        srv.send(c, "[" .. string.rep(" ", 5000) .. "]")
        srv.send(c, '[{"T":"t","S":"AAPL","p":1,"s":2,"t":"2021-02-22T15:51:44Z"}]')
      end
    end)
    local env = start(R, conn_spec({ limits = { max_frame_bytes = 1000 } }), srv.port, { "AAPL" })
    assert.is_true(wait(R, function() return #env.records == 1 end))
    assert.equal(1, env.rt.sockets[1].errors)
    assert.equal(1, #srv.conns)
  end)

  it("reports a refused connection with backoff", function()
    -- nothing listens on this port: bind a listener, note its port, then use another reactor's
    local env = start(R, conn_spec({ reconnect = { initial = 0.1, max = 0.1, jitter = 0 } }), 1, { "AAPL" })
    wait(R, function() return false end, 0.45)
    local s = env.rt.sockets[1]
    assert.is_true(s.connects >= 2 and s.connects <= 6, "connects " .. s.connects)
    local failed = false
    for _, l in ipairs(env.lines) do
      failed = failed or l:match("connect failed") ~= nil
    end
    assert.is_true(failed)
  end)
end)

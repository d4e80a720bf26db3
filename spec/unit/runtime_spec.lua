-- feedhost.runtime over a real reactor: the client sockets talk to a WebSocket server that the
-- test runs on the same reactor (127.0.0.1, ephemeral port), scripted per test
-- (spec/helpers/runtime.lua). Every wait has a deadline that fails naming what it waited for.
local h = require("spec.helpers.runtime")
local json = require("feedhost.util.json")
local reactor = require("feedhost.runtime.reactor")
local ws = require("feedhost.transport.websocket")

local server, conn_spec, start, wait_for = h.server, h.conn_spec, h.start, h.wait_for

describe("runtime", function()
  local R
  h.reactor_per_test(before_each, after_each, function(r) R = r end)

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
    local srv = server(R, h.answer, function(srv, c) srv.send(c, '[{"T":"success","msg":"connected"}]') end)
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
    wait_for(R, "20 records", function() return #env.records >= 20 end, 5, env)
    assert.is_true(raised >= 20)
    local s = env.rt.sockets[1]
    assert.equal("live", s.state)
    assert.equal(0, s.reconnects)   -- the liveness tick saw the data: no idle reconnect
    assert.equal(1, srv.accepted)
  end)

  it("authenticates, subscribes only after the ack, and converts data", function()
    local early = {}   -- what the server got before it sent the ack (asserted below, not in here)
    local srv = server(R, function(srv, c, text)
      local m = json.decode(text)
      if m.action == "auth" then
        R:after(0.05, function()
          for i = 2, #c.got do
            early[#early + 1] = c.got[i]
          end
          srv.send(c, '[{"T":"success","msg":"authenticated"}]')
        end)
      elseif m.action == "subscribe" then
        srv.send(c, '[{"T":"t","S":"AAPL","p":1.5,"s":3,"t":"2021-02-22T15:51:44.208123456Z"}]')
      end
    end, function(srv, c) srv.send(c, '[{"T":"success","msg":"connected"}]') end)
    local env = start(R, conn_spec(), srv.port, { "AAPL", "MSFT" })
    wait_for(R, "a record", function() return #env.records == 1 end, 5, env)
    assert.are.same({}, early)   -- nothing but the auth message before the ack
    local got = srv.conns[1].got
    assert.same({ action = "auth", key = h.SECRET }, json.decode(got[1]))
    assert.same({ action = "subscribe", trades = { "AAPL", "MSFT" } }, json.decode(got[2]))
    local r = env.records[1]
    assert.equal("AAPL", r.asset.symbol)
    assert.equal(1614009104208123456LL, r.timestamp)
    assert.same({ price = 1.5, volume = 3 }, r.data)
    assert.equal("live", env.rt.sockets[1].state)
    h.assert_no_secret(env)
  end)

  it("backs off after an auth rejection instead of retrying in a tight loop", function()
    local srv = server(R, function(srv, c, text)
      if json.decode(text).action == "auth" then
        srv.send(c, '[{"T":"error","code":402,"msg":"auth failed"}]')
      end
    end)
    local env = start(R, conn_spec(), srv.port, { "AAPL" })
    wait_for(R, "3 rejected attempts", function()
      return srv.accepted >= 3 and #h.grep(env, "auth rejected") >= 3
    end, 5, env)
    -- each retry waits the backoff (initial 0.05, factor 2, max 0.2) and is closed by the host
    assert.are.same({ 0.05, 0.1 }, h.first(h.delays(env), 2))
    wait_for(R, "the server to see the first close", function() return not srv.conns[1].open end, 2, env)
    assert.are.equal(4001, srv.conns[1].close_code)
    for _, t in ipairs(srv.all_got()) do
      assert.not_matches("subscribe", t)
    end
    h.assert_no_secret(env)
  end)

  it("reconnects after the server closes and resubscribes every asset", function()
    local srv = server(R, function(srv, c, text)
      h.answer(srv, c, text)
      if #srv.conns == 1 and json.decode(text).action == "subscribe" then
        srv.close(c, 1011, "going away")
      end
    end)
    local env = start(R, conn_spec(), srv.port, { "AAPL", "MSFT" })
    -- the runtime is given an asset twice (the universe's resolve would have deduplicated it)
    local aapl, msft = env.compiled.universe:get("AAPL"), env.compiled.universe:get("MSFT")
    env.rt:set_assets({ aapl, msft, aapl })
    wait_for(R, "the second connection's subscription, live", function()
      return #srv.conns == 2 and #srv.conns[2].got >= 2 and env.rt.sockets[1].state == "live"
    end, 5, env)
    assert.same({ action = "subscribe", trades = { "AAPL", "MSFT" } }, json.decode(srv.conns[2].got[2]))
    assert.equal(1, env.rt.sockets[1].reconnects)
  end)

  it("calls on_connect, on_disconnect (code, reason) and on_error; a throwing hook is counted", function()
    local calls = {}
    local srv = server(R, function(srv, c, text)
      local m = json.decode(text)
      if m.action == "auth" and #srv.conns == 1 then
        srv.send(c, '[{"T":"success","msg":"authenticated"}]')
      elseif m.action == "auth" then
        srv.send(c, '[{"T":"error","code":402,"msg":"auth failed"}]')
      elseif m.action == "subscribe" then
        srv.close(c, 4321, "bye now")
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
    wait_for(R, "4 hook calls", function() return #calls >= 4 end, 5, env)
    assert.same({ "connect feed", "disconnect 4321 bye now", "connect feed", "error auth rejected" },
      { calls[1], calls[2], calls[3], calls[4] })
    assert.is_true(#h.grep(env, "hooks.on_error failed") >= 1)
  end)

  it("sends the spec's heartbeat message at its interval, no sooner", function()
    local interval = 0.4
    local srv = server(R, h.answer)
    local sent = {}   -- when each heartbeat left the client
    local env = start(R, conn_spec({ heartbeat = { interval = interval, message = { format = "json",
      json = { fields = { action = { value = "ping" }, who = { source = "connection_name" } } } } } }),
      srv.port, { "AAPL" }, { recorder = function(_, dir, _, data)
        if dir == "out" and data:find('"ping"', 1, true) then
          sent[#sent + 1] = reactor.now()
        end
      end })
    wait_for(R, "3 heartbeat messages at the server", function()
      local n = 0
      for _, t in ipairs(srv.all_got()) do
        if t == '{"action":"ping","who":"feed"}' then
          n = n + 1
        end
      end
      return n >= 3
    end, 5, env)
    -- (sent at the liveness tick's time plus the moment it takes to build and queue the message;
    -- sent every tick, 0.2 s, they would be half the interval apart)
    for i = 2, #sent do
      assert(sent[i] - sent[i - 1] >= interval - 0.05, string.format("heartbeats %d and %d %.3fs apart",
        i - 1, i, sent[i] - sent[i - 1]))
    end
    assert.equal(1, #srv.conns)
  end)

  it("closes a silent connection after idle_timeout and reconnects", function()
    local srv = server(R, h.answer)
    local env = start(R, conn_spec({ heartbeat = { idle_timeout = 0.3 } }), srv.port, { "AAPL" })
    wait_for(R, "a second connection", function() return #srv.conns >= 2 end, 5, env)
    assert.is_true(#h.grep(env, "idle_timeout") >= 1)
    assert.are.equal(4003, srv.conns[1].close_code)
  end)

  it("shards assets over sockets by limits.max_assets, each subscribing its own", function()
    local srv = server(R, h.answer)
    local env = start(R, conn_spec({ limits = { max_assets = 2, subscribe_rate = 20 } }), srv.port,
      { "A", "B", "C", "D", "E" })
    -- what the server received, not what the client believes it sent
    local function subscribed()
      local per = {}
      for _, c in ipairs(srv.conns) do
        for _, m in ipairs(srv.actions(c, "subscribe")) do
          per[#per + 1] = table.concat(m.trades, ",")
        end
      end
      table.sort(per)
      return per
    end
    wait_for(R, "3 subscriptions at the server", function() return #subscribed() >= 3 end, 5, env)
    assert.equal(3, #env.rt.sockets)
    assert.same({ "A,B", "C,D", "E" }, subscribed())
    assert.equal(3, srv.accepted)
  end)

  it("counts an oversized frame and keeps the connection; a frame of exactly the limit passes", function()
    local limit = 1000
    -- a trade message padded with blanks to `size` bytes
    local function frame(price, size)
      local t = '[{"T":"t","S":"AAPL","p":' .. price .. ',"s":2,"t":"2021-02-22T15:51:44Z"}]'
      return t .. string.rep(" ", size - #t)
    end
    local srv = server(R, function(srv, c, text)
      h.answer(srv, c, text)
      if json.decode(text).action == "subscribe" then
        srv.send(c, frame(1, limit))       -- exactly max_frame_bytes: kept
        srv.send(c, frame(2, limit + 1))   -- one byte over: dropped
        srv.send(c, frame(3, 100))
      end
    end)
    local env = start(R, conn_spec({ limits = { max_frame_bytes = limit } }), srv.port, { "AAPL" })
    wait_for(R, "the record after the oversized frame", function()
      return #env.records >= 1 and env.records[#env.records].data.price == 3
    end, 5, env)
    local prices = {}
    for i, r in ipairs(env.records) do
      prices[i] = r.data.price
    end
    assert.are.same({ 1, 3 }, prices)
    assert.equal(1, env.rt.sockets[1].errors)
    assert.is_true(#h.grep(env, "dropped a frame of at least 1001 bytes") == 1)
    assert.equal(1, #srv.conns)
  end)

  it("reports a refused connection and retries after each backoff delay", function()
    local env = start(R, conn_spec({ reconnect = { initial = 0.1, max = 0.1, jitter = 0 } }),
      h.closed_port(R), { "AAPL" })
    wait_for(R, "3 refused attempts", function() return #h.grep(env, "connect failed") >= 3 end, 5, env)
    assert.are.same({ 0.1, 0.1 }, h.first(h.delays(env), 2))
    assert.is_true(env.rt.sockets[1].connects >= 3)
  end)
end)

-- The connection lifecycle over a real reactor (spec/helpers/runtime.lua: a WebSocket server on
-- the same reactor, 127.0.0.1, ephemeral port): backoff (cap, jitter, stable_after), liveness
-- (idle_timeout), paced subscriptions across reconnects, the auth timeout, live unsubscribe.
-- Delays are read from what the connection computes (its "reconnecting in" log lines; the
-- jitter's random source is injectable), never from the wall clock; every wait has a deadline
-- that fails naming what it waited for.
local h = require("spec.helpers.runtime")
local json = require("feedhost.util.json")
local reactor = require("feedhost.runtime.reactor")

local wait_for, delays, first = h.wait_for, h.delays, h.first

-- a random source giving `values` in turn, round and round
local function sequence(values)
  local i = 0
  return function()
    i = i % #values + 1
    return values[i]
  end
end

local function any_over(list, limit)
  for _, x in ipairs(list) do
    if x > limit + 1e-9 then
      return true
    end
  end
  return false
end

describe("connection lifecycle", function()
  local R
  h.reactor_per_test(before_each, after_each, function(r) R = r end)

  describe("backoff", function()
    it("delays grow from reconnect.initial by reconnect.factor up to reconnect.max, and stay", function()
      local env = h.start(R, h.conn_spec({ reconnect = { initial = 0.02, factor = 2, max = 0.08,
        jitter = 0, stable_after = 5 } }), h.closed_port(R), { "AAPL" })
      wait_for(R, "6 reconnect delays", function()
        local d = delays(env)
        return #d >= 6 or any_over(d, 0.08)
      end, 5, env)
      assert.are.same({ 0.02, 0.04, 0.08, 0.08, 0.08, 0.08 }, first(delays(env), 6))
      assert.is_true(#h.grep(env, "connect failed") >= 6)
    end)

    it("jitter: each delay is the capped delay times 1 +- jitter, drawn from the random source", function()
      local env = h.start(R, h.conn_spec({ reconnect = { initial = 0.1, factor = 1, max = 0.1,
        jitter = 0.5, stable_after = 5 } }), h.closed_port(R), { "AAPL" },
        { random = sequence({ 0, 1, 0.5, 0.9 }) })
      wait_for(R, "4 reconnect delays", function() return #delays(env) >= 4 end, 5, env)
      -- 0.1 * (1 + 0.5 * (2r - 1)) for r = 0, 1, 0.5, 0.9
      assert.are.same({ 0.05, 0.15, 0.1, 0.14 }, first(delays(env), 4))
    end)

    it("jitter: the sockets of one definition do not reconnect in lockstep", function()
      -- limits.max_assets = 1 shards two assets over two sockets; nothing listens
      local env = h.start(R, h.conn_spec({ limits = { max_assets = 1 },
        reconnect = { initial = 0.05, factor = 1, max = 0.05, jitter = 0.5, stable_after = 5 } }),
        h.closed_port(R), { "AAPL", "MSFT" })
      wait_for(R, "5 reconnect delays on each socket", function()
        return #delays(env, "feed") >= 5 and #delays(env, "feed[2]") >= 5
      end, 5, env)
      local seen, distinct = {}, 0
      for _, label in ipairs({ "feed", "feed[2]" }) do
        for _, d in ipairs(first(delays(env, label), 5)) do
          assert(d >= 0.02 and d <= 0.08, "delay " .. d .. " outside 0.05 +- 50%")
          if not seen[d] then
            seen[d], distinct = true, distinct + 1
          end
        end
      end
      assert(distinct >= 2, "10 delays of two sockets, all equal: no jitter" .. h.tail(env))
    end)

    it("a flapping server (it closes every connection once live) is not hammered: delays grow"
      .. " while no connection lasts stable_after", function()
      local srv = h.server(R, function(srv, c, text)
        h.answer(srv, c, text)
        if json.decode(text).action == "subscribe" then
          srv.close(c, 1011, "flapping")
        end
      end)
      local env = h.start(R, h.conn_spec({ reconnect = { initial = 0.02, factor = 2, max = 0.16,
        jitter = 0, stable_after = 5 } }), srv.port, { "AAPL" })
      wait_for(R, "4 reconnect delays", function() return #delays(env) >= 4 end, 5, env)
      assert.are.same({ 0.02, 0.04, 0.08, 0.16 }, first(delays(env), 4))
      assert.is_true(srv.accepted >= 4)
      for _, c in ipairs(srv.conns) do   -- every connection went live: the server saw its subscribe
        if not c.open then
          assert.are.equal(1, #srv.actions(c, "subscribe"))
        end
      end
    end)

    it("resets to reconnect.initial once a connection was live for stable_after", function()
      local srv = h.server(R, function(srv, c, text)
        h.answer(srv, c, text)
        if json.decode(text).action == "subscribe" then
          R:after(0.15, function() srv.close(c, 1011, "closing after a stable while") end)
        end
      end)
      local env = h.start(R, h.conn_spec({ reconnect = { initial = 0.02, factor = 2, max = 0.16,
        jitter = 0, stable_after = 0.05 } }), srv.port, { "AAPL" })
      wait_for(R, "3 reconnect delays", function() return #delays(env) >= 3 end, 5, env)
      assert.are.same({ 0.02, 0.02, 0.02 }, first(delays(env), 3))
    end)
  end)

  describe("idle_timeout", function()
    it("counts data frames only: a server sending nothing but heartbeat frames is reconnected", function()
      local srv = h.server(R, h.answer)
      R:every(0.03, function()
        for _, c in ipairs(srv.conns) do
          if c.open then
            srv.send(c, '[{"T":"hb"}]')
          end
        end
      end)
      local conn = h.conn_spec({ heartbeat = { idle_timeout = 0.3 } })
      table.insert(conn.router.rules, { channel = "heartbeat", match = "data.T == 'hb'" })
      local env = h.start(R, conn, srv.port, { "AAPL" })
      wait_for(R, "a reconnect after idle_timeout", function() return srv.accepted >= 2 end, 4, env)
      assert.is_true(#h.grep(env, "(idle_timeout)") >= 1)
      local st = env.rt.sockets[1].pipeline.stats
      assert(st.heartbeats >= 3, "the server's heartbeats arrived: " .. st.heartbeats)
      assert.are.equal(0, #env.records)
    end)

    it("pongs are not data: a silent server that answers pings is reconnected", function()
      local srv = h.server(R, h.answer)
      local env = h.start(R, h.conn_spec({ heartbeat = { interval = 0.05, message = "ping",
        idle_timeout = 0.4 } }), srv.port, { "AAPL" })
      wait_for(R, "a reconnect after idle_timeout", function() return srv.accepted >= 2 end, 4, env)
      assert.is_true(#h.grep(env, "(idle_timeout)") >= 1)
      assert.are.equal(0, #h.grep(env, "after a ping"))   -- the pings were answered
    end)
  end)

  it("subscribe_rate: paced subscriptions go out again after a reconnect, 1/rate apart", function()
    local rate = 20
    local srv = h.server(R, function(srv, c, text)
      h.answer(srv, c, text)
      -- the first connection closes on its first subscribe: the second one is still paced
      if c == srv.conns[1] and json.decode(text).action == "subscribe" then
        srv.close(c, 1011, "going away")
      end
    end)
    local sent = {}   -- client side: when each subscribe frame left, per connection attempt
    local conn = h.conn_spec({ streams = { "data", "quote" }, limits = { subscribe_rate = rate } })
    conn.subscribe.subscribe.quote = { format = "json", json = { fields = {
      action = { value = "subscribe" }, quotes = { source = "map(subscribe_assets, '|a| a.symbol')" } } } }
    local env
    env = h.start(R, conn, srv.port, { "AAPL", "MSFT" }, { recorder = function(_, dir, _, data)
      if dir == "out" and json.decode(data).action == "subscribe" then
        sent[#sent + 1] = { at = reactor.now(), attempt = env.rt.sockets[1].connects }
      end
    end })
    wait_for(R, "both subscribe messages on the second connection", function()
      return srv.conns[2] and #srv.actions(srv.conns[2], "subscribe") == 2
    end, 4, env)
    local subs = srv.actions(srv.conns[2], "subscribe")
    assert.are.same({ "AAPL", "MSFT" }, subs[1].trades or subs[2].trades)
    assert.are.same({ "AAPL", "MSFT" }, subs[1].quotes or subs[2].quotes)
    wait_for(R, "the connection to be live", function() return env.rt.sockets[1].state == "live" end, 2, env)
    local second = {}
    for _, s in ipairs(sent) do
      if s.attempt == 2 then
        second[#second + 1] = s.at
      end
    end
    assert.are.equal(2, #second)
    assert(second[2] - second[1] >= 1 / rate - 1e-6, string.format("paced %.4fs apart, rate %d/s",
      second[2] - second[1], rate))
  end)

  it("auth.timeout: no ack within it closes the connection (code 4002) and retries", function()
    local srv = h.server(R)   -- answers nothing
    local conn = h.conn_spec()
    conn.auth.timeout = 0.2
    local env = h.start(R, conn, srv.port, { "AAPL" })
    wait_for(R, "a retry after the auth timeout", function() return srv.accepted >= 2 end, 3, env)
    assert.is_true(#h.grep(env, "no auth confirmation within 0.20s") >= 1)
    wait_for(R, "the server to see the close", function() return not srv.conns[1].open end, 2, env)
    assert.are.equal(4002, srv.conns[1].close_code)
    assert.are.equal(0, #srv.actions(srv.conns[1], "subscribe"))
    h.assert_no_secret(env)
  end)

  it("unsubscribe: an asset removed live is unsubscribed, and subscribed again when it comes back", function()
    local srv = h.server(R, h.answer)
    local conn = h.conn_spec()
    conn.subscribe.unsubscribe = { data = { format = "json", json = { fields = {
      action = { value = "unsubscribe" },
      trades = { source = "map(subscribe_assets, '|a| a.symbol')" } } } } }
    local env = h.start(R, conn, srv.port, { "AAPL", "MSFT" })
    local universe = env.compiled.universe
    wait_for(R, "the subscription", function()
      return srv.conns[1] and #srv.actions(srv.conns[1], "subscribe") == 1
    end, 3, env)
    local c = srv.conns[1]
    env.rt:set_assets(universe:resolve({ "AAPL" }))
    wait_for(R, "the unsubscribe", function() return #srv.actions(c, "unsubscribe") == 1 end, 3, env)
    assert.are.same({ "MSFT" }, srv.actions(c, "unsubscribe")[1].trades)
    env.rt:set_assets(universe:resolve({ "AAPL", "MSFT" }))
    wait_for(R, "MSFT subscribed again", function() return #srv.actions(c, "subscribe") == 2 end, 3, env)
    assert.are.same({ "MSFT" }, srv.actions(c, "subscribe")[2].trades)
    assert.are.equal(1, srv.accepted)
  end)

  it("an unsubscribe that cannot be built is counted and logged, not raised; the feed goes on", function()
    local srv = h.server(R, h.answer)
    local conn = h.conn_spec()
    conn.subscribe.unsubscribe = { data = { format = "json", json = { fields = {
      action = { value = "unsubscribe" }, trades = { source = "num('no id')" } } } } }
    local env = h.start(R, conn, srv.port, { "AAPL", "MSFT" })
    local universe = env.compiled.universe
    wait_for(R, "the subscription", function()
      return srv.conns[1] and #srv.actions(srv.conns[1], "subscribe") == 1
    end, 3, env)
    local s = env.rt.sockets[1]
    local errors = s.errors
    env.rt:set_assets(universe:resolve({ "AAPL" }))
    assert.are.equal(errors + 1, s.errors)
    assert.are.equal(1, #h.grep(env, "cannot build the unsubscribe messages"))
    env.rt:set_assets(universe:resolve({ "AAPL", "MSFT" }))
    wait_for(R, "MSFT subscribed again", function() return #srv.actions(srv.conns[1], "subscribe") == 2 end, 3, env)
    assert.are.equal(0, #srv.actions(srv.conns[1], "unsubscribe"))
  end)
end)

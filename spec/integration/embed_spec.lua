-- The host inside an application (require "feedhost"), against a python3-websockets server on
-- 127.0.0.1: host:reload() from Lua, and an application whose own luv loop (Debian's lua-luv)
-- polls host:fd(), runs timers of its own and gets records, its raising callbacks isolated.
require("feedhost.core")
local feedhost = require("feedhost")
local reactor = require("feedhost.runtime.reactor")
local logmod = require("feedhost.util.log")
local it_ = require("spec.helpers.integration")

local CREDS = { api_key = "AKTEST", api_secret = "SKTEST" }

-- An Alpaca-like spec of one connection to `url`; `fields`: extra converter fields, `auth`: extra
-- auth message fields (Lua text).
local function spec_source(url, fields, auth)
  return ([[
return {
  name = "embed_test",
  credentials = { fields = { "api_key", "api_secret" } },
  streaming = { connections = { market_data = {
    url = %q,
    streams = { "data" },
    frame = "array",
    auth = { mode = "first_message", first_message = { format = "json", order = { "action" },
      json = { fields = { action = { value = "auth" }, key = { source = "credentials.api_key" },
        secret = { source = "credentials.api_secret" }, %s } } },
      ack = "data[1] and data[1].msg == 'authenticated'" },
    subscribe = { subscribe = { data = { format = "json", order = { "action" }, json = { fields = {
      action = { value = "subscribe" }, trades = { source = "map(subscribe_assets, '|a| a.symbol')" } } } } } },
    router = { rules = { { channel = "data", match = "data.T == 't'" }, { channel = "quote", match = "data.T == 'q'" } } },
    converters = {
      data = { { fields = {
        asset = { source = "broker.infer_asset{ symbol = data.S }" },
        timestamp = { source = "ts(data.t)" },
        data = { price = { source = "num(data.p)" }, volume = { source = "num(data.s)" } },
        %s
      } } },
      quote = { { fields = { asset = { source = "broker.infer_asset{ symbol = data.S }" },
        timestamp = { source = "ts(data.t)" }, bid = { source = "num(data.bp)" } } } },
    },
  } } },
}
]]):format(url, auth or "", fields or "")
end

-- A server streaming `rate` messages a second and the spec file of a connection to it.
-- @return the server, the spec's path
local function serve(rate, fields, auth)
  local t = it_.tmpdir()
  local srv = it_.server(t, { "--rate", tostring(rate) })
  return srv, it_.write(t .. "/live.lua", spec_source(srv:url("/v2/iex"), fields, auth))
end

local function step_until(host, cond, secs, what)
  local deadline = reactor.now() + (secs or 10)
  while reactor.now() < deadline do
    if cond() then
      return
    end
    host:step(20)
  end
  error("timed out waiting for " .. what, 2)
end

describe("embedding", function()
  local host
  after_each(function()
    if host then
      host:close()
      host = nil
    end
    it_.cleanup()
  end)

  it("host:reload() swaps the pipeline on the live connection; a bad spec is refused with its key"
    .. " path and the running one stays", function()
    local srv, spec = serve(100)
    local recs, lines, hook = {}, {}, nil
    host = assert(feedhost.new({ spec = spec, credentials = CREDS, assets = { "AAPL" },
      log = logmod.new({ level = "info", sink = function(l) lines[#lines + 1] = l end }),
      on_record = function(r)
        recs[#recs + 1] = r
        if hook then
          hook(r)
        end
      end }))
    step_until(host, function() return #recs >= 10 end, 10, "records")
    it_.write(spec, spec_source(srv:url("/v2/iex"), "rev = { value = 1 },"))
    local ok, summary = host:reload()
    assert.is_true(ok)
    assert.are.same({ "market_data: converters changed, pipeline swapped" }, summary.connections)
    assert.is_number(summary.ms)
    local n = #recs
    step_until(host, function() return #recs >= n + 10 end, 10, "records after the reload")
    for i = n + 1, #recs do
      assert.are.equal(1, recs[i].rev)
    end
    -- no frame lost across the swap: the trade volumes (the server's seq) follow on
    for i = 2, #recs do
      assert.are.equal(recs[i - 1].data.volume + 1, recs[i].data.volume)
    end
    -- an error: nil and the message with its key path; records go on with the running spec
    it_.write(spec, spec_source(srv:url("/v2/iex"), "rev = { sorce = 'data.p' },"))
    local bad, err = host:reload()
    assert.is_nil(bad)
    assert.matches("live%.lua: streaming%.connections%.market_data%.converters%.data%[1%]%.fields%.rev", err)
    n = #recs
    step_until(host, function() return #recs >= n + 10 end, 10, "records after the failed reload")
    assert.are.equal(1, recs[#recs].rev)
    -- asked for from a record callback, inside a step: it happens at the step's end
    it_.write(spec, spec_source(srv:url("/v2/iex"), "rev = { value = 2 },"))
    local asked
    hook = function()
      hook = nil
      asked = { host:reload("from a callback") }
    end
    step_until(host, function() return recs[#recs].rev == 2 end, 10, "the reload asked for inside a step")
    assert.are.same({ true, "at the end of this step" }, asked)
    for i = 2, #recs do
      assert.are.equal(recs[i - 1].data.volume + 1, recs[i].data.volume)
    end
    local stats = host:stats().market_data
    assert.are.equal(0, stats.reconnects)
    assert.are.equal(1, #srv:events("connect"))
    assert.are.equal(2, host.reload_stats.ok)
    assert.are.equal(1, host.reload_stats.failed)
    local log = table.concat(lines, "\n")
    assert.is_truthy(log:find("reload (host:reload()): market_data: converters changed", 1, true))
    assert.is_truthy(log:find("reload (from a callback): market_data: converters changed", 1, true))
  end)

  it("an auth message that differs every time it is rendered (a nonce) is judged by its definition:"
    .. " no reconnect unless the definition changed", function()
    local nonce = "nonce = { source = 'str(now())' },"
    local srv, spec = serve(50, nil, nonce)
    local n = 0
    host = assert(feedhost.new({ spec = spec, credentials = CREDS, assets = { "AAPL" },
      log = logmod.new({ level = "none" }), on_record = function() n = n + 1 end }))
    step_until(host, function() return n >= 5 end, 10, "records")
    it_.write(spec, spec_source(srv:url("/v2/iex"), "rev = { value = 1 },", nonce))
    local ok, summary = host:reload()
    assert.is_true(ok)
    assert.are.same({ "market_data: converters changed, pipeline swapped" }, summary.connections)
    it_.write(spec, spec_source(srv:url("/v2/iex"), "rev = { value = 1 },", nonce .. " app = { value = 'x' },"))
    ok, summary = host:reload()
    assert.is_true(ok)
    assert.are.same({ "market_data: auth changed, reconnecting" }, summary.connections)
    step_until(host, function() return #srv:events("connect") == 2 and host:stats().market_data.state == "live" end,
      10, "the second connection live")
    local auths = {}
    for _, text in ipairs(srv:received()) do
      if text:find('"action":"auth"', 1, true) then
        auths[#auths + 1] = text
      end
    end
    assert.are.equal(2, #auths)
    assert.matches('"app":"x"', auths[2])
  end)

  it("an application's luv loop polls host:fd(), runs its own timers and gets records; its"
    .. " raising callbacks are counted apart and never touch the connection", function()
    local uv = require("luv")
    local srv, spec = serve(50)
    local got, lines = 0, {}
    host = assert(feedhost.new({ spec = spec, credentials = CREDS, assets = { "AAPL", "MSFT" },
      log = logmod.new({ level = "info", sink = function(l) lines[#lines + 1] = l end }),
      on_record = function(r)
        got = got + 1
        if got % 3 == 0 then
          error("the application's bug in on_record")
        end
      end,
      on = { data = function(r)
        if r.data.volume % 5 == 0 then
          error("the application's bug in on.data")
        end
      end } }))
    local steps, ticks = 0, 0
    local poll = uv.new_poll(assert(host:fd()))
    poll:start("r", function()
      steps = steps + 1
      host:step(0)
    end)
    local timer = uv.new_timer()
    local started = uv.now()
    timer:start(100, 100, function()
      ticks = ticks + 1
      if got >= 150 or uv.now() - started > 10000 then
        uv.stop()
      end
    end)
    uv.run()
    poll:stop()
    timer:stop()
    poll:close()
    timer:close()
    uv.run("nowait")
    assert.is_true(got >= 150, "records through the luv loop: " .. got)
    assert.is_true(ticks >= 10, "the application's own timer ran: " .. ticks)
    -- woken by work only: not a busy loop (a frame, a timer or a write each wake-up, at most)
    assert.is_true(steps < 20 * (got + ticks), "steps " .. steps)
    local st = host:stats().market_data
    assert.are.equal("live", st.state)
    assert.are.equal(0, st.errors)
    assert.are.equal(0, st.reconnects)
    assert.is_true(st.app_errors >= got / 3 - 1, "app errors " .. st.app_errors)
    assert.is_not_nil(host.store:trade("MSFT"))
    local logged = table.concat(lines, "\n")
    assert.matches("the application's bug in on_record", logged)
    assert.matches("the application's bug in on%.data", logged)
    assert.are.equal(1, #srv:events("connect"))
  end)
end)

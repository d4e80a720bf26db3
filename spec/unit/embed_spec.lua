-- The embedding API (require "feedhost"): a host on the application's loop (host:step), against
-- the simulator on the same reactor.
require("feedhost.core")
local feedhost = require("feedhost")
local reactor = require("feedhost.runtime.reactor")
local simulator = require("feedhost.sim.alpaca")
local logmod = require("feedhost.util.log")

local function wait(host, cond, secs)
  local deadline = reactor.now() + (secs or 5)
  while reactor.now() < deadline do
    if cond() then
      return true
    end
    host:step(20)
  end
  return cond()
end

describe("feedhost.new", function()
  local R, sim, host, lines
  before_each(function()
    R = assert(reactor.new())
    sim = simulator.new(R, { key = "k-embed", secret = "s-embed-secret", rate = 50 })
    sim:start()
    lines = {}
  end)
  after_each(function()
    if host then
      host:close()
      host = nil
    end
    sim:stop()
    R:free()
  end)

  local function new_host(extra)
    local opts = {
      spec = "specs/alpaca.lua", connections = { "market_data" }, reactor = R,
      credentials = { api_key = "k-embed", api_secret = "s-embed-secret" },
      urls = { market_data = sim:url() },
      log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end }),
    }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return feedhost.new(opts)
  end

  it("an on_record that raises is counted as an application error; records and the store go on", function()
    local n, good = 0, 0
    host = assert(new_host({ on_record = function(r)
      n = n + 1
      if n % 2 == 0 then
        error("the application's bug #" .. n)
      end
      good = good + 1
    end }))
    assert.is_true(host:subscribe({ "AAPL", "MSFT" }))
    assert.is_true(wait(host, function() return n >= 40 end))
    local st = host:stats().market_data
    assert.is_true(st.app_errors >= 20, "app_errors " .. st.app_errors)
    assert.are.equal(0, st.errors)                 -- no spec error, no reconnect
    assert.are.equal(0, st.reconnects)
    assert.are.equal("live", st.state)
    assert.is_true(good >= 20)
    assert.is_true(st.records >= n)                -- every record made, the raising ones too
    assert.is_not_nil(host.store:quote("AAPL"))   -- the store got them all
    local logged = table.concat(lines, "\n")
    assert.matches("record callback failed", logged)
    assert.matches("the application's bug", logged)
  end)

  it("streams records into the store and on_record, with stats per connection", function()
    local got = {}
    host = assert(new_host({ on_record = function(r) got[#got + 1] = r end }))
    assert.is_true(host:subscribe({ "AAPL", "MSFT" }))
    assert.is_true(wait(host, function()
      return host.store:quote("AAPL") ~= nil and host.store:quote("MSFT") ~= nil
    end))
    assert.is_true(#got > 0)
    local q = host.store:quote("AAPL")
    assert.equal("quote", q.channel)
    assert.is_number(q.bid)
    local st = host:stats().market_data
    assert.equal("live", st.state)
    assert.is_true(st.frames > 0 and st.records > 0)
    for _, l in ipairs(lines) do
      assert.not_matches("s%-embed%-secret", l)
    end
  end)

  it("subscribes and unsubscribes live", function()
    host = assert(new_host({ assets = { "AAPL" } }))
    assert.is_true(wait(host, function() return host:stats().market_data.state == "live" end))
    host:subscribe({ "TSLA", "AAPL" })
    assert.is_true(wait(host, function() return host.store:quote("TSLA") ~= nil end))
    host:unsubscribe({ "AAPL" })
    assert.is_true(wait(host, function()
      local subs = sim:stats().subscriptions
      return subs.AAPL == nil and subs.TSLA ~= nil
    end))
  end)

  it("records a capture that replay turns into the same records", function()
    local path = os.tmpname()
    local live = {}
    host = assert(new_host({ assets = { "AAPL", "MSFT" }, record = path,
      on_record = function(r) live[#live + 1] = require("feedhost.data.record").ndjson(r, r.channel, r.connection) end }))
    assert.is_true(wait(host, function() return #live >= 20 end))
    host:close()
    host = nil
    local f = assert(io.open(path))
    local src = f:read("*a")
    f:close()
    os.remove(path)
    -- the capture holds the auth frame (out), the subscriptions (out) and the frames (in)
    local auth_out = [["dir":"out","text":"{\"action\":\"auth\"]]
    assert.truthy(src:find(auth_out, 1, true))
    assert.truthy(src:find('"dir":"in"', 1, true))
    local replayed = {}
    local loaded = assert(require("feedhost.spec").load("specs/alpaca.lua"))
    local compiled = assert(require("feedhost.spec").compile(loaded, {
      credentials = {}, open_assets = { "AAPL", "MSFT" },
      emit = function(r) replayed[#replayed + 1] = require("feedhost.data.record").ndjson(r, r.channel, r.connection) end }))
    require("feedhost.runtime.replay").run(compiled, src, { connection = "market_data" })
    assert.same(live, replayed)
  end)

  it("reports a spec error with the file and exit code 2", function()
    local h, err, code = feedhost.new({ spec = "no/such/spec.lua" })
    assert.is_nil(h)
    assert.matches("no/such/spec.lua", err)
    assert.equal(2, code)
  end)

  it("names a missing credential", function()
    local h, err, code = feedhost.new({ spec = "specs/alpaca.lua", credentials = {},
      log = logmod.new({ level = "none" }) })
    assert.is_nil(h)
    assert.matches("api_key", err)
    assert.equal(2, code)
  end)
end)

-- feedhost.sim.alpaca: a real WebSocket server on 127.0.0.1 driven by reactor clients in the same
-- loop. Every wait is a deadline loop over R:step until a condition holds.
require("feedhost.core")
local ffi = require("ffi")
local json = require("feedhost.util.json")
local reactor = require("feedhost.runtime.reactor")
local simulator = require("feedhost.sim.alpaca")

local AUTH = '{"action":"auth","key":"demo-key","secret":"demo-secret"}'

local R, sim

local function wait_for(what, cond, secs)
  local deadline = reactor.now() + (secs or 5)
  while not cond() do
    if reactor.now() > deadline then
      error("timed out waiting for " .. what, 2)
    end
    R:step(20)
  end
end

-- A reactor client: frames (decoded arrays), items (every array element, in order), open/close.
local function client(port)
  local c = { frames = {}, items = {}, opened = false }
  local handler = {}
  function handler.on_open()
    c.opened = true
  end
  function handler.on_frames(_, _, b)
    for i = 0, b.n - 1 do
      local f = b.frames[i]
      local text = ffi.string(b.buf + f.off, f.len)
      local v = json.decode(text)
      c.frames[#c.frames + 1] = v
      for _, item in ipairs(v) do
        c.items[#c.items + 1] = item
      end
    end
  end
  function handler.on_close(_, _, code, reason)
    c.closed = { code = code, reason = reason }
  end
  function handler.on_error(_, _, code, status, why)
    c.closed = { code = -1, status = status, reason = why }
  end
  c.id = assert(R:open("ws", { host = "127.0.0.1", port = port or sim.port, path = "/v2/iex" },
    handler))
  function c.send(text)
    assert(R:send(c.id, text))
  end
  -- the first item (from index `from`) matching `pred`
  function c.find(pred, from)
    for i = from or 1, #c.items do
      if pred(c.items[i]) then
        return c.items[i], i
      end
    end
  end
  function c.wait_item(what, pred, from)
    wait_for(what, function()
      return c.find(pred, from) ~= nil
    end)
    return c.find(pred, from)
  end
  return c
end

local function is_msg(msg)
  return function(it)
    return it.T == "success" and it.msg == msg
  end
end

local function is_T(T)
  return function(it)
    return it.T == T
  end
end

local function is_error(code)
  return function(it)
    return it.T == "error" and it.code == code
  end
end

local function connected_client(port)
  local c = client(port)
  c.wait_item("connected", is_msg("connected"))
  return c
end

local function authed_client()
  local c = connected_client()
  c.send(AUTH)
  c.wait_item("authenticated", is_msg("authenticated"))
  return c
end

local function set_of(list)
  local s = {}
  for _, x in ipairs(list) do
    s[x] = true
  end
  return s
end

local function start(opts)
  sim = simulator.new(R, opts or {})
  return assert(sim:start())
end

before_each(function()
  R = assert(reactor.new())
end)

after_each(function()
  if sim then
    sim:stop()
    sim = nil
  end
  R:free()
  R = nil
end)

describe("simulator handshake", function()
  it("listens on a free port and greets a client with connected", function()
    local port = start()
    assert.is_true(port > 0)
    assert.are.equal("ws://127.0.0.1:" .. port .. "/v2/iex", sim:url())
    local c = client()
    c.wait_item("connected", is_msg("connected"))
    assert.are.same({ { T = "success", msg = "connected" } }, c.frames[1])
    wait_for("stats", function()
      return sim:stats().clients == 1
    end)
    assert.are.equal(0, sim:stats().authenticated)
  end)

  it("authenticates with the right key and secret", function()
    start()
    local c = connected_client()
    c.send(AUTH)
    c.wait_item("authenticated", is_msg("authenticated"))
    assert.are.same({ { T = "success", msg = "authenticated" } }, c.frames[2])
    assert.are.equal(1, sim:stats().authenticated)
    local ev = sim:events()
    assert.are.same({ action = "auth", key = "demo-key", secret = "demo-secret" }, ev[1])
  end)

  it("rejects a wrong secret with 402 and closes", function()
    start()
    local c = connected_client()
    c.send('{"action":"auth","key":"demo-key","secret":"nope"}')
    c.wait_item("402", is_error(402))
    assert.are.same({ T = "error", code = 402, msg = "auth failed" }, c.frames[2][1])
    wait_for("close", function()
      return c.closed ~= nil
    end)
    assert.are.equal(1008, c.closed.code)
    assert.are.equal(0, sim:stats().clients)
  end)

  it("answers 401 to a subscribe before auth, 403 to a second auth, 400 to bad input", function()
    start()
    local c = connected_client()
    c.send('{"action":"subscribe","trades":["AAPL"]}')
    c.wait_item("401", is_error(401))
    assert.are.equal("not authenticated", c.find(is_error(401)).msg)
    c.send("{not json")
    c.wait_item("400", is_error(400))
    assert.are.equal("invalid syntax", c.find(is_error(400)).msg)
    c.send(AUTH)
    c.wait_item("authenticated", is_msg("authenticated"))
    c.send(AUTH)
    c.wait_item("403", is_error(403))
    assert.are.equal("already authenticated", c.find(is_error(403)).msg)
    local _, at = c.find(is_error(403))
    c.send('{"action":"dance"}')
    c.wait_item("400 after auth", is_error(400), at)
    c.send('{"action":"subscribe","trades":"AAPL"}')
    local _, at2 = c.find(is_error(400), at)
    c.wait_item("400 for a non-list", is_error(400), at2 + 1)
    assert.is_nil(c.closed)
  end)

  it("closes a client that does not authenticate in time with 404", function()
    start({ auth_timeout = 0.2 })
    local c = connected_client()
    c.wait_item("404", is_error(404))
    assert.are.equal("auth timeout", c.find(is_error(404)).msg)
    wait_for("close", function()
      return c.closed ~= nil
    end)
  end)
end)

describe("simulator subscriptions", function()
  it("replies with the full current set after subscribe and unsubscribe", function()
    start({ rate = 0 })
    local c = authed_client()
    c.send('{"action":"subscribe","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["*"]}')
    local r1, at = c.wait_item("subscription", is_T("subscription"))
    assert.are.same({ "AAPL" }, r1.trades)
    assert.are.same(set_of({ "AMD", "CLDR" }), set_of(r1.quotes))
    assert.are.same({ "*" }, r1.bars)
    c.send('{"action":"subscribe","trades":["MSFT","AAPL"]}')
    local r2, at2 = c.wait_item("second subscription", is_T("subscription"), at + 1)
    assert.are.same(set_of({ "AAPL", "MSFT" }), set_of(r2.trades))
    assert.are.equal(2, #r2.trades)
    assert.are.same(set_of({ "AMD", "CLDR" }), set_of(r2.quotes))
    c.send('{"action":"unsubscribe","bars":["*"],"trades":["AAPL"]}')
    local r3 = c.wait_item("third subscription", is_T("subscription"), at2 + 1)
    assert.are.same({ "MSFT" }, r3.trades)
    assert.are.same(set_of({ "AMD", "CLDR" }), set_of(r3.quotes))
    assert.are.same({}, r3.bars)
    local st = sim:stats()
    assert.are.same({ trades = true }, st.subscriptions.MSFT)
    assert.are.same({ quotes = true }, st.subscriptions.CLDR)
    assert.is_nil(st.subscriptions.AAPL)
  end)

  it("refuses a subscribe over max_symbols with 405 and keeps the old set", function()
    start({ rate = 0, max_symbols = 3 })
    local c = authed_client()
    c.send('{"action":"subscribe","trades":["AAPL","MSFT"],"quotes":["AAPL"]}')
    local _, at = c.wait_item("subscription", is_T("subscription"))
    c.send('{"action":"subscribe","quotes":["TSLA","AMD"]}')
    c.wait_item("405", is_error(405), at + 1)
    assert.are.equal("symbol limit exceeded", c.find(is_error(405)).msg)
    c.send('{"action":"subscribe","quotes":["TSLA"]}')
    local r = c.wait_item("subscription after 405", is_T("subscription"), at + 1)
    assert.are.same(set_of({ "AAPL", "TSLA" }), set_of(r.quotes))
  end)
end)

local TS = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%d%d%d%dZ$"

describe("simulator data", function()
  it("sends trades and quotes only for the subscribed symbols, with Alpaca's shapes", function()
    start({ rate = 100, seed = 3 })
    local c = authed_client()
    c.send('{"action":"subscribe","trades":["AAPL","TSLA"],"quotes":["MSFT"]}')
    local _, at = c.wait_item("subscription", is_T("subscription"))
    wait_for("60 data items", function()
      return #c.items - at >= 60
    end)
    local trades, quotes, last_id = 0, 0, 0
    local seen = {}
    for i = at + 1, #c.items do
      local it = c.items[i]
      seen[it.S] = true
      if it.T == "t" then
        trades = trades + 1
        assert.is_true(it.S == "AAPL" or it.S == "TSLA", it.S)
        assert.is_true(it.i > last_id, "trade ids increase")
        last_id = it.i
        assert.are.equal("string", type(it.x))
        assert.is_true(it.p > 0 and it.s >= 1)
        assert.is_truthy(it.t:match(TS), it.t)
        assert.are.same({ "@" }, it.c)
        assert.are.equal("C", it.z)
      elseif it.T == "q" then
        quotes = quotes + 1
        assert.are.equal("MSFT", it.S)
        assert.is_true(it.bp > 0 and it.ap > it.bp, "ask above bid")
        assert.is_true(it.bs >= 1 and it.as >= 1)
        assert.are.equal("string", type(it.bx))
        assert.are.equal("string", type(it.ax))
        assert.is_truthy(it.t:match(TS), it.t)
        assert.are.same({ "R" }, it.c)
        assert.are.equal("C", it.z)
      else
        error("unexpected item " .. json.encode(it))
      end
    end
    assert.is_true(trades > 0 and quotes > 0)
    assert.is_true(seen.AAPL and seen.TSLA and seen.MSFT)
    -- every data frame holds 1..3 items
    for i = 4, #c.frames do
      assert.is_true(#c.frames[i] >= 1 and #c.frames[i] <= 3)
    end
  end)

  it("sends nothing but control messages without subscriptions, and stops after unsubscribe",
    function()
      start({ rate = 200 })
      local c = authed_client()
      -- a second client streams meanwhile: its data marks time passing on the simulator's loop
      local other = authed_client()
      other.send('{"action":"subscribe","trades":["MSFT"]}')
      local function other_gets(n)
        local have = #other.items
        other.wait_item(n .. " more items", function() return #other.items >= have + n end)
      end
      other_gets(20)
      assert.are.equal(2, #c.items)   -- connected, authenticated: no data without a subscription
      c.send('{"action":"subscribe","quotes":["AAPL"]}')
      c.wait_item("a quote", is_T("q"))
      c.send('{"action":"unsubscribe","quotes":["AAPL"]}')
      local _, at = c.wait_item("subscription", function(it)
        return it.T == "subscription" and #it.quotes == 0
      end)
      other_gets(20)
      assert.are.equal(at, #c.items)
    end)

  it("expands the * wildcard to the simulator's symbols", function()
    start({ rate = 200, symbols = { "AAA", "BBB" } })
    local c = authed_client()
    c.send('{"action":"subscribe","trades":["*"]}')
    local _, at = c.wait_item("subscription", is_T("subscription"))
    wait_for("both symbols", function()
      return c.find(function(it)
        return it.S == "AAA"
      end, at) and c.find(function(it)
        return it.S == "BBB"
      end, at)
    end)
    for i = at + 1, #c.items do
      assert.are.equal("t", c.items[i].T)
      assert.is_true(c.items[i].S == "AAA" or c.items[i].S == "BBB")
    end
  end)

  it("sends bars every bars_every seconds for the bars symbols", function()
    start({ rate = 0, bars_every = 0.2 })
    local c = authed_client()
    c.send('{"action":"subscribe","bars":["SPY","QQQ"]}')
    local _, at = c.wait_item("subscription", is_T("subscription"))
    wait_for("two bar rounds", function()
      local n = 0
      for i = at + 1, #c.items do
        if c.items[i].T == "b" then
          n = n + 1
        end
      end
      return n >= 4
    end)
    local stamps = {}
    for i = at + 1, #c.items do
      local b = c.items[i]
      assert.are.equal("b", b.T)
      assert.is_nil(stamps[b.S .. b.t], "one bar per symbol and period")
      stamps[b.S .. b.t] = true
      assert.is_true(b.S == "SPY" or b.S == "QQQ")
      assert.is_true(b.l <= b.o and b.o <= b.h and b.l <= b.c and b.c <= b.h)
      assert.is_true(b.v > 0)
      assert.is_truthy(b.t:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$")
        or b.t:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.[0-9]00000000Z$"), b.t)
    end
  end)

  it("never sends faster than the rate: n messages take at least (n - 1) / rate seconds", function()
    local rate, n = 100, 100
    start({ rate = rate })
    local c = authed_client()
    local t0 = reactor.now()   -- before the subscription: the simulator's credit starts after it
    c.send('{"action":"subscribe","quotes":["AAPL"]}')
    c.wait_item("the subscription", is_T("subscription"))
    local from = #c.frames
    wait_for(n .. " data messages", function() return #c.frames - from >= n end, 10)
    local elapsed = reactor.now() - t0
    assert(elapsed >= (n - 1) / rate, string.format("%d messages in %.3fs at rate %d", n, elapsed, rate))
  end)

  it("is deterministic for a seed", function()
    local function items_for(seed)
      start({ rate = 200, seed = seed })
      local c = authed_client()
      c.send('{"action":"subscribe","trades":["AAPL","MSFT"],"quotes":["AAPL","NVDA"]}')
      local _, at = c.wait_item("subscription", is_T("subscription"))
      wait_for("20 items", function()
        return #c.items - at >= 20
      end)
      local out = {}
      for i = at + 1, at + 20 do
        local it = c.items[i]
        it.t = nil
        out[#out + 1] = it
      end
      sim:stop()
      return out
    end
    local a, b, other = items_for(7), items_for(7), items_for(8)
    assert.are.same(a, b)
    assert.are_not.same(a, other)
  end)
end)

describe("simulator faults", function()
  it("drop_all closes every client with the given code", function()
    start({ rate = 20 })
    local a, b = authed_client(), connected_client()
    assert.are.equal(2, sim:stats().clients)
    assert.are.equal(2, sim:drop_all(1011, "fault test"))
    wait_for("both closed", function()
      return a.closed and b.closed
    end)
    assert.are.same({ code = 1011, reason = "fault test" }, a.closed)
    assert.are.same({ code = 1011, reason = "fault test" }, b.closed)
    assert.are.equal(0, sim:stats().clients)
    assert.are.equal(0, sim:stats().authenticated)
    -- new clients are served as before
    authed_client()
  end)

  it("stop closes clients and serves nobody; restart serves again on the same port", function()
    local port = start({ rate = 20 })
    local a = authed_client()
    sim:stop()
    wait_for("closed by stop", function()
      return a.closed ~= nil
    end)
    assert.is_false(sim:stats().listening)
    local refused = client(port)
    wait_for("refused", function()
      return refused.closed ~= nil
    end)
    assert.is_nil(refused.find(is_msg("connected")))
    -- the listener is closed, not just deaf: the TCP connection itself is refused
    assert.are.equal(-1, refused.closed.code)
    assert.matches("connect", refused.closed.reason)
    assert.are.equal(port, sim:restart())
    assert.are.equal(port, sim.port)
    local c = connected_client(port)
    c.send(AUTH)
    c.wait_item("authenticated", is_msg("authenticated"))
    c.send('{"action":"subscribe","trades":["AAPL"]}')
    c.wait_item("a trade", is_T("t"))
    -- restart drops the clients of the last run too
    assert.are.equal(port, sim:restart())
    wait_for("closed by restart", function()
      return c.closed ~= nil
    end)
    connected_client(port)
  end)

  it("keeps trade ids increasing across reconnects", function()
    start({ rate = 200 })
    local a = authed_client()
    a.send('{"action":"subscribe","trades":["AAPL"]}')
    local t1 = a.wait_item("a trade", is_T("t"))
    sim:drop_all()
    wait_for("closed", function()
      return a.closed ~= nil
    end)
    local b = authed_client()
    b.send('{"action":"subscribe","trades":["AAPL"]}')
    local t2 = b.wait_item("a trade", is_T("t"))
    assert.is_true(t2.i > t1.i)
  end)
end)

describe("feedhost simulate", function()
  it("rejects unknown options with exit 2", function()
    local saved = io.stderr
    local lines = {}
    io.stderr = { write = function(_, ...)
      for _, s in ipairs({ ... }) do
        lines[#lines + 1] = s
      end
    end }
    local rc = require("feedhost.cli").main({ "simulate", "--bogus" })
    io.stderr = saved
    assert.are.equal(2, rc)
    assert.is_truthy(table.concat(lines):find("unknown option --bogus", 1, true))
  end)

  it("prints the URL, serves clients and exits 0 on SIGTERM", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir) == 0)
    local lua = "package.cpath='" .. (os.getenv("FEEDHOST_BUILD") or "build")
      .. "/lua/?.so;'..package.cpath; package.path='lua/?.lua;lua/?/init.lua;'..package.path;"
      .. " require('feedhost.core'); os.exit(require('feedhost.cli').main("
      .. "{'simulate','--port','0','--rate','5','--log-level','error'}))"
    local script = "(luajit -e \"" .. lua .. "\" > " .. dir .. "/out & echo $! > " .. dir
      .. "/pid; wait $!; echo $? > " .. dir .. "/rc) >/dev/null 2>&1 &"
    assert(os.execute("sh -c '" .. script:gsub("'", "'\\''") .. "'") == 0)
    local function slurp(name)
      local f = io.open(dir .. "/" .. name)
      if not f then
        return nil
      end
      local text = f:read("*a")
      f:close()
      return text
    end
    local port
    wait_for("the URL line", function()
      port = (slurp("out") or ""):match("^simulator listening on ws://127%.0%.0%.1:(%d+)/v2/iex\n")
      return port ~= nil
    end)
    local c = connected_client(tonumber(port))
    c.send(AUTH)
    c.wait_item("authenticated", is_msg("authenticated"))
    wait_for("the pid", function()
      return (slurp("pid") or ""):match("%d+\n") ~= nil
    end)
    local pid = slurp("pid"):match("%d+")
    assert(os.execute("kill -TERM " .. pid) == 0)
    wait_for("exit", function()
      return (slurp("rc") or ""):match("%d+\n") ~= nil and c.closed ~= nil
    end)
    assert.are.equal("0", slurp("rc"):match("%d+"))
    assert.are.equal(1001, c.closed.code)
    os.execute("rm -rf " .. dir)
  end)
end)

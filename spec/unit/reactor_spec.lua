-- feedhost.runtime.reactor: every callback protected on its own. A timer or a handler that raises
-- is counted and logged; the other timers, the other events and the connection go on.
require("feedhost.core")
local ffi = require("ffi")
local reactor = require("feedhost.runtime.reactor")
local logmod = require("feedhost.util.log")

pcall(ffi.cdef, "int poll(void *fds, unsigned long n, int timeout_ms);")
-- blocks the thread (no step): timers fall due meanwhile and run together on the next step
local function block(ms)
  ffi.C.poll(nil, 0, ms)
end

local function wait(R, cond, secs)
  local deadline = reactor.now() + (secs or 5)
  while reactor.now() < deadline do
    if cond() then
      return true
    end
    R:step(10)
  end
  return cond()
end

describe("reactor", function()
  local R, lines
  before_each(function()
    lines = {}
    R = assert(reactor.new({ log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end }) }))
  end)
  after_each(function()
    R:free()
  end)

  it("a raising timer leaves the other timers running, and itself keeps its schedule", function()
    local raised, ticks, once = 0, 0, 0
    R:every(0.01, function()
      raised = raised + 1
      error("timer bug")
    end)
    R:every(0.01, function() ticks = ticks + 1 end)
    R:after(0.03, function() once = once + 1 end)
    assert.is_true(wait(R, function() return ticks >= 10 and once == 1 end, 3))
    assert.is_true(raised >= 9)
    assert.are.equal(raised, R.callback_errors)
    assert.matches("timer failed: .*timer bug", table.concat(lines, "\n"))
  end)

  it("runs timers in due order; a cancelled one never runs", function()
    local order = {}
    R:after(0.03, function() order[#order + 1] = "c" end)
    R:after(0.01, function() order[#order + 1] = "a" end)
    local dead = R:after(0.02, function() order[#order + 1] = "x" end)
    R:after(0.02, function() order[#order + 1] = "b" end)
    dead:cancel()
    assert.is_true(wait(R, function() return #order == 3 end, 2))
    assert.are.same({ "a", "b", "c" }, order)
  end)

  it("a timer cancelled by another one due in the same step never runs", function()
    local ran = {}
    local victim, ticker
    R:after(0.01, function()
      ran[#ran + 1] = "killer"
      victim:cancel()
      ticker:cancel()
    end)
    victim = R:after(0.01, function() ran[#ran + 1] = "victim" end)
    ticker = R:every(0.01, function() ran[#ran + 1] = "ticker" end)
    block(30)   -- all three are due now: one step runs them in order
    R:step(0)
    assert.are.same({ "killer" }, ran)
    block(30)
    R:step(0)
    assert.are.same({ "killer" }, ran)
  end)

  it("a handler that raises on an event loses neither the connection nor the next events", function()
    local server_got = {}
    local acceptor = {}
    function acceptor:on_accept(id)
      return { on_frames = function(_, _, b)
        for i = 0, b.n - 1 do
          server_got[#server_got + 1] = ffi.string(b.buf + b.frames[i].off, b.frames[i].len)
        end
      end }
    end
    local _, port = assert(R:listen("ws-server", { host = "127.0.0.1", port = 0 }, acceptor))
    local got, opened, closed = {}, false, false
    local client = {
      on_open = function() opened = true end,
      on_frames = function(_, _, b)
        for i = 0, b.n - 1 do
          local text = ffi.string(b.buf + b.frames[i].off, b.frames[i].len)
          got[#got + 1] = text
          if text == "boom" then
            error("handler bug")
          end
        end
      end,
      on_close = function() closed = true end,
    }
    local id = assert(R:open("ws", { host = "127.0.0.1", port = port, path = "/" }, client))
    assert.is_true(wait(R, function() return opened end))
    -- the server echoes nothing: it sends what the test asks, through its own connection
    local sid
    for k in pairs(R.handlers) do
      if k ~= id then
        sid = k
      end
    end
    assert(R:send(sid, "boom"))
    assert.is_true(wait(R, function() return #got == 1 end))
    assert(R:send(sid, "after"))
    assert(R:send(id, "still here"))
    assert.is_true(wait(R, function() return #got == 2 and #server_got == 1 end))
    assert.are.same({ "boom", "after" }, got)
    assert.are.same({ "still here" }, server_got)
    assert.is_false(closed)
    assert.are.equal(1, R.callback_errors)
    assert.matches("on_frames failed: .*handler bug", table.concat(lines, "\n"))
  end)

  it("a full send queue refuses a message and counts it; what it took arrives, in order", function()
    local got = {}
    local acceptor = {}
    function acceptor:on_accept()
      return { on_frames = function(_, _, b)
        for i = 0, b.n - 1 do
          got[#got + 1] = tonumber(ffi.string(b.buf + b.frames[i].off, b.frames[i].len))
        end
      end }
    end
    local _, port = assert(R:listen("ws-server", { host = "127.0.0.1", port = 0 }, acceptor))
    local opened = false
    local id = assert(R:open("ws", { host = "127.0.0.1", port = port, path = "/" },
      { on_open = function() opened = true end }))
    assert.is_true(wait(R, function() return opened end))
    -- no step in between: nothing is written, the queue (4096 messages) fills
    local refused, last_ok = 0, 0
    for i = 1, 4096 + 50 do
      local ok, err = R:send(id, tostring(i))
      if ok then
        last_ok = i
      else
        refused = refused + 1
        assert.are.equal("queue full", err)
      end
    end
    assert.are.equal(50, refused)
    assert.are.equal(4096, last_ok)
    assert.are.equal(50, R:stats(id).out_dropped)
    assert.is_true(wait(R, function() return #got >= 4096 end, 5))
    for i = 1, 4096 do
      assert(got[i] == i, "message " .. i .. " arrived as " .. tostring(got[i]))
    end
    assert(R:send(id, "4097"))   -- drained: room again
  end)

  it("closing a listener frees its port: a new listener takes it, clients are refused meanwhile", function()
    local lid, port = assert(R:listen("ws-server", { host = "127.0.0.1", port = 0 }, {}))
    assert.is_nil((R:listen("ws-server", { host = "127.0.0.1", port = port }, {})))
    assert.is_true(R:close(lid))
    local err
    R:open("ws", { host = "127.0.0.1", port = port, path = "/" }, {
      on_error = function(_, _, code, status, why) err = why end })
    assert.is_true(wait(R, function() return err ~= nil end))
    local lid2, port2 = assert(R:listen("ws-server", { host = "127.0.0.1", port = port }, {}))
    assert.are.equal(port, port2)
    assert.are_not.equal(lid, lid2)
  end)
end)

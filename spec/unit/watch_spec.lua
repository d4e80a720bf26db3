-- Time budgets for spec code (feedhost.sys.watch, host/lua/watchdog.c). Code LuaJIT interprets
-- is interrupted in place: an error at its key path, counted, and the host goes on. A loop
-- LuaJIT compiled runs no hooks: the watchdog ends the process, naming what was running.
require("feedhost.core")
local reactor = require("feedhost.runtime.reactor")
local logmod = require("feedhost.util.log")
local specmod = require("feedhost.spec")
local sys = require("feedhost.sys.ffi")
local it_ = require("spec.helpers.integration")
local write = it_.write

local BIN = os.getenv("FEEDHOST_BIN") or "./build/feedhost"

local function run(cmd)
  local out = os.tmpname()
  local t0 = reactor.now()
  local rc = os.execute(cmd .. " >" .. out .. " 2>&1")
  rc = rc > 255 and math.floor(rc / 256) or rc   -- LuaJIT gives the wait status
  local f = io.open(out)
  local text = f:read("*a")
  f:close()
  os.remove(out)
  return rc, text, reactor.now() - t0
end

describe("time budgets", function()
  after_each(it_.cleanup)

  it("a timer running an interpreted endless loop is interrupted; the other timers go on", function()
    local lines = {}
    local R = assert(reactor.new({ budget = 0.2,
      log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end }) }))
    local spin = function() local i = 0 while true do i = i + 1 end end
    jit.off(spin)
    local ticks = 0
    R:after(0.01, spin)
    R:every(0.01, function() ticks = ticks + 1 end)
    local deadline = reactor.now() + 3
    while reactor.now() < deadline and ticks < 20 do
      R:step(10)
    end
    R:free()
    assert.is_true(ticks >= 20)
    assert.are.equal(1, R.callback_errors)
    assert.matches("timer failed: .*budget: spec code ran longer than 0.2s", table.concat(lines, "\n"))
  end)

  it("a converter running an endless loop is stopped at its key path; the next batch converts", function()
    local spin = function(ctx)
      if ctx.data.p == 2 then
        local i = 0
        while true do i = i + 1 end
      end
      return ctx.data.p
    end
    jit.off(spin)
    local spec = { name = "t", streaming = { connections = { c = {
      url = "ws://127.0.0.1:1/", streams = { "data" },
      converters = { data = { { fields = { p = { source = spin } } } } },
    } } } }
    local got = {}
    local compiled = assert(specmod.compile({ file = "t.lua", dir = ".", spec = spec },
      { emit = function(r) got[#got + 1] = r.p end }))
    local capture = {}
    for _, p in ipairs({ 1, 2, 3 }) do
      capture[#capture + 1] = '{"connection":"c","text":"{\\"p\\":' .. p .. '}"}'
    end
    local replay = require("feedhost.runtime.replay")
    -- one batch per line: a budget of 0.2 s per batch
    local sum = replay.run(compiled, table.concat(capture, "\n"), { budget = 0.2 })
    local st = compiled.connections.c.pipeline.stats
    assert.are.equal(3, sum.frames, require("feedhost.util.json").encode(st))
    assert.are.equal(1, st.error_kinds.budget)
    assert.are.equal(1, st.error_paths["converters.data[1].fields.p"])
    -- the frames after the stuck one in the same batch are dropped and counted
    assert.are.same({ 1 }, got)
    assert.are.equal(1, st.skipped)
  end)

  it("a compiled endless loop ends the command with a message naming the key path", function()
    local dir = it_.tmpdir()
    write(dir .. "/s.lua", [[
return { name = "loopy", streaming = { connections = { feed = {
  url = "ws://127.0.0.1:1/", streams = { "data" },
  converters = { data = { { fields = { q = { source = function(ctx)
    while ctx.data.p == 2 do end
    return 1
  end } } } } },
} } } }
]])
    write(dir .. "/c.ndjson", '{"connection":"feed","text":"{\\"p\\":1}"}\n{"connection":"feed","text":"{\\"p\\":2}"}\n')
    local rc, text, secs = run("timeout 20 " .. BIN .. " replay " .. dir .. "/s.lua " .. dir .. "/c.ndjson")
    assert.are.equal(1, rc)
    assert.is_true(secs < 5, "took " .. secs .. "s")
    assert.matches("spec code did not return within 2.0s", text)
    assert.matches("last entered: feed: converters.data%[1%].fields.q.source", text)
  end)

  it("a spec file that never finishes loading is stopped", function()
    local path = write(it_.tmpdir() .. "/s.lua", "while true do end\nreturn {}\n")
    local rc, text, secs = run("timeout 20 " .. BIN .. " check " .. path)
    assert.are.equal(1, rc)
    assert.is_true(secs < 10, "took " .. secs .. "s")
    assert.matches("last entered: loading", text)
  end)

  it("the watch API takes an interrupt once and gives a fresh budget", function()
    local watch = require("feedhost.sys.watch")
    local w = watch.new(nil, 0.1)
    local spin = function() local i = 0 while true do i = i + 1 end end
    jit.off(spin)
    watch.enter(w)
    local ok, err = pcall(spin)
    assert.is_false(ok)
    assert.is_true(watch.is_budget(err))
    watch.taken()
    assert.are.equal(0, w.fired)
    assert.is_true(w.deadline > sys.api.clock_ns(sys.C.FH_CLOCK_MONOTONIC))
    watch.leave(w)
    assert.are.equal(0, tonumber(w.deadline))
  end)

  it("a watch that outlives its loop stops looking at it (the collector frees them in any order)", function()
    local watch = require("feedhost.sys.watch")
    local api = sys.api
    local lp = api.loop_new(require("ffi").new("char[256]"))
    assert.are.equal(0, api.loop_signals(lp, 1))
    local w = watch.new(lp, 0.1)
    api.loop_free(lp)   -- first, as lua_close may do
    -- the watchdog looks at the watch every tick and interrupts the spin past the deadline; a look
    -- at the freed loop on the way is a use after free, which the ASan build reports
    local spin = function() local i = 0 while true do i = i + 1 end end
    jit.off(spin)
    watch.enter(w)
    local ok, err = pcall(spin)
    watch.taken()
    watch.leave(w)
    assert.is_false(ok)
    assert.is_true(watch.is_budget(err))
  end)
end)

-- Spec code runs confined: a spec file, its functions and hooks, registry modules and
-- expressions reach the safe library and files beside the spec, never io, os.execute, load,
-- debug, ffi, arbitrary require or the host's own tables.
require("feedhost.core")
local specmod = require("feedhost.spec")
local feedhost = require("feedhost")

local dir

local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end

-- a minimal spec whose data converter has `fields`, and `top` code before the return
local function spec_text(top, fields, extra)
  return (top or "") .. [[
return {
  name = "box",
  streaming = { connections = { feed = {
    url = "ws://127.0.0.1:1/",
    streams = { "data" },
    converters = { data = { { fields = ]] .. fields .. [[ } } },
    ]] .. (extra or "") .. [[
  } } },
}
]]
end

local function load_text(text, opts)
  return specmod.load(write("s.lua", text), opts)
end

before_each(function()
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir) == 0)
end)

after_each(function()
  os.execute("rm -rf " .. dir)
end)

describe("spec code is confined", function()
  it("os.execute, io, load and debug are refused while the spec file runs, with a clear message", function()
    for _, code in ipairs({ "os.execute('touch " .. "MARK')", "io.open('/etc/passwd')",
      "loadstring('return 1')()", "debug.getinfo(1)", "require('ffi')", "dofile('/dev/null')" }) do
      local marker = dir .. "/MARK"
      local loaded, errs = load_text(spec_text(code:gsub("MARK", marker) .. "\n", "{ p = { source = 'data.p' } }"))
      assert.is_nil(loaded, code)
      local msg = errs[1].msg
      local want = code:find("require", 1, true) and "may require modules beside the spec"
        or "not available to spec code"
      assert.is_truthy(msg:find(want, 1, true), code .. ": " .. msg)
      assert.is_nil(io.open(marker), "the side effect happened: " .. code)
    end
  end)

  it("require refuses what is not beside the spec, loads what is, and gives bit and feedhost.bytes", function()
    local _, errs = load_text(spec_text("local s = require('socket')\n", "{ p = { source = 'data.p' } }"))
    assert.matches("spec code may require modules beside the spec", errs[1].msg)
    assert(os.execute("mkdir -p " .. dir .. "/registry") == 0)
    write("registry/mine.lua", "local bit = require('bit'); local bytes = require('feedhost.bytes')\n"
      .. "return { twice = function(x) return bit.lshift(x, 1) end, hex = bytes.to_hex }\n")
    local loaded = assert(load_text(spec_text("local reg = require('registry.mine')\n",
      "{ p = { source = 'data.p' } }", "")))
    assert.is_table(loaded.spec)
  end)

  it("read_file reads beside the spec only", function()
    write("rows.csv", "symbol\nAAPL\n")
    local loaded = assert(load_text(spec_text("local rows = read_file('rows.csv')\nassert(rows:find('AAPL'))\n",
      "{ p = { source = 'data.p' } }")))
    assert.is_table(loaded.spec)
    for _, bad in ipairs({ "/etc/passwd", "../x.csv", "a/../../b" }) do
      local _, errs = load_text(spec_text("read_file('" .. bad .. "')\n", "{ p = { source = 'data.p' } }"))
      assert.matches("only paths beside the spec", errs[1].msg)
    end
  end)

  it("the host's string library cannot be changed from a spec function or an expression", function()
    local fmt = string.format
    local _, errs = load_text(spec_text("string.format = nil\n", "{ p = { source = 'data.p' } }"))
    assert.matches("string is read%-only", errs[1].msg)
    -- the string metatable is out of reach: spec code's getmetatable('') is nil
    local loaded, errs2 = load_text(spec_text("getmetatable('').__index.format = nil\n", "{ p = { source = 'data.p' } }"))
    assert.is_nil(loaded, "the spec reached the string metatable")
    assert.are.equal(1, #errs2)
    assert.matches("s%.lua:1: attempt to index a nil value", errs2[1].msg)
    assert.are.equal(fmt, string.format)
    assert(load_text(spec_text("assert(getmetatable('') == nil)\n", "{ p = { source = 'data.p' } }")))
    -- an expression with a function literal that tries the same at run time
    local got = {}
    local spec = assert(feedhost.load({ spec = write("e.lua", spec_text(nil,
      "{ p = { source = \"(function() string.format = nil; return 1 end)()\" } }")),
      on_record = function(r) got[#got + 1] = r end }))
    spec:replay('{"connection":"feed","text":"{\\"p\\":1}"}\n')
    assert.are.equal(0, #got)
    assert.are.equal(1, spec:pipeline("feed").stats.errors)
    assert.are.equal(fmt, string.format)
  end)

  it("the logger spec code sees has its levels and none of its state", function()
    local log = require("feedhost.util.log").new({ level = "debug", sink = function() end })
    log:add_secret("top-secret-value")
    local seen
    local spec = assert(feedhost.load({ spec = write("l.lua", spec_text(nil,
      "{ p = { source = function(ctx) seen = ctx.broker.logger; return 1 end } }")), log = log,
      on_record = function() end }))
    -- the function's `seen` is the spec's own global: read it through the function's env
    spec:replay('{"connection":"feed","text":"{}"}\n')
    local env = getfenv(spec.loaded.spec.streaming.connections.feed.converters.data[1].fields.p.source)
    local logger = env.seen
    assert.is_function(logger.info)
    assert.is_nil(rawget(logger, "_s"))
    assert.is_nil(logger._s)
  end)

  it("a trusted spec runs with the full environment, and the host says so", function()
    local lines = {}
    local log = require("feedhost.util.log").new({ level = "debug", sink = function(l) lines[#lines + 1] = l end })
    local spec = assert(feedhost.load({ spec = write("t.lua", spec_text("local home = os.getenv('HOME')\n",
      "{ p = { source = 'data.p' } }")), trusted = true, log = log }))
    assert.is_table(spec)
    assert.matches("unconfined", table.concat(lines, "\n"))
  end)
end)

-- What hot reload compares: the canonical serialization of a connection's parts (what they are,
-- not which tables or closures hold them).
require("feedhost.core")
local reload = require("feedhost.runtime.reload")
local canon = reload.canon

describe("reload.canon", function()
  it("is equal for equal data, whatever the tables and the order keys were set in", function()
    local a = { url = "ws://x", options = { b = 2, a = 1, list = { 1, "two", true } } }
    local b = { options = { list = { 1, "two", true } } }
    b.options.a, b.options.b, b.url = 1, 2, "ws://x"
    assert.are.equal(canon(a), canon(b))
    assert.are_not.equal(canon(a), canon({ url = "ws://x", options = { b = 2, a = 1, list = { 1, "two" } } }))
    assert.are_not.equal(canon({ 1 }), canon({ "1" }))
    assert.are_not.equal(canon({ x = 0.1 }), canon({ x = 0.1000000000000001 }))
  end)

  it("compares functions by their code, not the closures' identities", function()
    local function make(k)
      return function(ctx) return ctx.data.p * 2 end, function(ctx) return ctx.data.p * k end
    end
    local f1, g1 = make(1)
    local f2, g2 = make(2)
    assert.are_not.equal(f1, f2)
    assert.are.equal(canon({ custom = f1 }), canon({ custom = f2 }))
    assert.are.equal(canon(g1), canon(g2))   -- the same code (its upvalues are not compared)
    assert.are_not.equal(canon(f1), canon(g1))
    -- the same function text loaded twice, as a reload loads a spec afresh
    local src = "return function(ctx) return ctx.data.p end"
    assert.are.equal(canon(loadstring(src)()), canon(loadstring(src)()))
    assert.are_not.equal(canon(loadstring(src)()), canon(loadstring(src:gsub("%.p", ".q"))()))
  end)

  it("takes int64 values, booleans, cycles and shared tables", function()
    assert.are.equal(canon({ ts = 1700000000000000000LL }), canon({ ts = 1700000000000000000LL }))
    assert.are_not.equal(canon({ ts = 1700000000000000000LL }), canon({ ts = 1700000000000000001LL }))
    assert.are_not.equal(canon({ v = true }), canon({ v = "true" }))
    local cyc = { name = "a" }
    cyc.self = cyc
    assert.matches("<cycle>", canon(cyc))
    local shared = { 1, 2 }
    assert.are.equal(canon({ a = shared, b = shared }), canon({ a = { 1, 2 }, b = { 1, 2 } }))
  end)
end)

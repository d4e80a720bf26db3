local mappings = require "feedhost.data.mappings"

local function compile_ok(spec)
  local m, errs = mappings.compile(spec)
  assert.is_nil(errs and mappings.format_errors(errs))
  return m
end

local ORDER_STATUS = {
  order_status = {
    map = {
      open = { "new", "accepted", "partially_filled" },
      complete = "filled",
      cancelled = { "canceled", "expired" },
      rejected = "rejected",
    },
    default = "open",
  },
  side = { map = { buy = { "B", "BUY", 1 }, sell = { "S", "SELL", 2 } } },
}

describe("feedhost.data.mappings", function()
  local m
  before_each(function() m = compile_ok(ORDER_STATUS) end)

  it("maps single values and lists of broker values to the canonical value", function()
    local os_ = m.order_status
    assert.equal("complete", os_("filled"))
    assert.equal("open", os_("new"))
    assert.equal("open", os_("partially_filled"))
    assert.equal("cancelled", os_("expired"))
    assert.equal("cancelled", os_("canceled"))
    assert.equal("rejected", os_("rejected"))
  end)

  it("offers to_canonical, the to_blueshift alias and to_broker", function()
    local os_ = m.order_status
    assert.equal("complete", os_.to_canonical("filled"))
    assert.equal("cancelled", os_.to_blueshift("expired"))
    assert.equal("new", os_.to_broker("open"))
    assert.equal("filled", os_.to_broker("complete"))
    assert.equal("B", m.side.to_broker("buy"))
    assert.equal(1, compile_ok({ s = { map = { one = { 1, "1.0" } } } }).s.to_broker("one"))
    local ok, e = pcall(os_.to_broker, "pending")
    assert.is_false(ok)
    assert.matches("mappings.order_status: unknown canonical value 'pending'", e, 1, true)
  end)

  it("returns the default for an unknown value", function()
    assert.equal("open", m.order_status("weird"))
    assert.equal("open", m.order_status(nil))
    assert.equal("open", m.order_status.to_canonical(42))
  end)

  it("raises on an unknown value without a default, naming the mapping, at the caller", function()
    -- (not tail calls, so the calling frame is still there for the position)
    local ok, e = pcall(function() local r = m.side("HOLD"); return r end)
    assert.is_false(ok)
    assert.matches("mappings.side: unknown value 'HOLD'", e, 1, true)
    -- level 2: the position is the caller's line in this file, not mappings.lua
    assert.matches("mappings_spec.lua:%d+: mappings.side", e)
    ok, e = pcall(function() local r = m.side.to_canonical("xyz"); return r end)
    assert.is_false(ok)
    assert.matches("mappings_spec.lua:%d+: mappings.side: unknown value 'xyz'", e)
    ok, e = pcall(function() return m.side(nil) end)
    assert.matches("unknown value nil", e, 1, true)
  end)

  it("matches case-insensitively after an exact match", function()
    assert.equal("complete", m.order_status("FILLED"))
    assert.equal("cancelled", m.order_status("Canceled"))
    assert.equal("sell", m.side("sell"))
    assert.equal("buy", m.side("Buy"))
    local cs = compile_ok { c = { map = { upper = "X", lower = "x" } } }.c
    assert.equal("upper", cs("X")) -- exact match first
    assert.equal("lower", cs("x"))
  end)

  it("leaves a value ambiguous without case out of the case-insensitive match", function()
    local cs = compile_ok { c = { map = { a = "Ab", b = "aB" } } }.c
    assert.equal("a", cs("Ab"))
    assert.equal("b", cs("aB"))
    assert.has_error(function() cs("AB") end)
  end)

  it("compares broker values as strings (numbers and numeric strings)", function()
    assert.equal("buy", m.side(1))
    assert.equal("buy", m.side("1"))
    assert.equal("sell", m.side(2.0))
    local codes = compile_ok { s = { map = { open = { "0", "1" }, complete = 2 } } }.s
    assert.equal("open", codes(0))
    assert.equal("open", codes(1))
    assert.equal("complete", codes("2"))
    assert.equal("complete", codes(2))
  end)

  it("reports a broker value claimed by two canonical values, naming the path", function()
    local res, errs = mappings.compile {
      order_status = { map = { complete = "filled", open = { "new", "filled" } } },
    }
    assert.is_nil(res)
    assert.equal(1, #errs)
    assert.equal("mappings.order_status.map", errs[1].path)
    assert.equal("'filled' is mapped to both complete and open", errs[1].msg)
    assert.equal("mappings.order_status.map: 'filled' is mapped to both complete and open",
      tostring(errs[1]))
  end)

  it("treats 2 and '2' as the same broker value for the duplicate check", function()
    local _, errs = mappings.compile({ st = { map = { a = 2, b = "2" } } }, "spec.mappings")
    assert.equal("spec.mappings.st.map: '2' is mapped to both a and b", tostring(errs[1]))
  end)

  it("reports every error at once", function()
    local res, errs = mappings.compile {
      one = { map = { a = "x", b = "x" } },
      two = { map = "nope" },
      three = { map = { a = { "ok", {} } }, defualt = "a" },
      ["x-y"] = { map = { a = {} } },
    }
    assert.is_nil(res)
    local text = mappings.format_errors(errs)
    assert.matches("mappings.one.map: 'x' is mapped to both a and b", text, 1, true)
    assert.matches("mappings.two.map: expected a table", text, 1, true)
    assert.matches("mappings.three.map.a[2]: expected a string or number broker value", text, 1, true)
    assert.matches("mappings.three.defualt: unknown key", text, 1, true)
    assert.matches('mappings["x-y"].map.a: expected a broker value or a non-empty list', text, 1, true)
    assert.equal(5, #errs)
  end)

  it("compiles nil to an empty table and rejects a non-table", function()
    assert.same({}, mappings.compile(nil))
    local res, errs = mappings.compile("x")
    assert.is_nil(res)
    assert.equal("mappings", errs[1].path)
  end)

  it("keeps the spec's default and map on the object", function()
    assert.equal("open", m.order_status.default)
    assert.equal("order_status", m.order_status.name)
    assert.equal("filled", m.order_status.map.complete)
    assert.is_nil(m.side.default)
  end)
end)

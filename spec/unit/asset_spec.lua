local asset = require "feedhost.data.asset"
local universe = require "feedhost.data.universe"

-- runs f, expects it to raise; returns the error value
local function raises(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("feedhost.data.asset", function()
  describe("new_asset", function()
    it("defaults broker_symbol, keeps security_id a string, converts numbers", function()
      local a = asset.new_asset { symbol = "AAPL", security_id = 265598, tick_size = "0.01",
                                   lot_size = "100", strike = " 24000 ", expiry = "" }
      assert.equal("AAPL", a.broker_symbol)
      assert.equal("265598", a.security_id)
      assert.equal(0.01, a.tick_size)
      assert.equal(100, a.lot_size)
      assert.equal(24000, a.strike)
      assert.is_nil(a.expiry)
      assert.is_true(asset.is_asset(a))
      assert.equal(asset.Asset, getmetatable(a))
    end)

    it("prints as its symbol and serializes through __json", function()
      local a = asset.new_asset { symbol = "BTC-USD", broker_symbol = "XBTUSD" }
      assert.equal("BTC-USD", tostring(a))
      assert.equal("BTC-USD", getmetatable(a).__json(a))
      assert.equal("Asset", getmetatable(a).__name)
      assert.equal("XBTUSD", a.broker_symbol)
    end)

    it("keeps a non-numeric lot_size string as it is", function()
      assert.equal("n/a", asset.new_asset { symbol = "X", lot_size = "n/a" }.lot_size)
    end)

    it("formats large and int64 security ids without a fraction or suffix", function()
      assert.equal("128053508", asset.new_asset { symbol = "X", security_id = 128053508 }.security_id)
      assert.equal("9007199254740993",
        asset.new_asset { symbol = "X", security_id = 9007199254740993LL }.security_id)
      assert.equal("0", asset.format_id(-0.0))
      assert.equal("12.5", asset.format_id(12.5))
    end)

    it("requires a symbol and rejects unknown fields", function()
      assert.matches("symbol is required", raises(asset.new_asset, { name = "x" }))
      assert.matches("symbol is required", raises(asset.new_asset, { symbol = "" }))
      assert.matches("unknown field 'sym'", raises(asset.new_asset, { symbol = "A", sym = "A" }))
    end)
  end)

  describe("symbol_of", function()
    it("gives an Asset's symbol and a symbol string unchanged", function()
      assert.equal("AAPL", asset.symbol_of(asset.new_asset { symbol = "AAPL", broker_symbol = "X" }))
      assert.equal("AAPL", asset.symbol_of("AAPL"))
      local t = {}
      assert.equal(t, asset.symbol_of(t))
    end)
  end)

  describe("SymbolNotFound", function()
    it("is a table with kind and msg that prints as msg", function()
      local u = universe.new { master = { rows = { { symbol = "A" } } } }
      local ok, e = pcall(u.infer_asset, u, { symbol = "XYZ" })
      assert.is_false(ok)
      assert.equal("table", type(e))
      assert.equal("SymbolNotFound", e.kind)
      assert.equal("no asset with symbol='XYZ'", e.msg)
      assert.equal("no asset with symbol='XYZ'", tostring(e))
      assert.equal(asset.SymbolNotFound, getmetatable(e))
      assert.equal("symbol", e.key)
      assert.equal("XYZ", e.value)
      assert.is_true(asset.is_symbol_not_found(e))
    end)

    it("is_symbol_not_found is false for other errors", function()
      assert.is_false(asset.is_symbol_not_found("no asset with symbol='XYZ'"))
      assert.is_false(asset.is_symbol_not_found({ kind = "Other" }))
      assert.is_false(asset.is_symbol_not_found(nil))
    end)
  end)
end)

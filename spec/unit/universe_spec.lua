local asset = require "feedhost.data.asset"
local universe = require "feedhost.data.universe"

local FIX = "spec/fixtures/master"

-- runs f, expects it to raise; returns the error value
local raises = require("spec.helpers.unit").raises

local function kite_universe(extra)
  local opts = {
    master = {
      file = "kite_instruments.csv",
      fields = { symbol = "tradingsymbol", security_id = "instrument_token",
                 option_type = "instrument_type" },
    },
    base_dir = FIX,
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return universe.new(opts)
end

describe("feedhost.data.universe", function()
  describe("closed universe from a Kite-like CSV", function()
    local u
    before_each(function() u = kite_universe() end)

    it("maps the columns to asset fields", function()
      assert.is_true(u.closed)
      local a = u:infer_asset { symbol = "NIFTY24DEC24000CE" }
      assert.equal("12010242", a.security_id)
      assert.equal("NIFTY24DEC24000CE", a.broker_symbol)
      assert.equal("NFO", a.exchange)
      assert.equal("NIFTY", a.name)
      assert.equal(25, a.lot_size)
      assert.equal("number", type(a.lot_size))
      assert.equal(0.05, a.tick_size)
      assert.equal(24000, a.strike)
      assert.equal("2024-12-26", a.expiry)
      assert.equal("CE", a.option_type)
      assert.is_nil(a.asset_class)
    end)

    it("looks up by symbol, security_id (string or number) and broker_symbol", function()
      local a = u:infer_asset { symbol = "RELIANCE" }
      assert.equal("738561", a.security_id)
      assert.equal(a, u:infer_asset { security_id = "738561" })
      assert.equal(a, u:infer_asset { security_id = 738561 })
      assert.equal(a, u:infer_asset { broker_symbol = "RELIANCE" })
      assert.equal(a, u:get("RELIANCE"))
      assert.equal("NIFTY 50", u:infer_asset { security_id = 256265 }.symbol)
    end)

    it("finds a security_id given as int64 cdata (a binary decoder's token) by its text", function()
      local a = u:infer_asset { symbol = "RELIANCE" }
      assert.equal(a, u:infer_asset { security_id = 738561LL })
      assert.equal(a, u:infer_asset { security_id = 738561ULL })
      assert.equal(a, u:infer_fn()({ security_id = 738561LL }))
      local e = raises(u.infer_asset, u, { security_id = 999LL })
      assert.equal("no asset with security_id='999'", e.msg)
    end)

    it("keeps the first row of a duplicate symbol and counts the duplicate", function()
      local infy = u:infer_asset { symbol = "INFY" }
      assert.equal("NSE", infy.exchange)
      assert.equal("408065", infy.security_id)
      -- the BSE row is still reachable by its own security_id
      local bse = u:infer_asset { security_id = "128053508" }
      assert.equal("BSE", bse.exchange)
      assert.equal("INFY", bse.symbol)
      assert.equal(1, u.stats.duplicates)
      assert.equal(1, u.stats.duplicate_keys.symbol)
      assert.equal(1, u.stats.duplicate_keys.broker_symbol)
      assert.equal(0, u.stats.duplicate_keys.security_id)
      assert.equal(7, u:count())
      assert.equal(7, u.stats.rows)
    end)

    it("raises SymbolNotFound for unknown keys of every kind", function()
      for _, q in ipairs { { symbol = "TCS" }, { security_id = "1" }, { security_id = 1 },
                           { broker_symbol = "TCS" } } do
        local ok, e = pcall(u.infer_asset, u, q)
        assert.is_false(ok)
        assert.is_true(asset.is_symbol_not_found(e))
      end
      local _, e = pcall(u.infer_asset, u, { security_id = 999 })
      assert.equal("no asset with security_id='999'", e.msg)
      assert.is_nil(u:get("TCS"))
      assert.equal(7, u:count()) -- nothing was created
    end)

    it("matches symbols exactly (no case folding)", function()
      assert.is_true(asset.is_symbol_not_found(raises(u.infer_asset, u, { symbol = "infy" })))
    end)

    it("rejects a call without a key, with an unknown key, or with two keys (plain errors)", function()
      local e = raises(u.infer_asset, u, {})
      assert.equal("string", type(e))
      assert.matches("infer_asset: give one of symbol, security_id, broker_symbol", e, 1, true)
      e = raises(u.infer_asset, u, { sym = "INFY" })
      assert.equal("string", type(e))
      assert.matches("unknown key 'sym'", e, 1, true)
      e = raises(u.infer_asset, u, { symbol = "INFY", security_id = "408065" })
      assert.equal("string", type(e))
      assert.matches("give exactly one of", e, 1, true)
      e = raises(u.infer_asset, u, "INFY")
      assert.equal("string", type(e))
    end)

    it("infer_fn gives a plain function doing the same lookup", function()
      local infer = u:infer_fn()
      assert.equal(u:get("RELIANCE"), infer { security_id = 738561 })
      assert.is_true(asset.is_symbol_not_found(raises(infer, { symbol = "NOPE" })))
    end)

    it("resolve returns assets in order, deduplicated, and names every unknown symbol", function()
      local list = u:resolve { "RELIANCE", " INFY", "RELIANCE", "" }
      assert.equal(2, #list)
      assert.equal("RELIANCE", list[1].symbol)
      assert.equal("INFY", list[2].symbol)
      local e = raises(u.resolve, u, { "INFY", "TCS", "WIPRO" })
      assert.is_true(asset.is_symbol_not_found(e))
      assert.matches("'TCS'", e.msg, 1, true)
      assert.matches("'WIPRO'", e.msg, 1, true)
      assert.is_nil(e.msg:find("INFY", 1, true))
      assert.equal("no asset with symbol='TCS'", raises(u.resolve, u, { "TCS" }).msg)
    end)

    it("validates opts.assets against the master data", function()
      local e = raises(kite_universe, { assets = { "INFY", "NOPE" } })
      assert.is_true(asset.is_symbol_not_found(e))
      assert.matches("NOPE", e.msg)
    end)

    it("applies the filter to raw rows before indexing", function()
      local f = kite_universe { filter = function(row) return row.segment == "NFO-OPT" end }
      assert.equal(2, f:count())
      assert.equal(5, f.stats.filtered)
      assert.equal("PE", f:infer_asset { symbol = "NIFTY24DEC24000PE" }.option_type)
      assert.is_true(asset.is_symbol_not_found(raises(f.infer_asset, f, { symbol = "INFY" })))
      assert.is_true(asset.is_symbol_not_found(raises(f.infer_asset, f, { security_id = 408065 })))
      assert.equal(0, f.stats.duplicates)
    end)

    it("reports an error raised by the filter with its key and row", function()
      local e = raises(kite_universe, { filter = function(row)
        if row.tradingsymbol == "RELIANCE" then error("boom", 0) end
        return true
      end })
      assert.equal("master_data.filter: row 2: boom", e)
    end)

    it("a mapped column that does not exist names the field key", function()
      local e = raises(universe.new, { base_dir = FIX, master = {
        file = "kite_instruments.csv", fields = { symbol = "trading_symbol" } } })
      assert.matches("^master_data%.fields%.symbol: no column 'trading_symbol'", e)
    end)

    it("an unknown asset field in fields is an error", function()
      local e = raises(universe.new, { master = { rows = { { symbol = "A" } },
                                                     fields = { ticker = "symbol" } } })
      assert.matches("^master_data%.fields%.ticker: not an asset field", e)
    end)
  end)

  describe("open universe (no master data)", function()
    it("creates and caches assets by symbol and broker_symbol", function()
      local u = universe.new {}
      assert.is_false(u.closed)
      assert.equal(0, u:count())
      local a = u:infer_asset { symbol = "AAPL" }
      assert.equal("AAPL", a.symbol)
      assert.equal("AAPL", a.broker_symbol)
      assert.equal(a, u:infer_asset { symbol = "AAPL" })
      assert.equal(a, u:infer_asset { broker_symbol = "AAPL" })
      local b = u:infer_asset { broker_symbol = "MSFT" }
      assert.equal("MSFT", b.symbol)
      assert.equal(b, u:infer_asset { symbol = "MSFT" })
      assert.equal(2, u:count())
      assert.equal(a, u:get("AAPL"))
      assert.is_nil(u:get("GOOG"))
    end)

    it("pre-creates opts.assets", function()
      local u = universe.new { assets = { "AAPL", "MSFT" } }
      assert.equal(2, u:count())
      local a = u:get("MSFT")
      assert.is_not_nil(a)
      assert.equal(a, u:infer_asset { symbol = "MSFT" })
      assert.equal(a, u:resolve({ "MSFT" })[1])
    end)

    it("turns numeric symbols into strings and returns the same asset", function()
      local u = universe.new {}
      local a = u:infer_asset { symbol = 1234 }
      assert.equal("1234", a.symbol)
      assert.equal(a, u:infer_asset { symbol = "1234" })
      assert.equal(a, u:infer_asset { symbol = 1234 })
      assert.equal(1, u:count())
    end)

    it("raises SymbolNotFound by security_id and for empty symbols", function()
      local u = universe.new { assets = { "AAPL" } }
      local e = raises(u.infer_asset, u, { security_id = 408065 })
      assert.is_true(asset.is_symbol_not_found(e))
      assert.matches("security_id='408065'", e.msg, 1, true)
      assert.is_true(asset.is_symbol_not_found(raises(u.infer_asset, u, { symbol = "" })))
      assert.matches("give one of", raises(u.infer_asset, u, {}), 1, true)
    end)

    it("resolve creates missing assets", function()
      local u = universe.new {}
      local list = u:resolve { "ETH-USD", "BTC-USD" }
      assert.equal("ETH-USD", list[1].symbol)
      assert.equal(2, u:count())
      assert.equal(list[2], u:infer_asset { symbol = "BTC-USD" })
    end)
  end)

  describe("field mapping", function()
    it("takes columns named like fields and applies explicit mappings", function()
      local u = universe.new { master = {
        rows = {
          { symbol = "ES", broker = "ESZ4", sid = 495512563, asset_class = "future", tick = "0.25" },
        },
        fields = { broker_symbol = "broker", security_id = "sid", tick_size = "tick" },
      } }
      local a = u:infer_asset { broker_symbol = "ESZ4" }
      assert.equal("ES", a.symbol)
      assert.equal("495512563", a.security_id)
      assert.equal("future", a.asset_class)
      assert.equal(0.25, a.tick_size)
      assert.equal(a, u:infer_asset { security_id = 495512563 })
      assert.is_true(asset.is_symbol_not_found(raises(u.infer_asset, u, { broker_symbol = "ES" })))
    end)

    it("accepts a function(row) as a field mapping", function()
      local u = universe.new { master = {
        rows = { { base = "BTC", quote = "USDT" } },
        fields = { symbol = function(r) return r.base .. "/" .. r.quote end,
                   broker_symbol = function(r) return r.base .. r.quote end },
      } }
      assert.equal("BTC/USDT", u:infer_asset { broker_symbol = "BTCUSDT" }.symbol)
    end)

    it("skips rows without a symbol and counts them", function()
      local u = universe.new { master = { file = "quoted.csv" }, base_dir = FIX }
      assert.equal(4, u:count())
      assert.equal(1, u.stats.skipped)
      assert.is_nil(u:infer_asset { symbol = "EMPTYQ" }.security_id)
    end)
  end)

  describe("hot path", function()
    it("does not allocate on a successful lookup beyond the argument table", function()
      local u = kite_universe()
      local infer = u:infer_fn()
      local syms = { "INFY", "RELIANCE", "NIFTY 50" }
      local ids = { 408065, 738561, 256265 }
      local function heap_growth(f)
        for i = 1, 2000 do f { symbol = syms[i % 3 + 1] } end -- warm up (and JIT)
        collectgarbage("collect")
        collectgarbage("stop")
        local before = collectgarbage("count")
        local n = 0
        for i = 1, 20000 do
          local a = f { symbol = syms[i % 3 + 1] }
          local b = f { security_id = ids[i % 3 + 1] }
          if a == b then n = n + 1 end
        end
        local grown = collectgarbage("count") - before
        collectgarbage("restart")
        return grown, n
      end
      -- baseline: a function that only reads the argument table (same garbage as the calls)
      local base = heap_growth(function(q) return q.symbol or q.security_id end)
      local grown, n = heap_growth(infer)
      assert.equal(20000, n)
      -- 40000 calls: one formatted id string per call would add more than 1 MB
      assert.is_true(grown <= base + 64, ("heap grew by %.0f KB (baseline %.0f KB)"):format(grown, base))
    end)
  end)
end)

local assets = require "feedhost.data.assets"

local FIX = "spec/fixtures/master"

-- runs f, expects it to raise; returns the error value
local function raises(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

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
  return assets.universe(opts)
end

describe("feedhost.data.assets", function()
  describe("new_asset", function()
    it("defaults broker_symbol, keeps security_id a string, converts numbers", function()
      local a = assets.new_asset { symbol = "AAPL", security_id = 265598, tick_size = "0.01",
                                   lot_size = "100", strike = " 24000 ", expiry = "" }
      assert.equal("AAPL", a.broker_symbol)
      assert.equal("265598", a.security_id)
      assert.equal(0.01, a.tick_size)
      assert.equal(100, a.lot_size)
      assert.equal(24000, a.strike)
      assert.is_nil(a.expiry)
      assert.is_true(assets.is_asset(a))
      assert.equal(assets.Asset, getmetatable(a))
    end)

    it("prints as its symbol and serializes through __json", function()
      local a = assets.new_asset { symbol = "BTC-USD", broker_symbol = "XBTUSD" }
      assert.equal("BTC-USD", tostring(a))
      assert.equal("BTC-USD", getmetatable(a).__json(a))
      assert.equal("Asset", getmetatable(a).__name)
      assert.equal("XBTUSD", a.broker_symbol)
    end)

    it("keeps a non-numeric lot_size string as it is", function()
      assert.equal("n/a", assets.new_asset { symbol = "X", lot_size = "n/a" }.lot_size)
    end)

    it("formats large and int64 security ids without a fraction or suffix", function()
      assert.equal("128053508", assets.new_asset { symbol = "X", security_id = 128053508 }.security_id)
      assert.equal("9007199254740993",
        assets.new_asset { symbol = "X", security_id = 9007199254740993LL }.security_id)
      assert.equal("0", assets.format_id(-0.0))
      assert.equal("12.5", assets.format_id(12.5))
    end)

    it("requires a symbol and rejects unknown fields", function()
      assert.matches("symbol is required", raises(assets.new_asset, { name = "x" }))
      assert.matches("symbol is required", raises(assets.new_asset, { symbol = "" }))
      assert.matches("unknown field 'sym'", raises(assets.new_asset, { symbol = "A", sym = "A" }))
    end)
  end)

  describe("SymbolNotFound", function()
    it("is a table with kind and msg that prints as msg", function()
      local u = assets.universe { master = { rows = { { symbol = "A" } } } }
      local ok, e = pcall(u.infer_asset, u, { symbol = "XYZ" })
      assert.is_false(ok)
      assert.equal("table", type(e))
      assert.equal("SymbolNotFound", e.kind)
      assert.equal("no asset with symbol='XYZ'", e.msg)
      assert.equal("no asset with symbol='XYZ'", tostring(e))
      assert.equal(assets.SymbolNotFound, getmetatable(e))
      assert.equal("symbol", e.key)
      assert.equal("XYZ", e.value)
      assert.is_true(assets.is_symbol_not_found(e))
    end)

    it("is_symbol_not_found is false for other errors", function()
      assert.is_false(assets.is_symbol_not_found("no asset with symbol='XYZ'"))
      assert.is_false(assets.is_symbol_not_found({ kind = "Other" }))
      assert.is_false(assets.is_symbol_not_found(nil))
    end)
  end)

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
        assert.is_true(assets.is_symbol_not_found(e))
      end
      local _, e = pcall(u.infer_asset, u, { security_id = 999 })
      assert.equal("no asset with security_id='999'", e.msg)
      assert.is_nil(u:get("TCS"))
      assert.equal(7, u:count()) -- nothing was created
    end)

    it("matches symbols exactly (no case folding)", function()
      assert.is_true(assets.is_symbol_not_found(raises(u.infer_asset, u, { symbol = "infy" })))
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
      assert.is_true(assets.is_symbol_not_found(raises(infer, { symbol = "NOPE" })))
    end)

    it("resolve returns assets in order, deduplicated, and names every unknown symbol", function()
      local list = u:resolve { "RELIANCE", " INFY", "RELIANCE", "" }
      assert.equal(2, #list)
      assert.equal("RELIANCE", list[1].symbol)
      assert.equal("INFY", list[2].symbol)
      local e = raises(u.resolve, u, { "INFY", "TCS", "WIPRO" })
      assert.is_true(assets.is_symbol_not_found(e))
      assert.matches("'TCS'", e.msg, 1, true)
      assert.matches("'WIPRO'", e.msg, 1, true)
      assert.is_nil(e.msg:find("INFY", 1, true))
      assert.equal("no asset with symbol='TCS'", raises(u.resolve, u, { "TCS" }).msg)
    end)

    it("validates opts.assets against the master data", function()
      local e = raises(kite_universe, { assets = { "INFY", "NOPE" } })
      assert.is_true(assets.is_symbol_not_found(e))
      assert.matches("NOPE", e.msg)
    end)

    it("applies the filter to raw rows before indexing", function()
      local f = kite_universe { filter = function(row) return row.segment == "NFO-OPT" end }
      assert.equal(2, f:count())
      assert.equal(5, f.stats.filtered)
      assert.equal("PE", f:infer_asset { symbol = "NIFTY24DEC24000PE" }.option_type)
      assert.is_true(assets.is_symbol_not_found(raises(f.infer_asset, f, { symbol = "INFY" })))
      assert.is_true(assets.is_symbol_not_found(raises(f.infer_asset, f, { security_id = 408065 })))
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
      local e = raises(assets.universe, { base_dir = FIX, master = {
        file = "kite_instruments.csv", fields = { symbol = "trading_symbol" } } })
      assert.matches("^master_data%.fields%.symbol: no column 'trading_symbol'", e)
    end)

    it("an unknown asset field in fields is an error", function()
      local e = raises(assets.universe, { master = { rows = { { symbol = "A" } },
                                                     fields = { ticker = "symbol" } } })
      assert.matches("^master_data%.fields%.ticker: not an asset field", e)
    end)
  end)

  describe("open universe (no master data)", function()
    it("creates and caches assets by symbol and broker_symbol", function()
      local u = assets.universe {}
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
      local u = assets.universe { assets = { "AAPL", "MSFT" } }
      assert.equal(2, u:count())
      local a = u:get("MSFT")
      assert.is_not_nil(a)
      assert.equal(a, u:infer_asset { symbol = "MSFT" })
      assert.equal(a, u:resolve({ "MSFT" })[1])
    end)

    it("turns numeric symbols into strings and returns the same asset", function()
      local u = assets.universe {}
      local a = u:infer_asset { symbol = 1234 }
      assert.equal("1234", a.symbol)
      assert.equal(a, u:infer_asset { symbol = "1234" })
      assert.equal(a, u:infer_asset { symbol = 1234 })
      assert.equal(1, u:count())
    end)

    it("raises SymbolNotFound by security_id and for empty symbols", function()
      local u = assets.universe { assets = { "AAPL" } }
      local e = raises(u.infer_asset, u, { security_id = 408065 })
      assert.is_true(assets.is_symbol_not_found(e))
      assert.matches("security_id='408065'", e.msg, 1, true)
      assert.is_true(assets.is_symbol_not_found(raises(u.infer_asset, u, { symbol = "" })))
      assert.matches("give one of", raises(u.infer_asset, u, {}), 1, true)
    end)

    it("resolve creates missing assets", function()
      local u = assets.universe {}
      local list = u:resolve { "ETH-USD", "BTC-USD" }
      assert.equal("ETH-USD", list[1].symbol)
      assert.equal(2, u:count())
      assert.equal(list[2], u:infer_asset { symbol = "BTC-USD" })
    end)
  end)

  describe("field mapping", function()
    it("takes columns named like fields and applies explicit mappings", function()
      local u = assets.universe { master = {
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
      assert.is_true(assets.is_symbol_not_found(raises(u.infer_asset, u, { broker_symbol = "ES" })))
    end)

    it("accepts a function(row) as a field mapping", function()
      local u = assets.universe { master = {
        rows = { { base = "BTC", quote = "USDT" } },
        fields = { symbol = function(r) return r.base .. "/" .. r.quote end,
                   broker_symbol = function(r) return r.base .. r.quote end },
      } }
      assert.equal("BTC/USDT", u:infer_asset { broker_symbol = "BTCUSDT" }.symbol)
    end)

    it("skips rows without a symbol and counts them", function()
      local u = assets.universe { master = { file = "quoted.csv" }, base_dir = FIX }
      assert.equal(4, u:count())
      assert.equal(1, u.stats.skipped)
      assert.is_nil(u:infer_asset { symbol = "EMPTYQ" }.security_id)
    end)
  end)

  describe("load_master", function()
    it("parses quoted fields with commas, doubled quotes, newlines and CRLF", function()
      local rows = assets.load_master({ file = "quoted.csv" }, { base_dir = FIX })
      assert.equal(5, #rows)
      assert.same({ symbol = "AAPL", security_id = "265598", name = "Apple, Inc.",
                    exchange = "NASDAQ" }, rows[1])
      assert.equal('Berkshire "Hathaway" B', rows[2].name)
      assert.equal("BRK B", rows[2].symbol)
      assert.equal("line one\r\nline two", rows[3].name)
      assert.equal("NYSE", rows[3].exchange)
      assert.same({ symbol = "", security_id = "", name = "", exchange = "" }, rows[4])
      assert.equal("", rows[5].security_id)
    end)

    it("handles a BOM, another delimiter and a trailing blank line", function()
      local rows = assets.load_master({ file = "semicolon_bom.csv", delimiter = ";" },
        { base_dir = FIX })
      assert.equal(2, #rows)
      assert.equal("ES", rows[1].symbol) -- the header's first name has no BOM left
      assert.equal("NQ;1", rows[2].symbol)
      assert.equal("20", rows[2].lot_size)
    end)

    it("parses CSV text edge cases", function()
      local p = assets.parse_csv
      assert.same({ { a = "1", b = "2" } }, p("a,b\n1,2")) -- no final newline
      assert.same({ { a = "1", b = "" } }, p('a,b\r\n1,""\r\n\r\n'))
      assert.same({ { a = "x", b = '"' } }, p('a,b\n"x",""""\n'))
      assert.same({ { a = ",", b = "\n" } }, p('a,b\n",","\n"\n'))
      assert.same({ { a = "1" } }, p("a,\n1,ignored\n")) -- unnamed column dropped
      assert.same({ { a = "1", b = "2" }, { a = "3", b = "4" } }, p("a,b\r1,2\r3,4\r")) -- old Mac
      assert.same({ { a = "" }, { a = "x" } }, p('a\n""\n\nx\n')) -- a quoted empty line is a row
      assert.same({ { a = "1", b = "x" } }, p("a\tb\n1\tx\n", "\t"))
      assert.same({}, p(""))
      assert.same({}, p("a,b\n"))
      assert.matches("^csv line 2: 3 fields, the header has 2", raises(p, "a,b\n1,2,3\n"))
      assert.matches("unexpected character after a closing quote", raises(p, 'a\n"x"y\n'))
      assert.matches("duplicate column 'a'", raises(p, "a,a\n1,2\n"))
    end)

    it("parses a Kite-sized file quickly enough", function()
      local buf = { "instrument_token,tradingsymbol,name,lot_size" }
      for i = 1, 50000 do
        buf[#buf + 1] = i .. ",SYM" .. i .. ',"Name, ' .. i .. '",' .. (i % 100)
      end
      local t = os.clock()
      local rows = assets.parse_csv(table.concat(buf, "\n"))
      assert.equal(50000, #rows)
      assert.equal("Name, 777", rows[777].name)
      assert.is_true(os.clock() - t < 2)
    end)

    it("reads JSON with a data array and turns null into absent", function()
      local rows = assets.load_master({ file = "instruments.json" }, { base_dir = FIX })
      assert.equal(3, #rows)
      assert.equal("AAPL", rows[1].trading_symbol)
      assert.is_nil(rows[1].expiry)
      local u = assets.universe { base_dir = FIX, master = {
        file = "instruments.json",
        fields = { symbol = "trading_symbol", security_id = "token", tick_size = "tick",
                   lot_size = "lot", asset_class = "kind" } } }
      local aapl = u:infer_asset { security_id = "265598" }
      assert.equal("AAPL", aapl.symbol)
      assert.equal(0.01, aapl.tick_size)
      assert.is_nil(aapl.expiry)
      assert.equal(1, u:infer_asset { symbol = "MSFT" }.lot_size)
      assert.equal("MSFT", u:infer_asset { security_id = 272093 }.symbol)
      assert.equal("future", u:infer_asset { security_id = 495512563 }.asset_class)
    end)

    it("reads a top-level JSON array and an explicit format", function()
      local u = assets.universe { base_dir = FIX, master = { file = "array.json", format = "json" } }
      assert.equal(2, u:count())
      local eth = u:infer_asset { security_id = 2 }
      assert.equal("ETHUSDT", eth.symbol)
      assert.is_nil(eth.name)
      assert.equal("crypto", eth.asset_class)
    end)

    it("calls a custom loader by registry name with the context", function()
      local seen
      local registry = { my_loader = function(ctx)
        seen = ctx
        return { { symbol = "EURUSD", security_id = 1 }, { symbol = "GBPUSD", security_id = 2 } }
      end }
      local ctx = { credentials = { api_key = "k" } }
      local u = assets.universe { master = { custom = "my_loader" }, registry = registry, ctx = ctx }
      assert.equal(ctx, seen)
      assert.equal("GBPUSD", u:infer_asset { security_id = "2" }.symbol)
      assert.is_true(u.closed)
    end)

    it("accepts a custom function, and CSV text returned by a loader", function()
      local rows = assets.load_master({ custom = function() return "symbol,lot_size\nX,5\n" end })
      assert.same({ { symbol = "X", lot_size = "5" } }, rows)
    end)

    it("names the key in its errors", function()
      local e = raises(assets.load_master, { file = "missing.csv" }, { base_dir = FIX })
      assert.equal("master_data.file: cannot open '" .. FIX
        .. "/missing.csv': No such file or directory", e)
      e = raises(assets.load_master, { file = "bad_unterminated.csv" }, { base_dir = FIX })
      assert.equal("master_data.file: 'bad_unterminated.csv' line 2: unterminated quoted field", e)
      e = raises(assets.load_master, { file = "bad_fields.csv" }, { base_dir = FIX })
      assert.equal("master_data.file: 'bad_fields.csv' line 2: 3 fields, the header has 2", e)
      e = raises(assets.load_master, { file = "bad.json" }, { base_dir = FIX })
      assert.matches("^master_data%.file: 'bad%.json': invalid JSON", e)
      e = raises(assets.load_master, { file = "x.dat" }, { base_dir = FIX })
      assert.matches("^master_data%.format: cannot tell the format of 'x%.dat'", e)
      e = raises(assets.load_master, { file = "a.csv", rows = {} })
      assert.equal("master_data: give exactly one of file, rows, custom (got file, rows)", e)
      e = raises(assets.load_master, {})
      assert.equal("master_data: give exactly one of file, rows, custom", e)
      e = raises(assets.load_master, { custom = "nope" }, { registry = {} })
      assert.equal("master_data.custom: no registry function 'nope'", e)
      e = raises(assets.load_master, { custom = "bad" },
        { registry = { bad = function() error("http 500", 0) end } })
      assert.equal("master_data.custom: loader 'bad' failed: http 500", e)
      e = raises(assets.load_master, { custom = function() return nil, "timeout" end })
      assert.equal("master_data.custom failed: timeout", e)
      e = raises(assets.load_master, { rows = { { symbol = "A" }, "B" } })
      assert.equal("master_data.rows[2]: expected a table, got string", e)
      e = raises(assets.load_master, { rows = {}, format = "xml" })
      assert.matches("^master_data%.format: expected 'csv' or 'json'", e)
    end)

    it("resolves absolute paths without base_dir", function()
      local abs = os.getenv("PWD") .. "/" .. FIX .. "/array.json"
      assert.equal(2, #assets.load_master({ file = abs }, { base_dir = "/nonexistent" }))
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

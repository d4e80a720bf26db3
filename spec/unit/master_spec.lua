local master = require "feedhost.data.master"
local universe = require "feedhost.data.universe"

local FIX = "spec/fixtures/master"

-- runs f, expects it to raise; returns the error value
local raises = require("spec.helpers.unit").raises

describe("feedhost.data.master", function()
  describe("load_master", function()
    it("parses quoted fields with commas, doubled quotes, newlines and CRLF", function()
      local rows = master.load_master({ file = "quoted.csv" }, { base_dir = FIX })
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
      local rows = master.load_master({ file = "semicolon_bom.csv", delimiter = ";" },
        { base_dir = FIX })
      assert.equal(2, #rows)
      assert.equal("ES", rows[1].symbol) -- the header's first name has no BOM left
      assert.equal("NQ;1", rows[2].symbol)
      assert.equal("20", rows[2].lot_size)
    end)

    it("parses CSV text edge cases", function()
      local p = master.parse_csv
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
      local rows = master.parse_csv(table.concat(buf, "\n"))
      assert.equal(50000, #rows)
      assert.equal("Name, 777", rows[777].name)
      assert.is_true(os.clock() - t < 2)
    end)

    it("reads JSON with a data array and turns null into absent", function()
      local rows = master.load_master({ file = "instruments.json" }, { base_dir = FIX })
      assert.equal(3, #rows)
      assert.equal("AAPL", rows[1].trading_symbol)
      assert.is_nil(rows[1].expiry)
      local u = universe.new { base_dir = FIX, master = {
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
      local u = universe.new { base_dir = FIX, master = { file = "array.json", format = "json" } }
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
      local u = universe.new { master = { custom = "my_loader" }, registry = registry, ctx = ctx }
      assert.equal(ctx.credentials, seen.credentials)
      assert.equal("default", seen.universe)
      assert.equal("GBPUSD", u:infer_asset { security_id = "2" }.symbol)
      assert.is_true(u.closed)
    end)

    it("accepts a custom function, and CSV text returned by a loader", function()
      local rows = master.load_master({ custom = function() return "symbol,lot_size\nX,5\n" end })
      assert.same({ { symbol = "X", lot_size = "5" } }, rows)
    end)

    it("names the key in its errors", function()
      local e = raises(master.load_master, { file = "missing.csv" }, { base_dir = FIX })
      assert.equal("master_data.file: cannot open '" .. FIX
        .. "/missing.csv': No such file or directory", e)
      e = raises(master.load_master, { file = "bad_unterminated.csv" }, { base_dir = FIX })
      assert.equal("master_data.file: 'bad_unterminated.csv' line 2: unterminated quoted field", e)
      e = raises(master.load_master, { file = "bad_fields.csv" }, { base_dir = FIX })
      assert.equal("master_data.file: 'bad_fields.csv' line 2: 3 fields, the header has 2", e)
      e = raises(master.load_master, { file = "bad.json" }, { base_dir = FIX })
      assert.matches("^master_data%.file: 'bad%.json': invalid JSON", e)
      e = raises(master.load_master, { file = "x.dat" }, { base_dir = FIX })
      assert.matches("^master_data%.format: cannot tell the format of 'x%.dat'", e)
      e = raises(master.load_master, { file = "a.csv", rows = {} })
      assert.equal("master_data: give exactly one of file, rows, custom, sources (got file, rows)", e)
      e = raises(master.load_master, {})
      assert.equal("master_data: give exactly one of file, rows, custom, sources", e)
      e = raises(master.load_master, { custom = "nope" }, { registry = {} })
      assert.equal("master_data.custom: no registry function 'nope'", e)
      e = raises(master.load_master, { custom = "bad" },
        { registry = { bad = function() error("http 500", 0) end } })
      assert.equal("master_data.custom: loader 'bad' failed: http 500", e)
      e = raises(master.load_master, { custom = function() return nil, "timeout" end })
      assert.equal("master_data.custom failed: timeout", e)
      e = raises(master.load_master, { rows = { { symbol = "A" }, "B" } })
      assert.equal("master_data.rows[2]: expected a table, got string", e)
      e = raises(master.load_master, { rows = {}, format = "xml" })
      assert.matches("^master_data%.format: expected 'csv' or 'json'", e)
    end)

    it("resolves absolute paths without base_dir", function()
      local abs = os.getenv("PWD") .. "/" .. FIX .. "/array.json"
      assert.equal(2, #master.load_master({ file = abs }, { base_dir = "/nonexistent" }))
    end)
  end)
end)

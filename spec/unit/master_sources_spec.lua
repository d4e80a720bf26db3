-- Master data for real APIs (feedhost.data.master_sources, through feedhost.spec.compile where
-- expressions are involved): paths into nested JSON, objects of objects, lists of scalars,
-- several files, loaders and their contract, filter names, duplicate rows.
local sources = require("feedhost.data.master_sources")
local universe = require("feedhost.data.universe")
local schema = require("feedhost.spec.schema")
local specmod = require("feedhost.spec")
local logmod = require("feedhost.util.log")

local FIX = "spec/fixtures/master"

local raises = require("spec.helpers.unit").raises

-- Compiles a spec whose master_data is `md` (beside FIX), with a connection on the default
-- universe. @return compiled, or nil and the error lines
local function compile(md, top, opts)
  local spec = { name = "m", master_data = md,
    streaming = { connections = { c = { url = "wss://x.example/ws" } } } }
  for k, v in pairs(top or {}) do
    spec[k] = v
  end
  local errs = schema.validate(spec, "m.lua")
  if #errs > 0 then
    return nil, schema.format_errors(errs, "m.lua")
  end
  local compiled, cerrs = specmod.compile({ file = FIX .. "/m.lua", dir = FIX, spec = spec },
    { credentials = { token = "T" }, log = (opts or {}).log })
  if not compiled then
    return nil, specmod.format_errors(cerrs, "m.lua")
  end
  return compiled
end

describe("master data sources", function()
  describe("key paths", function()
    it("parses member names, [n] indices and quoted names", function()
      assert.same({ "result", "list" }, sources.key_path("result.list"))
      assert.same({ 1 }, sources.key_path("[1]"))
      assert.same({ "data", 2, "x-y" }, sources.key_path('data[2]["x-y"]'))
    end)

    it("refuses what is not a key path, saying where", function()
      local _, err = sources.key_path("result..list")
      assert.matches("not a key path at '%.list'", err)
      _, err = sources.key_path("data[0]")
      assert.matches("bad index", err)
      assert.is_nil(sources.key_path("doc.result or doc"))
    end)
  end)

  describe("documents", function()
    it("takes the rows at a key path into nested JSON (Bybit's result.list)", function()
      local u = universe.new { base_dir = FIX, master = { file = "bybit_spot.json",
        path = "result.list", fields = { symbol = "symbol", name = "baseCoin" } } }
      assert.equal(2, u:count())
      assert.equal("ETH", u:infer_asset { symbol = "ETHUSDT" }.name)
    end)

    it("names the missing member and the document's top-level members", function()
      local e = raises(universe.new, { base_dir = FIX, master = { file = "bybit_spot.json",
        path = "result.rows" } })
      assert.equal("master_data.path: master_data.file: 'bybit_spot.json' has no 'result.rows'"
        .. " (its top-level members: result, retCode, retExtInfo, retMsg, time)", e)
      e = raises(universe.new, { base_dir = FIX, master = { file = "bybit_spot.json" } })
      assert.matches("give master_data.path", e, 1, true)
      assert.matches("members result, retCode", e, 1, true)
    end)

    it("turns an object of objects into rows, the member name in a column (Kraken's result)", function()
      local u = universe.new { base_dir = FIX, master = { file = "kraken_asset_pairs.json",
        path = "result", key = "pair",
        fields = { symbol = "wsname", security_id = "pair", tick_size = "tick_size" } } }
      local xbt = u:infer_asset { symbol = "XBT/USD" }
      assert.equal("XXBTZUSD", xbt.security_id)
      assert.equal(0.1, xbt.tick_size)
      -- rows in member-name order
      assert.equal("ETH/USD", u:list()[1].symbol)
      -- the default column is `key`
      local rows = sources.load({ file = "kraken_asset_pairs.json", path = "result" }, { base_dir = FIX })
      assert.equal("XETHZUSD", rows[1].key)
    end)

    it("refuses a member whose row already has the key column", function()
      local e = raises(sources.load, { file = "kraken_asset_pairs.json", path = "result",
        key = "base" }, { base_dir = FIX })
      assert.matches("member 'XETHZUSD' already has a column 'base'", e, 1, true)
    end)

    it("turns a list of scalars into rows {value = ...} (Bitfinex's pair list)", function()
      local rows = sources.load({ file = "bitfinex_pairs.json", path = "[1]" }, { base_dir = FIX })
      assert.same({ { value = "BTCUSD" }, { value = "ETHUSD" }, { value = "LTCUSD" } }, rows)
    end)

    it("takes an expression of doc as the path", function()
      local c = assert(compile({ file = "bybit_spot.json", path = "doc.result.list or doc.data" }))
      assert.equal(2, c.universe:count())
      c = assert(compile({ file = "bybit_spot.json", path = "doc.result.list" }))
      assert.equal(2, c.universe:count())
      local _, err = compile({ file = "bybit_spot.json", path = "dco.result or dco" })
      assert.matches("master_data.path: unknown name 'dco' (did you mean 'doc'?)", err, 1, true)
    end)
  end)

  describe("several files", function()
    it("merges a list of files in order (OKX's instrument lists)", function()
      local u = universe.new { base_dir = FIX, master = { file = { "okx_spot.json", "okx_swap.json" },
        fields = { symbol = "instId", asset_class = "instType", tick_size = "tickSz" } } }
      assert.equal(3, u:count())
      assert.equal("SWAP", u:infer_asset { symbol = "BTC-USDT-SWAP" }.asset_class)
      local e = raises(universe.new, { base_dir = FIX, master = { file = { "okx_spot.json", "nope.json" } } })
      assert.matches("^master_data%.file%[2%]: cannot open", e)
    end)

    it("merges sources of different formats and paths, options inherited", function()
      local rows, origins = sources.load({ sources = {
        { file = "kite_instruments.csv" },
        { file = "bybit_linear.json", path = "result.list" },
        { rows = { { symbol = "X" } } },
      } }, { base_dir = FIX })
      assert.equal(7 + 2 + 1, #rows)
      assert.equal("kite_instruments.csv row 1", origins[1])
      assert.equal("bybit_linear.json row 2", origins[9])
      assert.equal("rows[1]", origins[10])
      local e = raises(sources.load, { sources = { { file = "bybit_linear.json" } }, path = "nope" },
        { base_dir = FIX })
      assert.matches("^master_data%.sources%[1%]%.path:", e)
    end)
  end)

  describe("the loader contract", function()
    it("gives the loader its context: universe, dir, read_file beside the spec, json_decode, parse_csv", function()
      local seen
      local c = assert(compile({ custom = "load", path = "result.list",
        fields = { symbol = "symbol" } }, { registry = { load = function(ctx)
          seen = ctx
          return ctx.json_decode(ctx.read_file("bybit_linear.json"))
        end } }))
      assert.equal("default", seen.universe)
      assert.equal(FIX, seen.dir)
      assert.equal("T", seen.credentials.token)
      assert.is_function(seen.broker.logger.warning)
      assert.equal(2, c.universe:count())
      assert.same({ { a = "1" } }, seen.parse_csv("a\n1\n"))
    end)

    it("takes rows, a document (path applies) or text (format applies)", function()
      local u = universe.new { master = { custom = function() return { { symbol = "A" } } end } }
      assert.equal(1, u:count())
      u = universe.new { master = { custom = function() return { data = { { symbol = "B" } } } end } }
      assert.equal("B", u:list()[1].symbol)
      u = universe.new { master = { custom = function() return '{"r":[{"symbol":"C"}]}' end,
        format = "json", path = "r" } }
      assert.equal("C", u:list()[1].symbol)
    end)

    it("reads JSON null as absent, in nested members too", function()
      local rows = sources.load({ custom = function()
        return '{"r":[{"symbol":"C","tick":null,"filter":{"tickSize":null,"lot":1}}]}'
      end, format = "json", path = "r" })
      assert.same({ { symbol = "C", filter = { lot = 1 } } }, rows)
      assert.is_nil(rows[1].filter.tickSize)
    end)

    it("reads files beside the spec only", function()
      local _, err = compile({ custom = "load" }, { registry = { load = function(ctx)
        return ctx.read_file("../../../etc/passwd")
      end } })
      assert.matches("only paths beside the spec", err, 1, true)
      _, err = compile({ custom = "load" }, { registry = { load = function(ctx)
        return ctx.read_file("missing.json")
      end } })
      assert.matches("loader 'load' failed: .*cannot read 'missing.json' beside the spec", err)
    end)

    it("fails the load with the loader's message", function()
      local _, err = compile({ custom = "load" }, { registry = { load = function()
        return nil, "HTTP 503"
      end } })
      assert.matches("master_data.custom: loader 'load' failed: HTTP 503", err, 1, true)
    end)
  end)

  describe("filter and fields", function()
    it("filter sees row, source and universe", function()
      local c = assert(compile({ file = { "okx_spot.json", "okx_swap.json" },
        fields = { symbol = "instId" },
        filter = "source:find('swap', 1, true) == nil and universe == 'default' and row.state == 'live'" }))
      assert.equal(2, c.universe:count())
      local _, err = compile({ file = "okx_spot.json", filter = "rwo.x" })
      assert.matches("master_data.filter: unknown name 'rwo' (did you mean 'row'?)", err, 1, true)
    end)

    it("fields take expressions of row (nested members, computed names)", function()
      local c = assert(compile({ file = "bitfinex_pairs.json", path = "[1]", fields = {
        symbol = "value", broker_symbol = { source = "'t' .. row.value" } } }))
      assert.equal("tBTCUSD", c.universe:get("BTCUSD").broker_symbol)
      c = assert(compile({ file = "bybit_spot.json", path = "result.list", fields = {
        symbol = "symbol", tick_size = { source = "row.priceFilter.tickSize" } } }))
      assert.equal(0.01, c.universe:get("BTCUSDT").tick_size)
    end)
  end)

  describe("duplicate symbols within one universe", function()
    it("are listed with both rows, logged at load, and the first is used", function()
      local lines = {}
      local log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end })
      local c = assert(compile({ file = "spot_dup.csv" }, nil, { log = log }))
      local u = c.universe
      assert.equal("spot", u:infer_asset { symbol = "BTCUSDT" }.exchange)
      assert.equal("futures", u:infer_asset { security_id = "3" }.exchange)
      assert.equal(1, #u.duplicates)
      assert.same({ key = "symbol", value = "BTCUSDT", first = "spot_dup.csv row 1",
        second = "spot_dup.csv row 3" }, u.duplicates[1])
      local text = table.concat(lines, "\n")
      assert.matches("symbol 'BTCUSDT': in spot_dup.csv row 1 and spot_dup.csv row 3", text, 1, true)
    end)

    it("refuse to load with duplicates = 'error', naming both rows", function()
      local _, err = compile({ file = "spot_dup.csv", duplicates = "error" })
      assert.matches("master_data: symbol 'BTCUSDT': in spot_dup.csv row 1 and spot_dup.csv row 3",
        err, 1, true)
    end)

    it("are not logged with duplicates = 'ignore'", function()
      local lines = {}
      local log = logmod.new({ level = "debug", sink = function(l) lines[#lines + 1] = l end })
      assert(compile({ file = "spot_dup.csv", duplicates = "ignore" }, nil, { log = log }))
      assert.equal(0, #lines)
    end)
  end)

  describe("the schema", function()
    it("checks the new keys, with suggestions", function()
      local _, err = compile({ file = "okx_spot.json", pth = "data" })
      assert.matches("master_data.pth: unknown key (did you mean 'path'?)", err, 1, true)
      _, err = compile({ file = "okx_spot.json", duplicates = "eror" })
      assert.matches("'eror' is not one of warn, error, ignore (did you mean 'error'?)", err, 1, true)
      _, err = compile({ file = { "a.json", "b.dat" } })
      assert.matches("cannot infer the format from 'b.dat' (file[2])", err, 1, true)
      _, err = compile({ file = "a.json", sources = { { file = "b.json" } } })
      assert.matches("'file' and 'sources' cannot be used together", err, 1, true)
    end)
  end)
end)

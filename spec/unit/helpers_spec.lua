local ffi = require("ffi")
local helpers = require("feedhost.spec.helpers")
local json = require("feedhost.util.json")

local function is_int64(v)
  return type(v) == "cdata" and ffi.istype("int64_t", v)
end

-- Calls fn expecting an error; returns the message.
local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("feedhost.spec.helpers", function()
  describe("error positions", function()
    it("name the expression line for num, int, str, split, map", function()
      local env = {}
      for k, v in pairs(helpers.make(env)) do
        env[k] = v
      end
      local cases = {
        { "num('x')", "^expr:2: num: " },
        { "int(nil)", "^expr:2: int: " },
        { "str(nil)", "^expr:2: str: " },
        { "split(nil, ',')", "^expr:2: split: " },
        { "map(nil, '|a| a')", "^expr:2: map: " },
        { "map({1}, '|a| )')", "^expr:2: map: invalid lambda" },
        { "filter({}, 5)", "^expr:2: filter: " },
        { "ts('2021-02-30')", "^expr:2: ts: " },
      }
      for _, c in ipairs(cases) do
        local f = assert(load("local x\nx = " .. c[1] .. "\nreturn x", "=expr", "t", env))
        local ok, err = pcall(f)
        assert.is_false(ok, c[1])
        assert.matches(c[2], err)
      end
    end)
  end)

  describe("now", function()
    it("returns int64 epoch ns close to os.time()", function()
      local v = helpers.now()
      assert.is_true(is_int64(v))
      local secs = tonumber(v / 1000000000LL)
      assert.is_true(math.abs(secs - os.time()) <= 2)
      assert.is_true(helpers.now() >= v)
    end)
  end)

  describe("num", function()
    it("accepts numbers and numeric strings", function()
      assert.equals(1.5, helpers.num(1.5))
      assert.equals(126.55, helpers.num("126.55"))
      assert.equals(-3, helpers.num(" -3 "))
      assert.equals(1e-7, helpers.num("1e-7"))
      assert.equals(0.5, helpers.num(".5"))
      assert.equals(42, helpers.num(42LL))
    end)

    it("rejects everything else with the type and a quoted sample", function()
      assert.equals("num: expected a number or numeric string, got nil", err_of(helpers.num, nil))
      assert.equals("num: expected a number or numeric string, got boolean true", err_of(helpers.num, true))
      assert.equals("num: expected a number or numeric string, got table", err_of(helpers.num, {}))
      assert.equals('num: expected a number or numeric string, got string "abc"', err_of(helpers.num, "abc"))
      assert.equals('num: expected a number or numeric string, got string ""', err_of(helpers.num, ""))
      for _, s in ipairs({ "  ", "0x10", "inf", "nan", "1,5", "12abc" }) do
        assert.is_false(pcall(helpers.num, s), s)
      end
    end)
  end)

  describe("int", function()
    it("truncates toward zero", function()
      assert.equals(1, helpers.int(1.9))
      assert.equals(-1, helpers.int(-1.9))
      assert.equals(7, helpers.int("7.99"))
      assert.equals(-7, helpers.int("-7.99"))
      assert.equals(0, helpers.int("-0.5"))
      assert.equals(1614009105335, helpers.int("1614009105335"))
    end)

    it("rejects non-numbers and non-finite values", function()
      assert.matches("^int: expected a number or numeric string, got nil", err_of(helpers.int, nil))
      assert.matches('got string "x"', err_of(helpers.int, "x"))
      assert.matches("finite", err_of(helpers.int, math.huge))
      assert.matches("finite", err_of(helpers.int, 0 / 0))
    end)
  end)

  describe("str", function()
    it("converts values to strings", function()
      assert.equals("abc", helpers.str("abc"))
      assert.equals("1660", helpers.str(1660))
      assert.equals("1660", helpers.str(1660.0))
      assert.equals("-5", helpers.str(-5))
      assert.equals("0", helpers.str(-0.0))
      assert.equals("126.55", helpers.str(126.55))
      assert.equals("0.1", helpers.str(0.1))
      assert.equals("1e-07", helpers.str(1e-7))
      assert.equals("9007199254740993", helpers.str("9007199254740993"))
      assert.equals("100000000000000000000", helpers.str(1e20))
      assert.equals("1e+21", helpers.str(1e21))
      assert.equals("true", helpers.str(true))
      assert.equals("false", helpers.str(false))
      assert.equals("1614009105335689322", helpers.str(1614009105335689322LL))
      assert.equals("7", helpers.str(7ULL))
      assert.equals("AAPL", helpers.str(setmetatable({ symbol = "AAPL" }, { __name = "Asset" })))
    end)

    it("rejects nil, plain tables, functions and NaN", function()
      assert.equals("str: cannot convert nil", err_of(helpers.str, nil))
      assert.equals("str: cannot convert table", err_of(helpers.str, {}))
      assert.is_false(pcall(helpers.str, print))
      assert.is_false(pcall(helpers.str, 0 / 0))
    end)
  end)

  describe("lambda, map, filter", function()
    local env = { upper = string.upper, k = 10 }
    local h = helpers.make(env)

    it("maps with a string lambda in the given env", function()
      local assets = { { symbol = "AAPL" }, { symbol = "MSFT", broker_symbol = "MSFT.O" } }
      local out = h.map(assets, "|a| a.broker_symbol or a.symbol")
      assert.same({ "AAPL", "MSFT.O" }, out)
      assert.equals(json.array_mt, getmetatable(out))
      assert.same({ "A1", "B2" }, h.map({ "a", "b" }, "|a, i| upper(a) .. i"))
      assert.same({ 11, 12 }, h.map({ 1, 2 }, "|x| x + k"))
      assert.equals('["AAPL","MSFT.O"]', json.encode(out))
    end)

    it("maps with a function; nil results keep their position as json.null", function()
      local out = h.map({ 1, 2, 3 }, function(x) if x ~= 2 then return x * 2 end end)
      assert.equals(3, #out)
      assert.equals(json.null, out[2])
      assert.equals("[2,null,6]", json.encode(out))
      assert.equals("[]", json.encode(h.map({}, "|a| a")))
    end)

    it("filters", function()
      local out = h.filter({ 1, 2, 3, 4, 5 }, "|x| x % 2 == 1")
      assert.same({ 1, 3, 5 }, out)
      assert.equals(json.array_mt, getmetatable(out))
      assert.same({ "b" }, h.filter({ "a", "b", "c" }, "|_, i| i == 2"))
      assert.equals("[]", json.encode(h.filter({ 1 }, function() return false end)))
    end)

    it("compiles a lambda once per source and env", function()
      local f1 = helpers.lambda("|a| a + 1", env)
      assert.equals(f1, helpers.lambda("|a| a + 1", env))
      assert.are_not.equal(f1, helpers.lambda("|a| a + 1", {}))
      assert.equals(3, f1(2))
    end)

    it("has no access to globals outside env", function()
      local f = helpers.lambda("|a| os", {})
      assert.is_nil(f(1))
      assert.is_nil(helpers.lambda("|a| print")(1))
    end)

    it("rejects malformed lambdas and arguments", function()
      assert.matches("invalid lambda", err_of(helpers.lambda, "a.x", env))
      assert.matches("missing closing", err_of(helpers.lambda, "|a a.x", env))
      assert.matches("parameters", err_of(helpers.lambda, "|a b| a", env))
      assert.matches("empty body", err_of(helpers.lambda, "|a|  ", env))
      assert.matches("invalid lambda", err_of(helpers.lambda, "|a| a +", env))
      assert.matches("^map: expected a list, got nil", err_of(h.map, nil, "|a| a"))
      assert.matches("^filter: expected a function or a string lambda, got number 3", err_of(h.filter, {}, 3))
      assert.matches("^map: invalid lambda", err_of(h.map, { 1 }, "|a| )"))
    end)
  end)

  describe("split", function()
    it("splits on a plain separator, keeping empty fields", function()
      assert.same({ "a", "b", "c" }, helpers.split("a,b,c", ","))
      assert.same({ "a", "", "c", "" }, helpers.split("a,,c,", ","))
      assert.same({ "" }, helpers.split("", ","))
      assert.same({ "a", "b" }, helpers.split("a.b", "."))
      assert.same({ "x", "y%z" }, helpers.split("x%%y%z", "%%"))
      assert.same({ "NSE", "RELIANCE", "EQ" }, helpers.split("NSE::RELIANCE::EQ", "::"))
      assert.same({ "abc" }, helpers.split("abc", "|"))
      assert.equals(json.array_mt, getmetatable(helpers.split("a", ",")))
    end)

    it("rejects a missing string or separator", function()
      assert.matches("^split: expected a string, got nil", err_of(helpers.split, nil, ","))
      assert.matches("separator", err_of(helpers.split, "a", ""))
      assert.matches("separator", err_of(helpers.split, "a", nil))
    end)
  end)

  describe("make", function()
    it("returns the helper set with json", function()
      local h = helpers.make({})
      for _, k in ipairs({ "ts", "now", "num", "int", "str", "map", "filter", "split" }) do
        assert.equals("function", type(h[k]), k)
      end
      assert.equals('{"a":1}', h.json.encode({ a = 1 }))
      assert.equals(2, h.json.decode("[1,2]")[2])
      assert.equals(json.null, h.json.null)
    end)

    it("works inside a restricted expression env", function()
      local env = { data = { S = "AAPL", t = "2021-02-22T15:51:44.208Z", bp = "126.55" } }
      for k, v in pairs(helpers.make(env)) do
        env[k] = v
      end
      local f = load("return { ts(data.t), num(data.bp), split(data.S .. '.O', '.') }", "=expr", "t", env)
      local r = f()
      assert.equals(1614009104208000000LL, r[1])
      assert.equals(126.55, r[2])
      assert.same({ "AAPL", "O" }, r[3])
    end)
  end)
end)

local json = require("feedhost.util.json")
local cjson = require("cjson")

describe("feedhost.util.json", function()
  describe("encode_number", function()
    local cases = {
      { 0, "0" },
      { -0.0, "0" },
      { 100, "100" },
      { -42, "-42" },
      { 0.1, "0.1" },
      { 126.55, "126.55" },
      { 1573.15, "1573.15" },
      { 1e-7, "1e-07" },
      { 1e21, "1e+21" },
      { 2 ^ 53 - 1, "9007199254740991" },
      { 2 ^ 53, "9007199254740992" },
      { 2 ^ 53 + 2, "9007199254740994" },
      { 1e16, "1e+16" },
      { 0.1 + 0.2, "0.30000000000000004" },
      { 1 / 3, "0.3333333333333333" },
      { 5e-324, "4.94065645841247e-324" },
      { 1.7976931348623157e308, "1.7976931348623157e+308" },
      { -126.55, "-126.55" },
      { 123456789.123, "123456789.123" },
    }
    for _, c in ipairs(cases) do
      it(string.format("writes %.17g as %s", c[1], c[2]), function()
        assert.equals(c[2], json.encode_number(c[1]))
        assert.equals(c[1], tonumber(json.encode_number(c[1])))
      end)
    end

    it("round-trips many doubles in the shortest of %.15g/%.16g/%.17g", function()
      local x = 1.0
      for _ = 1, 2000 do
        x = x * 1.0001 + 0.000123
        local s = json.encode_number(x)
        assert.equals(x, tonumber(s))
        assert.is_true(#s <= #string.format("%.17g", x))
      end
    end)

    it("raises on NaN and infinities", function()
      assert.has_error(function() json.encode_number(0 / 0) end)
      assert.has_error(function() json.encode_number(math.huge) end)
      assert.has_error(function() json.encode_number(-math.huge) end)
    end)
  end)

  describe("encode", function()
    it("sorts object keys, nested too", function()
      assert.equals('{"a":1,"b":{"x":true,"y":false},"c":"z"}',
        json.encode({ c = "z", a = 1, b = { y = false, x = true } }))
    end)

    it("puts string keys before number keys", function()
      assert.equals('{"a":1,"b":2,"2":"x","10":"y"}', json.encode({ b = 2, a = 1, [10] = "y", [2] = "x" }))
    end)

    it("writes tables with keys exactly 1..n as arrays", function()
      assert.equals("[1,2,3]", json.encode({ 1, 2, 3 }))
      assert.equals('[[1,{"a":[]}],"x"]', json.encode({ { 1, { a = {} } }, "x" }))
      -- a hole or an extra key makes it an object
      assert.equals('{"1":1,"3":3}', json.encode({ [1] = 1, [3] = 3 }))
      assert.equals('{"n":2,"1":"a","2":"b"}', json.encode({ "a", "b", n = 2 }))
    end)

    it("writes an unmarked empty table as [] and object_mt as {}", function()
      assert.equals("[]", json.encode({}))
      assert.equals("{}", json.encode(json.object()))
      assert.equals('{"a":[],"b":{}}', json.encode({ a = {}, b = json.object({}) }))
      assert.equals("[]", json.encode(json.array()))
    end)

    it("writes array_mt tables as arrays, holes as null", function()
      local t = json.array({ 1, 2 })
      assert.equals("[1,2]", json.encode(t))
      assert.equals(json.array_mt, getmetatable(json.array({})))
      assert.equals(json.object_mt, getmetatable(json.object({})))
      assert.equals("[1,null,3]", json.encode(json.array({ 1, json.null, 3 })))
    end)

    it("escapes strings per RFC 8259", function()
      assert.equals([["a\"b\\c/d"]], json.encode('a"b\\c/d'))
      assert.equals([["\b\f\n\r\t\u0000\u0001\u001f"]], json.encode("\b\f\n\r\t\0\1\31"))
      assert.equals('"héllo €"', json.encode("héllo €"))
      assert.equals('"\127"', json.encode("\127"))
    end)

    it("writes booleans, null and int64 cdata", function()
      assert.equals("true", json.encode(true))
      assert.equals("false", json.encode(false))
      assert.equals("null", json.encode(json.null))
      assert.equals("null", json.encode(nil))
      assert.equals("1614009105335689322", json.encode(1614009105335689322LL))
      assert.equals("-9223372036854775808", json.encode(-9223372036854775807LL - 1))
      assert.equals("18446744073709551615", json.encode(18446744073709551615ULL))
      assert.equals('{"ts":-5}', json.encode({ ts = -5LL }))
    end)

    it("writes numbers in the shortest form", function()
      assert.equals('{"a":0.1,"b":126.55,"c":1e+21,"d":100,"e":1e-07}',
        json.encode({ a = 0.1, b = 126.55, c = 1e21, d = 100.0, e = 1e-7 }))
    end)

    it("honours opts.order for the top-level object", function()
      local rec = { z = 1, connection = "md", a = 2, channel = "quote" }
      assert.equals('{"channel":"quote","connection":"md","a":2,"z":1}',
        json.encode(rec, { order = { "channel", "connection", "missing" } }))
      -- nested tables are still sorted
      assert.equals('{"k":{"a":1,"k":2}}', json.encode({ k = { k = 2, a = 1 } }, { order = { "k" } }))
      assert.equals("{}", json.encode({}, { order = { "a" } }))
    end)

    it("writes an Asset as its symbol", function()
      local asset = setmetatable({ symbol = "AAPL", exchange = "NASDAQ" }, { __name = "Asset" })
      assert.equals('{"asset":"AAPL","bid":1.5}', json.encode({ asset = asset, bid = 1.5 }))
      assert.equals('{"asset":{"exchange":"NASDAQ","symbol":"AAPL"}}',
        json.encode({ asset = asset }, { asset_as_symbol = false }))
    end)

    it("uses a metatable __json hook", function()
      local mt = { __json = function(t) return { kind = "p", v = t.v } end }
      assert.equals('[{"kind":"p","v":3}]', json.encode({ setmetatable({ v = 3 }, mt) }))
      local asset = setmetatable({ symbol = "X" }, { __name = "Asset", __json = function(t) return "sym:" .. t.symbol end })
      assert.equals('"sym:X"', json.encode(asset))
    end)

    it("raises with the key path for functions, userdata, NaN and cycles", function()
      local ok, err = pcall(json.encode, { data = { bids = { { 1, print } } } })
      assert.is_false(ok)
      assert.equals("json.encode: cannot encode a function at data.bids[1][2]", err)
      ok, err = pcall(json.encode, { ["x-y"] = { io.stdout } })
      assert.equals('json.encode: cannot encode a userdata at ["x-y"][1]', err)
      ok, err = pcall(json.encode, { price = 0 / 0 })
      assert.is_false(ok)
      assert.matches("non%-finite number .* at price$", err)
      local t = {}
      t.self = t
      ok, err = pcall(json.encode, t)
      assert.equals("json.encode: circular reference at self", err)
      ok, err = pcall(json.encode, print)
      assert.equals("json.encode: cannot encode a function at (root)", err)
      ok, err = pcall(json.encode, { [true] = 1 })
      assert.is_false(ok)
      assert.matches("cannot encode a boolean key", err)
    end)

    it("allows the same table twice when it is not a cycle", function()
      local shared = { 1 }
      assert.equals('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }))
    end)

    it("writes into a string.buffer with M.write", function()
      local buf = require("string.buffer").new()
      buf:put("x=")
      json.write(buf, { b = 1, a = { 2 } })
      assert.equals('x={"a":[2],"b":1}', buf:tostring())
      local ok, err = pcall(json.write, buf, { f = print }, nil, "price")
      assert.is_false(ok)
      assert.equals("json.encode: cannot encode a function at price.f", err)
    end)

    it("is reentrant from a __json hook", function()
      local mt = { __json = function(t) return json.encode({ inner = t.v }) end }
      assert.equals('{"a":"{\\"inner\\":1}","b":2}', json.encode({ a = setmetatable({ v = 1 }, mt), b = 2 }))
    end)
  end)

  describe("decode", function()
    it("decodes objects, arrays and scalars", function()
      local v = json.decode('{"a":1,"b":[1,"x",true],"c":{"d":2.5}}')
      assert.equals(1, v.a)
      assert.same({ 1, "x", true }, v.b)
      assert.equals(2.5, v.c.d)
      assert.equals(123, json.decode("123"))
      assert.equals("s", json.decode('"s"'))
      assert.is_nil(json.decode("null"))
    end)

    it("reads null members as absent, null elements as json.null", function()
      local v = json.decode('{"a":null,"b":[null,1,null],"c":1}')
      assert.is_nil(v.a)
      assert.equals(3, #v.b)
      assert.equals(json.null, v.b[1])
      assert.equals(json.null, v.b[3])
      assert.equals(cjson.null, json.null)
      assert.equals('{"b":[null,1,null],"c":1}', json.encode(v))
    end)

    it("marks arrays with array_mt and empty objects with object_mt", function()
      local v = json.decode('{"a":[],"b":{},"c":[[],{ }],"d":{"e":{}},"f":{"g":null}}')
      assert.equals(json.array_mt, getmetatable(v.a))
      assert.equals(json.object_mt, getmetatable(v.b))
      assert.equals(json.array_mt, getmetatable(v.c))
      assert.equals(json.array_mt, getmetatable(v.c[1]))
      assert.equals(json.object_mt, getmetatable(v.c[2]))
      assert.is_nil(next(v.c[2]))
      assert.equals(json.object_mt, getmetatable(v.f))
      assert.is_nil(getmetatable(v))
      assert.equals('{"a":[],"b":{},"c":[[],{}],"d":{"e":{}},"f":{}}', json.encode(v))
      assert.equals("{}", json.encode(json.decode("{}")))
      assert.equals("[]", json.encode(json.decode(" [ ] ")))
    end)

    it("leaves {} inside strings alone", function()
      local v = json.decode('{"s":"{}","t":"a\\"{}","u":{}}')
      assert.equals("{}", v.s)
      assert.equals('a"{}', v.t)
      assert.equals(json.object_mt, getmetatable(v.u))
    end)

    it("does not confuse a real key with the empty-object marker", function()
      local v = json.decode('{"\255fh0":true,"e":{}}')
      assert.is_true(v["\255fh0"])
      assert.equals(json.object_mt, getmetatable(v.e))
      assert.is_nil(next(v.e))
    end)

    it("raises 'invalid JSON: ...' with cjson's message at level 0", function()
      local ok, err = pcall(json.decode, '{"a":1')
      assert.is_false(ok)
      assert.matches("^invalid JSON: ", err)
      ok, err = pcall(json.decode, "{}x")
      assert.equals("invalid JSON: Expected the end but found invalid token at character 3", err)
      assert.has_error(function() json.decode("NaN") end)
      assert.has_error(function() json.decode("0x10") end)
      assert.has_error(function() json.decode(12) end)
    end)

    it("decode_safe returns nil and the message", function()
      local v, err = json.decode_safe("[1,")
      assert.is_nil(v)
      assert.matches("^invalid JSON: ", err)
      v, err = json.decode_safe("[1]")
      assert.same({ 1 }, v)
      assert.is_nil(err)
    end)

    it("round-trips a quote message byte for byte", function()
      local s = '{"T":"q","ap":126.6,"as":[],"bp":126.55,"c":["R"],"meta":{},"t":"2021-02-22T15:51:45.335689322Z"}'
      assert.equals(s, json.encode(json.decode(s)))
    end)
  end)
end)

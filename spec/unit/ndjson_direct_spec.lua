-- Records written as NDJSON lines by the compiled converters themselves (feedhost.spec.codegen_out)
-- against the record tables encoded by feedhost.data.record: the same bytes, line for line, over
-- a generated corpus that reaches every kind of value (strings with escapes and non-ASCII,
-- numbers of every magnitude, integers past 2^53, booleans, nulls, nested tables with conditions
-- and defaults, lists, empty tables, assets, int64 timestamps, custom converters, odd keys, a
-- router over several channels, arrays of elements), and the same error counts.
local ffi = require("ffi")
local cffi = require("feedhost.sys.ffi")
local schema = require("feedhost.spec.schema")
local specmod = require("feedhost.spec")
local record = require("feedhost.data.record")
local json = require("feedhost.util.json")

local CONN = {
  url = "wss://feed.example/ws",
  frame = "array",
  router = { rules = {
    { match = "data.k == 'q'", channel = "quote" },
    { match = "data.k == 'c'", channel = "order" },
  }, default_channel = "data" },
  converters = {
    data = { {
      condition = "data.k ~= 'skip'",
      fields = {
        asset = { source = "broker.infer_asset{ symbol = data.s }" },
        timestamp = { source = "ts(data.t)" },
        text = { source = "data.x" },
        n = { source = "data.n" },
        flag = { source = "data.b" },
        big = { source = "str(data.id)", condition = "data.id ~= nil" },
        ["odd key é\"\\"] = { source = "data.n" },
        data = {
          price = { source = "num(data.p)" },
          size = { source = "data.z", default = -1 },
          only_if = { source = "data.n", condition = "data.b == true" },
          deep = { a = { source = "data.x" }, b = { source = "data.missing" } },
        },
        empty = { gone = { source = "data.missing" } },
        list = { { source = "data.n" }, { value = "fixed" }, { source = "data.b" } },
        cond_list = { { source = "data.n", condition = "data.b" }, { value = 1 } },
        const = { value = { z = 1, a = { 1, 2 }, m = "x" } },
        lua_table = { source = "{ b = data.n, a = data.x }" },
        may_fail = { source = "num(data.p) * 2" },
      },
    } },
    quote = { {
      fields = {
        asset = { source = "broker.infer_asset{ symbol = data.s }" },
        bid = { source = "num(data.p)" },
        ask = { source = "data.n" },
        when = { source = "ts(data.t)" },
      },
    } },
    order = { { custom = "make" } },
  },
}

local REGISTRY = {
  make = function(ctx)
    local d = ctx.data
    return { made = d.x, n = d.n, nested = { d.n, d.x } }
  end,
}

local function compile(out)
  local spec = { name = "t", registry = REGISTRY, streaming = { connections = { c = CONN } } }
  local errs = schema.validate(spec, "t.lua")
  assert(#errs == 0, schema.format_errors(errs, "t.lua"))
  local lines = {}
  local compiled, cerrs = specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {
    credentials = {}, out = out,
    emit = function(r) lines[#lines + 1] = record.ndjson(r, r.channel, r.connection) end,
  })
  assert(compiled, cerrs and specmod.format_errors(cerrs, "t.lua"))
  return compiled.connections.c.pipeline, lines
end

-- a deterministic generator of frames
local seed = 12345
local function rnd(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return math.floor(seed / 65536) % n
end

local STRINGS = { "AAPL", "a\"quote", "back\\slash", "tab\tnew\nline", "ctl\1\31", "é日本",
  "emoji 😀", "", "/slash", "\\u0041 literal" }
local function number()
  local k = rnd(9)
  if k == 0 then return rnd(1000) end
  if k == 1 then return -rnd(100000) / 100 end
  if k == 2 then return rnd(1000000) / 1e6 end
  if k == 3 then return (rnd(1000) + 1) * 1e-9 end
  if k == 4 then return (rnd(1000) + 1) * 1e18 end
  if k == 5 then return rnd(2147483647) * 4194304 + rnd(4194304) end   -- past 2^53
  if k == 6 then return 0.1 + rnd(1000) / 7 end
  if k == 7 then return 1e300 * (rnd(10) + 1) end
  return rnd(100000) + 0.5
end

local function element()
  local kinds = { "t", "q", "c", "skip", "t" }
  local e = { k = kinds[rnd(#kinds) + 1], s = STRINGS[rnd(3) + 1], x = STRINGS[rnd(#STRINGS) + 1] }
  if rnd(5) > 0 then e.n = number() end
  if rnd(3) > 0 then e.b = rnd(2) == 1 end
  if rnd(20) > 0 then e.p = rnd(20) == 0 and STRINGS[rnd(#STRINGS) + 1] or number() end
  if rnd(4) == 0 then e.p = "@NUM@" end   -- a number text as written below
  if rnd(2) == 0 then e.z = number() end
  local tk = rnd(20)
  e.t = tk == 0 and "bad time" or tk == 1 and 1700000000123 or tk == 2 and 1700000000.5
    or "2024-03-01T12:34:56." .. rnd(1000000000) .. "Z"
  if rnd(3) == 0 then e.id = "@ID@" end   -- written as the bare digits below
  return e
end

-- number texts as feeds write them, for the members written from the frame's digits
-- (`num(data.p)`): the encoder's own form, and forms it does not write (trailing zeros,
-- exponents, -0, more than 15 digits, out of the double range)
local NUM_TEXTS = { "87.45", "-87.45", "88.0", "88.10", "0", "-0", "-0.0", "0.5", "0.0001",
  "0.00001", "0.000123", "1e5", "1E5", "1.5e2", "2.50E-3", "100", "123456789012345",
  "1234567890123456", "99999999999999999999", "0.123456789012345", "0.1234567890123456",
  "12345678901234.5", "1234567890123.45", "9007199254740993", "5e-324", "1e400", "-1e400",
  "0.30000000000000004", "120.07" }

local function corpus(n)
  local frames = {}
  for i = 1, n do
    local els = {}
    for j = 1, rnd(3) + 1 do
      els[j] = element()
    end
    -- a 64-bit id as an exchange writes it: digits past 2^53
    frames[i] = json.encode(els):gsub('"@ID@"', "17843232920108168701")
      :gsub('"@NUM@"', function() return NUM_TEXTS[rnd(#NUM_TEXTS) + 1] end)
    if i % 97 == 0 then
      frames[i] = frames[i]:sub(1, -3)   -- a broken frame now and then
    end
  end
  return frames
end

local function run(pipeline, frames)
  local b = cffi.batch(1048576, 256)
  local i = 1
  while i <= #frames do
    cffi.api.batch_clear(b)
    for j = i, math.min(i + 199, #frames) do
      local s = frames[j]
      assert(cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, 1700000000000000000LL, s, #s) == 0)
    end
    pipeline.run(b)
    i = i + 200
  end
end

describe("records written straight as NDJSON lines", function()
  it("are byte for byte the encoder's lines over a generated corpus, with the same errors", function()
    local frames = corpus(5000)
    local p1, lines = compile(nil)
    run(p1, frames)
    local buf = ffi.gc(cffi.api.out_new(0), cffi.api.out_free)
    local p2 = compile(buf)
    run(p2, frames)
    local direct = {}
    for l in ffi.string(buf.buf, buf.len):gmatch("([^\n]*)\n") do
      direct[#direct + 1] = l
    end
    assert(#lines > 4000, "the corpus made too few records: " .. #lines)
    assert.are.equal(#lines, #direct)
    for i = 1, #lines do
      if lines[i] ~= direct[i] then
        error(string.format("line %d differs:\n table:  %s\n direct: %s", i, lines[i], direct[i]))
      end
    end
    assert.are.equal(p1.stats.records, p2.stats.records)
    assert.are.same(p1.stats.by_channel, p2.stats.by_channel)
    -- (a record with two failing fields is counted at the first one computed: the table path
    -- computes plain fields before conditional ones, the direct path in key order)
    assert.are.equal(p1.stats.errors, p2.stats.errors)
    assert.are.same(p1.stats.error_kinds, p2.stats.error_kinds)
    assert(p1.stats.errors > 0, "the corpus reached no error path")
    -- what the corpus covers
    local all = table.concat(lines, "\n")
    for _, want in ipairs({ '"empty":[]', '"list":[', '"made":', "17843232920108168701", '\\"',
      '\\t', '\\u0001', "日本", '"only_if":', '"size":-1', "e+", "e-", ":true", ":false",
      '"channel":"quote"', '"channel":"order"' }) do
      assert(all:find(want, 1, true), "no line has " .. want)
    end
  end)

  it("takes back a line whose record failed half way, and keeps the next one whole", function()
    local buf = ffi.gc(cffi.api.out_new(0), cffi.api.out_free)
    local p = compile(buf)
    run(p, { '[{"k":"t","s":"AAPL","x":"a","n":1,"p":"not a number","t":1700000000123}]',
      '[{"k":"t","s":"AAPL","x":"b","n":2,"p":3,"t":1700000000123}]' })
    local text = ffi.string(buf.buf, buf.len)
    -- one whole line, the second record's: nothing of the first one's beginning is left
    local line = text:match("^(%b{})\n$")
    assert(line, "not exactly one whole line: " .. text)
    assert.are.equal("b", json.decode(line).text)
    assert.are.equal(1, p.stats.error_paths["converters.data[1].fields.data.price"])
  end)
end)

describe("numbers from the frame", function()
  local function one(fields, frame)
    local spec = { name = "t", streaming = { connections = { c = {
      url = "wss://x.example/ws", converters = { data = { { fields = fields } } } } } } }
    assert(#schema.validate(spec, "t.lua") == 0)
    local lines = {}
    local compiled = assert(specmod.compile({ file = "t.lua", dir = ".", spec = spec }, {
      credentials = {}, emit = function(r) lines[#lines + 1] = record.ndjson(r, r.channel, r.connection) end }))
    local p = compiled.connections.c.pipeline
    local b = cffi.batch(4096, 4)
    cffi.api.batch_push(b, 1, cffi.C.FH_FRAME_TEXT, 0LL, frame, #frame)
    p.run(b)
    return lines[1], p.stats
  end

  it("reach ts() and str() exactly, whatever their size", function()
    local line = one({ t = { source = "ts(data.t)" }, id = { source = "str(data.id)" },
      neg = { source = "str(data.n)" }, s = { source = "ts(data.s)" }, f = { source = "ts(data.f)" } },
      '{"t":1618678142557535123,"id":17843232920108168701,"n":-9007199254740993,'
        .. '"s":1618678142,"f":1618678142.557535123}')
    assert.matches('"t":1618678142557535123', line, 1, true)
    assert.matches('"id":"17843232920108168701"', line, 1, true)
    assert.matches('"neg":"-9007199254740993"', line, 1, true)
    assert.matches('"s":1618678142000000000', line, 1, true)
    assert.matches('"f":1618678142557535123', line, 1, true)
  end)

  it("num() of a huge integer is a double (documented); ts() past int64 is an error", function()
    local line, st = one({ n = { source = "num(data.id)" } }, '{"id":17843232920108168701}')
    assert.matches('"n":1.784323292010817e+19', line, 1, true)
    line, st = one({ t = { source = "ts(data.t)" } }, '{"t":99999999999999999999}')
    assert.is_nil(line)
    assert.are.equal(1, st.errors)
  end)
end)

-- feedhost.spec.tape: the reader over the C JSON tape (lookups by key slot, string compares, ts).
local ffi = require("ffi")
local tape = require("feedhost.spec.tape")
local helpers = require("feedhost.spec.helpers")

-- parses `s` with reader `R`; keeps the string alive in `keep` while its tape is read
local keep = {}
local function parse(R, s)
  keep[R] = s
  return R.parse(ffi.cast("const char *", s), #s)
end

describe("tape reader lookups", function()
  it("reads members and elements, null as nil, absent as nil", function()
    local R = tape.new()
    local root = parse(R, '{"a":1,"b":"x","c":null,"d":[10,{"e":true}],"f":{"g":-2.5}}')
    assert.are.equal(1, R.get(root, "a"))
    assert.are.equal("x", R.get(root, "b"))
    assert.is_nil(R.get(root, "c"))
    assert.is_nil(R.tok(root, "c"))
    assert.is_nil(R.get(root, "zz"))
    assert.are.equal(10, R.get(R.tok(root, "d"), 1))
    assert.is_true(R.get(R.tok(R.tok(root, "d"), 2), "e"))
    assert.are.equal(-2.5, R.get(R.tok(root, "f"), "g"))
    -- a member of a non-object is absent
    assert.is_nil(R.get(R.tok(root, "d"), "a"))
    assert.is_nil(R.get(R.tok(root, "a"), "a"))
  end)

  it("indexing a missing parent raises, as indexing nil does", function()
    local R = tape.new()
    local root = parse(R, '{"a":1}')
    assert.has_error(function() R.get(R.tok(root, "x"), "y") end)
    assert.has_error(function() R.eq(R.tok(root, "x"), "y", "z") end)
  end)

  it("alternates between objects and frames without mixing up their members", function()
    local R = tape.new()
    local root = parse(R, '[{"T":"q","p":1},{"p":2,"T":"t"},{"x":3}]')
    local a, b, c = R.tok(root, 1), R.tok(root, 2), R.tok(root, 3)
    assert.are.same({ 1, 2, 1, 2 }, { R.get(a, "p"), R.get(b, "p"), R.get(a, "p"), R.get(b, "p") })
    assert.are.same({ "q", "t" }, { R.get(a, "T"), R.get(b, "T") })
    assert.is_nil(R.get(c, "p"))
    assert.are.equal(3, R.get(c, "x"))
    -- a new frame at the same token numbers
    root = parse(R, '[{"p":7}]')
    assert.are.equal(7, R.get(R.tok(root, 1), "p"))
    assert.is_nil(R.get(R.tok(root, 1), "T"))
  end)

  it("a name first read after others on the same object is found too", function()
    local R = tape.new()
    local root = parse(R, '{"a":1,"b":2,"late":3}')
    assert.are.equal(1, R.get(root, "a"))
    assert.are.equal(3, R.get(root, "late"))
    assert.are.equal(2, R.get(root, "b"))
  end)

  it("takes the first of repeated names and finds escaped ones", function()
    local R = tape.new()
    local root = parse(R, '{"k":1,"k":2,"\\u0053":"AAPL","s\\"q":4}')
    assert.are.equal(1, R.get(root, "k"))
    assert.are.equal("AAPL", R.get(root, "S"))
    assert.are.equal(4, R.get(root, 's"q'))
  end)

  it("keeps working past 64 distinct names (the rest are searched one by one)", function()
    local R = tape.new()
    local parts = {}
    for i = 1, 100 do
      parts[i] = string.format('"n%d":%d', i, i)
    end
    local root = parse(R, "{" .. table.concat(parts, ",") .. "}")
    for round = 1, 2 do
      for i = 100, 1, -1 do
        assert.are.equal(i, R.get(root, "n" .. i), "round " .. round)
      end
    end
    assert.is_nil(R.get(root, "n101"))
  end)

  it("names longer than 64 bytes are searched", function()
    local R = tape.new()
    local long = string.rep("x", 80)
    local root = parse(R, '{"' .. long .. '":5,"a":1}')
    assert.are.equal(5, R.get(root, long))
    assert.are.equal(1, R.get(root, "a"))
  end)
end)

describe("tape reader eq", function()
  it("compares one-byte and longer literals, escapes decoded", function()
    local R = tape.new()
    local root = parse(R, '{"T":"q","L":"success","E":"\\u0071","N":1,"Z":null,"H":"\255",'
      .. '"M":"qq"}')
    assert.is_true(R.eq(root, "T", "q"))
    assert.is_false(R.eq(root, "T", "t"))
    assert.is_false(R.eq(root, "T", "qq"))
    assert.is_false(R.eq(root, "M", "q"))
    assert.is_true(R.eq(root, "L", "success"))
    assert.is_false(R.eq(root, "L", "succesS"))
    assert.is_true(R.eq(root, "E", "q"))
    assert.is_false(R.eq(root, "N", "1"))
    assert.is_false(R.eq(root, "Z", "q"))
    assert.is_false(R.eq(root, "absent", "q"))
    assert.is_true(R.eq(root, "H", "\255"))
    assert.is_false(R.eq(root, "H", "\127"))
  end)
end)

describe("tape reader ts", function()
  it("gives what the ts helper gives, for one day and the next, and odd forms", function()
    local R = tape.new()
    local times = {
      "2021-02-22T14:30:00.007099626Z", "2021-02-22T14:30:01Z", "2021-02-22T14:30:02.5Z",
      "2021-02-23T00:00:00.000000001Z", "2021-02-22T23:59:59.999Z", "2021-02-22 14:30:00",
      "2021-02-22T14:30:00+05:30", "2021-02-22T14:30:00.5z",
    }
    for _, t in ipairs(times) do
      local root = parse(R, '{"t":"' .. t .. '"}')
      local got = R.ts(root, "t", helpers.ts)
      assert.is_true(ffi.istype("int64_t", got), t)
      assert.is_true(got == helpers.ts(t), t)
    end
    local root = parse(R, '{"n":1732612500123,"e":"2021-02-22T14:30:00\\u005a"}')
    assert.is_true(R.ts(root, "n", helpers.ts) == helpers.ts(1732612500123))
    assert.is_true(R.ts(root, "e", helpers.ts) == helpers.ts("2021-02-22T14:30:00Z"))
    assert.has_error(function() R.ts(root, "absent", helpers.ts) end)
  end)
end)

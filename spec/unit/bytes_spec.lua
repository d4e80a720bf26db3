local ffi = require "ffi"
local bytes = require "feedhost.bytes"

-- Keeps the Lua string alive as long as the pointer is used.
local function buf(hex)
  local s = bytes.hex(hex)
  local p, n = bytes.from_string(s)
  return p, n, s
end

describe("feedhost.bytes", function()
  describe("hex / to_hex / from_string", function()
    it("decodes hex with spaces and newlines", function()
      assert.are.equal("\0\1\171\255", bytes.hex("00 01\nab\tFF"))
      assert.are.equal("", bytes.hex(""))
    end)

    it("rejects odd digit counts and non-hex characters", function()
      assert.has_error(function() bytes.hex("abc") end)
      assert.has_error(function() bytes.hex("zz") end)
      assert.has_error(function() bytes.hex(12) end)
    end)

    it("round-trips through to_hex", function()
      local s = bytes.hex("00063a01 00026683")
      assert.are.equal("00063a0100026683", bytes.to_hex(s))
      assert.are.equal(8, #s)
    end)

    it("from_string gives a uint8 pointer and the length", function()
      local s = "\1\2\3"
      local p, n = bytes.from_string(s)
      assert.are.equal(3, n)
      assert.is_true(ffi.istype("const uint8_t *", p))
      assert.are.equal(2, p[1])
    end)
  end)

  describe("8 and 16 bit", function()
    local p, _, keep = buf("7f 80 ff 00 01 80 00 ff fe")
    it("u8 / i8", function()
      assert.are.equal(127, bytes.u8(p, 0))
      assert.are.equal(128, bytes.u8(p, 1))
      assert.are.equal(127, bytes.i8(p, 0))
      assert.are.equal(-128, bytes.i8(p, 1))
      assert.are.equal(-1, bytes.i8(p, 2))
      assert.are.equal(0, bytes.i8(p, 3))
    end)

    it("u16 / i16 in both byte orders", function()
      -- offset 3: 00 01 -> be 1, le 256
      assert.are.equal(1, bytes.u16be(p, 3))
      assert.are.equal(256, bytes.u16le(p, 3))
      -- offset 5: 80 00 -> be 0x8000 = 32768 / -32768; le 0x0080 = 128
      assert.are.equal(32768, bytes.u16be(p, 5))
      assert.are.equal(-32768, bytes.i16be(p, 5))
      assert.are.equal(128, bytes.i16le(p, 5))
      -- offset 7: ff fe -> be 0xfffe = 65534 / -2; le 0xfeff = 65279 / -257
      assert.are.equal(65534, bytes.u16be(p, 7))
      assert.are.equal(-2, bytes.i16be(p, 7))
      assert.are.equal(65279, bytes.u16le(p, 7))
      assert.are.equal(-257, bytes.i16le(p, 7))
      assert.is_string(keep)
    end)
  end)

  describe("32 bit", function()
    local p, _, keep = buf("00 06 3a 01  ff ff ff fe  80 00 00 00  00 02 66 83")
    it("big-endian", function()
      -- 0x00063a01 = 408065 (INFY's Kite token)
      assert.are.equal(408065, bytes.u32be(p, 0))
      assert.are.equal(408065, bytes.i32be(p, 0))
      -- 0xfffffffe = 4294967294 / -2
      assert.are.equal(4294967294, bytes.u32be(p, 4))
      assert.are.equal(-2, bytes.i32be(p, 4))
      -- 0x80000000 = 2147483648 / -2147483648
      assert.are.equal(2147483648, bytes.u32be(p, 8))
      assert.are.equal(-2147483648, bytes.i32be(p, 8))
      -- 0x00026683 = 157315
      assert.are.equal(157315, bytes.u32be(p, 12))
    end)

    it("little-endian", function()
      -- bytes 00 06 3a 01 read LE = 0x013a0600 = 20579840
      assert.are.equal(20579840, bytes.u32le(p, 0))
      -- ff ff ff fe LE = 0xfeffffff = 4278190079 / -16777217
      assert.are.equal(4278190079, bytes.u32le(p, 4))
      assert.are.equal(-16777217, bytes.i32le(p, 4))
      -- 80 00 00 00 LE = 0x00000080 = 128
      assert.are.equal(128, bytes.i32le(p, 8))
      assert.is_string(keep)
    end)

    it("reads at unaligned offsets", function()
      -- offset 1: 06 3a 01 ff = 0x063a01ff = 104464895
      assert.are.equal(104464895, bytes.u32be(p, 1))
      assert.are.equal(0xff013a06, bytes.u32le(p, 1))
    end)
  end)

  describe("64 bit", function()
    -- 2965.15 paise example from Angel: 0x0000000000048643 = 296515 LE
    local p, _, keep = buf("43 86 04 00 00 00 00 00  ff ff ff ff ff ff ff ff  00 ee 8c 4d 90 01 00 00")
    it("i64le returns int64 cdata", function()
      local v = bytes.i64le(p, 0)
      assert.is_true(ffi.istype("int64_t", v))
      assert.is_true(v == 296515LL)
      assert.is_true(bytes.i64le(p, 8) == -1LL)
      -- 0x000001904d8cee00 = 1719288000000 (an epoch-ms value)
      assert.is_true(bytes.i64le(p, 16) == 0x1904d8cee00LL)
    end)

    it("u64le returns uint64 cdata", function()
      local v = bytes.u64le(p, 8)
      assert.is_true(ffi.istype("uint64_t", v))
      assert.is_true(v == 0xffffffffffffffffULL)
    end)

    it("a returned value is not clobbered by the next read", function()
      local a = bytes.i64le(p, 0)
      local b = bytes.i64le(p, 8)
      assert.is_true(a == 296515LL)
      assert.is_true(b == -1LL)
      assert.is_string(keep)
    end)
  end)

  describe("floats", function()
    -- 1642.5 as float32 = 0x44cd5000; LE bytes 00 50 cd 44 (Dhan LTP example)
    -- 1.5 as float64 = 0x3ff8000000000000
    local p, _, keep = buf("00 50 cd 44  44 cd 50 00  00 00 00 00 00 00 f8 3f  c0 40 7a 66")
    it("f32le / f32be", function()
      assert.are.equal(1642.5, bytes.f32le(p, 0))
      assert.are.equal(1642.5, bytes.f32be(p, 4))
    end)

    it("f64le", function()
      assert.are.equal(1.5, bytes.f64le(p, 8))
    end)

    it("f32le of a non-round value is exact", function()
      -- c0 40 7a 66 LE = 0x667a40c0: sign 0, exponent 0xcc = 204 -> 2^77,
      -- mantissa 1 + 0x7a40c0 / 2^23 -> (2^23 + 8011968) * 2^54 = 16400576 * 2^54
      assert.are.equal(16400576 * 2 ^ 54, bytes.f32le(p, 16))
      assert.is_string(keep)
    end)
  end)

  it("readers are usable inside a compiled loop (no allocation per call)", function()
    local s = string.rep(bytes.hex("00 00 00 01"), 1000)
    local p, n = bytes.from_string(s)
    local sum = 0
    for off = 0, n - 4, 4 do
      sum = sum + bytes.u32be(p, off) + bytes.u16be(p, off + 2)
    end
    -- each word: u32be 1, u16be of "00 01" 1
    assert.are.equal(2000, sum)
  end)
end)

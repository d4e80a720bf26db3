local ffi = require("ffi")
local timestamp = require("feedhost.spec.timestamp")

local ts = timestamp.ts

local function is_int64(v)
  return type(v) == "cdata" and ffi.istype("int64_t", v)
end

-- Calls fn expecting an error; returns the message.
local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("feedhost.spec.timestamp", function()
  describe("ts", function()
    local iso = {
      { "2021-02-22T15:51:45.335689322Z", 1614009105335689322LL },
      { "2021-02-22T15:51:44.208Z", 1614009104208000000LL },
      { "2021-02-22T15:51:44.2Z", 1614009104200000000LL },
      { "2021-02-22T15:51:44.000000001Z", 1614009104000000001LL },
      { "2021-02-22T15:51:44Z", 1614009104000000000LL },
      { "2021-02-22T15:51:44z", 1614009104000000000LL },
      { "2021-02-22T15:51Z", 1614009060000000000LL },
      { "2021-02-22T15:51:44.208", 1614009104208000000LL }, -- no zone: UTC
      { "2021-02-22 15:51:44.208Z", 1614009104208000000LL },
      { "2021-02-22T15:51:44,208Z", 1614009104208000000LL },
      { "2021-02-22", 1613952000000000000LL },
      { "2021-02-22T21:21:44.208+05:30", 1614009104208000000LL },
      { "2021-02-22T21:21:44.208+0530", 1614009104208000000LL },
      { "2021-02-22T10:51:44-05:00", 1614009104000000000LL },
      { "2021-02-22T10:51:44-0500", 1614009104000000000LL },
      { "2021-02-22T10:51:44-05", 1614009104000000000LL },
      { "2021-02-22T15:51:44.208-09:30", 1614043304208000000LL },
      { "2021-02-23T00:30:00+09:00", 1614007800000000000LL },
      { "2021-02-22T15:51:44.1234567891234Z", 1614009104123456789LL }, -- beyond ns: truncated
      { "1970-01-01T00:00:00Z", 0LL },
      { "1969-12-31T23:59:59.5Z", -500000000LL },
      { "1969-12-31T23:59:59.999999999Z", -1LL },
      { "1969-07-20T20:17:40Z", -14182940000000000LL },
      { "1900-01-01", -2208988800000000000LL },
      { "1900-03-01", -2203891200000000000LL },
      { "1700-01-01T00:00:00Z", -8520336000000000000LL },
      { "2000-02-29", 951782400000000000LL },
      { "2020-02-29T12:00:00Z", 1582977600000000000LL },
      { "2024-02-29T23:59:59.999999999Z", 1709251199999999999LL },
      { "2023-03-01", 1677628800000000000LL },
      { "2100-03-01", 4107542400000000000LL },
      { "2024-12-31T23:59:59Z", 1735689599000000000LL },
      { "2262-04-11T23:47:16.854775807Z", 9223372036854775807LL },
      { "1677-09-21T00:12:43.145224192Z", -9223372036854775807LL - 1 },
      { "  2021-02-22T15:51:44Z  ", 1614009104000000000LL },
    }
    for _, c in ipairs(iso) do
      it("reads " .. c[1], function()
        local v = ts(c[1])
        assert.is_true(is_int64(v))
        assert.equals(c[2], v)
      end)
    end

    it("agrees with a day count for every date 1900..2100", function()
      local function leap(y)
        return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
      end
      local mdays = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
      local days = -25567 -- 1900-01-01
      for y = 1900, 2100 do
        for m = 1, 12 do
          local n = mdays[m] + ((m == 2 and leap(y)) and 1 or 0)
          for d = 1, n do
            local got = ts(string.format("%04d-%02d-%02d", y, m, d))
            if got ~= days * 86400000000000LL then
              error(string.format("%04d-%02d-%02d: got %s want %d days", y, m, d, tostring(got), days))
            end
            days = days + 1
          end
        end
      end
      assert.equals(47847, days) -- 2101-01-01
    end)

    it("rejects malformed and impossible ISO strings", function()
      local bad = {
        "2021-02-30", "2021-02-29", "1900-02-29", "2021-13-01", "2021-00-10", "2021-01-00",
        "2021-02-22T24:00:00Z", "2021-02-22T15:60:00Z", "2021-02-22T15:51:61Z",
        "2021-02-22T15:51:44.Z", "2021-02-22T15:51:44.208X", "2021-02-22T15:51:44+5:30",
        "2021-02-22T15:51:44+05:3", "2021-02-22T15:51:44+24:00",
        "2021-02-22X15:51:44Z", "2021-2-22", "21-02-22", "2021-02-22T1551", "abc", "", "   ",
        "2021-02-22T15:51:44ZZ", "9999-12-31T00:00:00Z", "1600-01-01",
      }
      for _, s in ipairs(bad) do
        local ok = pcall(ts, s)
        assert.is_false(ok, s)
      end
      assert.matches('^ts: invalid timestamp: string "2021%-02%-30"', err_of(ts, "2021-02-30"))
      assert.matches("out of range", err_of(ts, "9999-12-31T00:00:00Z"))
    end)

    it("reads numbers in the given unit exactly", function()
      assert.equals(1614009105000000000LL, ts(1614009105, "s"))
      assert.equals(1614009105335000000LL, ts(1614009105335, "ms"))
      assert.equals(1614009105335689000LL, ts(1614009105335689, "us"))
      assert.equals(1614009105335689LL, ts(1614009105335689, "ns"))
      assert.equals(1000000LL, ts(1, "ms"))
      assert.equals(1613500000000LL, ts(1613.5, "s"))
      assert.equals(-1500000000LL, ts(-1.5, "s"))
      assert.equals(1614009105335689000LL, ts(1614009105.335689, "s"))
      assert.equals(1614009105335500000LL, ts(1614009105335.5, "ms"))
      assert.equals(100000000LL, ts(0.1, "s")) -- not 100000000.000000005
      assert.equals(0LL, ts(0))
    end)

    it("infers the unit from the magnitude", function()
      assert.equals(1614009105000000000LL, ts(1614009105)) -- s
      assert.equals(9000000000500000000LL, ts(9000000000.5)) -- s, < 1e11
      assert.matches("out of range", err_of(ts, 99999999999)) -- s: beyond int64 ns
      assert.equals(100000000000000000LL, ts(100000000000)) -- 1e11: ms
      assert.equals(1614009105335000000LL, ts(1614009105335)) -- ms
      assert.equals(9000000000000000000LL, ts(9000000000000)) -- ms
      assert.equals(99999999999999000LL, ts(99999999999999, "us"))
      assert.matches("out of range", err_of(ts, 99999999999999)) -- ms: beyond int64 ns
      assert.equals(100000000000000000LL, ts(100000000000000)) -- 1e14: us
      assert.equals(1614009105335689000LL, ts(1614009105335689)) -- us
      assert.equals(1614009105335689322LL, ts("1614009105335689322")) -- ns
      assert.equals(1614009105335689322LL, ts(1614009105335689322LL)) -- int64: ns
      assert.equals(1614009105000000000LL, ts(1614009105LL)) -- int64: s
      assert.equals(-1614009105000000000LL, ts(-1614009105)) -- negative: by |x|
    end)

    it("reads numeric strings exactly, with fractions and exponents", function()
      assert.equals(1614009105335689322LL, ts("1614009105.335689322"))
      assert.equals(1614009105335689322LL, ts("1614009105.335689322", "s"))
      assert.equals(1614009105335689322LL, ts("1614009105335.689322", "ms"))
      assert.equals(1614009105335689322LL, ts("1614009105335689.322", "us"))
      assert.equals(1614009105335689322LL, ts("1614009105335689322", "ns"))
      assert.equals(1614009105335689322LL, ts("1614009105.3356893229999", "s")) -- truncated
      assert.equals(1614009105000000000LL, ts("1614009105"))
      assert.equals(1614009105335000000LL, ts("1614009105335"))
      assert.equals(1614009105335000000LL, ts(" 1614009105335 "))
      assert.equals(1000000000LL, ts("1e3", "ms"))
      assert.equals(1614009105335000000LL, ts("1.614009105335e12"))
      assert.equals(1614009105335000000LL, ts("1.614009105335E+12", "ms"))
      assert.equals(1500000LL, ts("1.5e-3", "s"))
      assert.equals(-1500000000LL, ts("-1.5", "s"))
      assert.equals(1500000000LL, ts("+1.5", "s"))
      assert.equals(500000000LL, ts(".5", "s"))
      assert.equals(5000000000LL, ts("5.", "s"))
      assert.equals(0LL, ts("0.0000000001", "s"))
      assert.equals(0LL, ts("000", "s"))
      assert.equals(-9223372036854775807LL, ts("-9223372036854775807", "ns"))
      assert.equals(9223372036854775807LL, ts("9223372036.854775807", "s"))
    end)

    it("rejects bad numbers, units and types", function()
      for _, v in ipairs({ "12a", "1e", "0x10", "inf", "nan", "-", ".", "1..2", "1e5x", "--1" }) do
        assert.is_false(pcall(ts, v), v)
      end
      assert.matches("out of range", err_of(ts, "9223372036854775808", "ns"))
      assert.matches("out of range", err_of(ts, "9223372036.854775808", "s"))
      assert.matches("out of range", err_of(ts, 1e300))
      assert.matches("out of range", err_of(ts, 1e19, "s"))
      assert.matches("out of range", err_of(ts, 9223372037LL))
      assert.is_false(pcall(ts, 0 / 0))
      assert.is_false(pcall(ts, math.huge))
      assert.matches("unknown unit", err_of(ts, 1, "sec"))
      assert.matches("ts: invalid timestamp: nil", err_of(ts, nil))
      assert.matches("ts: invalid timestamp: table", err_of(ts, {}))
      assert.matches("ts: invalid timestamp: boolean true", err_of(ts, true))
    end)

    it("points errors at the caller's line", function()
      local f = load("local ts = ...\nlocal v = ts('nope')\nreturn v", "=spec:expr")
      local ok, err = pcall(f, ts)
      assert.is_false(ok)
      assert.matches("^spec:expr:2: ts: invalid timestamp", err)
    end)
  end)
end)

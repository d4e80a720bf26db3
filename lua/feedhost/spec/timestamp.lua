--- feedhost.spec.timestamp: timestamps to epoch nanoseconds, exactly (the `ts` helper).
---
--- API
---   M.ts(v, unit)                 -> int64_t epoch ns of an ISO-8601 string, or of a number /
---                                    numeric string / int64 in `unit` (see M.ts); a bad value
---                                    raises "ts: ..." naming the line that called ts
---   M.days_from_civil(y, m, d)    -> days since 1970-01-01 of a proleptic Gregorian date
---
--- Strings are parsed byte by byte (no patterns, no float rounding); out-of-range values raise.
local ffi = require("ffi")
local json = require("feedhost.util.json")
local util_text = require("feedhost.util.text")

local M = {}

local type, error = type, error
local byte = string.byte
local floor, huge = math.floor, math.huge

local int64_t = ffi.typeof("int64_t")
local uint64_t = ffi.typeof("uint64_t")
local istype = ffi.istype
local encode_number = json.encode_number
local describe = util_text.describe

local NS = 1000000000LL
local INT64_MAX = 9223372036854775807LL

-- P[k] = 10^k and LIM[k] = INT64_MAX / 10^k, as int64, k = 0..18.
local P, LIM = {}, {}
do
  local p = 1LL
  for k = 0, 18 do
    P[k] = p
    LIM[k] = INT64_MAX / p
    p = p * 10
  end
end

-- Powers of ten as doubles (exact up to 10^22).
local D = {}
for k = 0, 22 do
  D[k] = 10 ^ k
end

local UNITS = { s = 9, ms = 6, us = 3, ns = 0 }

-- Two decimal digits at p, or nil.
local function d2(s, p)
  local a, b = byte(s, p, p + 1)
  if a and b and a >= 48 and a <= 57 and b >= 48 and b <= 57 then
    return (a - 48) * 10 + (b - 48)
  end
  return nil
end

local function is_leap(y)
  return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)
end

local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then
    y = y - 1
  end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
M.days_from_civil = days_from_civil

-- ISO-8601 text in s[i..j] to int64 epoch ns, or nil.
local function iso_to_ns(s, i, j)
  local y1, y2 = d2(s, i), d2(s, i + 2)
  local mo, d = d2(s, i + 5), d2(s, i + 8)
  if not (y1 and y2 and mo and d) or byte(s, i + 4) ~= 45 or byte(s, i + 7) ~= 45 then
    return nil
  end
  local y = y1 * 100 + y2
  if mo < 1 or mo > 12 or d < 1 then
    return nil
  end
  if d > MDAYS[mo] and not (mo == 2 and d == 29 and is_leap(y)) then
    return nil
  end
  local h, mi, sec, frac, off = 0, 0, 0, 0, 0
  local p = i + 10
  if p <= j then
    local c = byte(s, p)
    if c ~= 84 and c ~= 116 and c ~= 32 then -- 'T', 't', ' '
      return nil
    end
    h, mi = d2(s, p + 1), d2(s, p + 4)
    if not (h and mi) or byte(s, p + 3) ~= 58 then
      return nil
    end
    p = p + 6
    if p <= j and byte(s, p) == 58 then -- ':ss'
      sec = d2(s, p + 1)
      if not sec then
        return nil
      end
      p = p + 3
      c = byte(s, p)
      if p <= j and (c == 46 or c == 44) then -- '.' or ','
        p = p + 1
        local n = 0
        while p <= j do
          c = byte(s, p)
          if c < 48 or c > 57 then
            break
          end
          if n < 9 then -- digits beyond nanoseconds are truncated
            frac = frac * 10 + (c - 48)
          end
          n = n + 1
          p = p + 1
        end
        if n == 0 then
          return nil
        end
        if n < 9 then
          frac = frac * D[9 - n]
        end
      end
    end
    if p <= j then
      c = byte(s, p)
      if c == 90 or c == 122 then -- 'Z', 'z'
        p = p + 1
      elseif c == 43 or c == 45 then -- '+', '-'
        local oh = d2(s, p + 1)
        if not oh then
          return nil
        end
        local om = 0
        p = p + 3
        if p <= j then
          if byte(s, p) == 58 then
            p = p + 1
          end
          om = d2(s, p)
          if not om then
            return nil
          end
          p = p + 2
        end
        if oh > 23 or om > 59 then
          return nil
        end
        off = oh * 3600 + om * 60
        if c == 45 then
          off = -off
        end
      else
        return nil
      end
    end
    if p <= j then
      return nil
    end
    if h > 23 or mi > 59 or sec > 60 then -- 60: a leap second, read as the next second
      return nil
    end
  end
  local secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off
  -- int64 ns covers 1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z
  if secs >= 9223372036 or secs <= -9223372037 then
    if secs > 9223372036 or secs < -9223372037
      or (secs == 9223372036 and frac > 854775807)
      or (secs == -9223372037 and frac < 145224192) then
      return nil, "out of range"
    end
  end
  return secs * NS + frac
end

-- An optional sign at s[i]: true when it is '-', and the index after the sign.
local function sign_at(s, i)
  local c = byte(s, i)
  if c == 45 then
    return true, i + 1
  elseif c == 43 then
    return false, i + 1
  end
  return false, i
end

-- The index of the first byte of s[i..j] that is not a decimal digit (j + 1 when all are).
local function digits_end(s, i, j)
  while i <= j do
    local c = byte(s, i)
    if c < 48 or c > 57 then
      break
    end
    i = i + 1
  end
  return i
end

-- Decimal text in s[i..j] (sign, digits, fraction, exponent) times 10^unit_pow (nil: inferred
-- from the magnitude) to int64, truncated toward zero. Returns nil, reason on failure.
local function decimal_to_ns(s, i, j, unit_pow)
  local neg
  neg, i = sign_at(s, i)
  local a0 = i
  i = digits_end(s, i, j)
  local nint = i - a0
  local f0, nfrac = i + 1, 0
  if i <= j and byte(s, i) == 46 then
    f0 = i + 1
    i = digits_end(s, f0, j)
    nfrac = i - f0
  end
  if nint + nfrac == 0 then
    return nil
  end
  local e = 0
  if i <= j and (byte(s, i) == 101 or byte(s, i) == 69) then
    local eneg
    eneg, i = sign_at(s, i + 1)
    local e0 = i
    while i <= j do
      local c = byte(s, i)
      if c < 48 or c > 57 then
        break
      end
      if e < 10000 then
        e = e * 10 + (c - 48)
      end
      i = i + 1
    end
    if i == e0 then
      return nil
    end
    if eneg then
      e = -e
    end
  end
  if i <= j then
    return nil
  end
  -- Digits: the integer digits s[a0 .. a0+nint-1], then the fraction digits s[f0 .. f0+nfrac-1].
  local total = nint + nfrac
  local z = 0 -- 1-based position of the first non-zero digit
  for k = 1, total do
    local ch = byte(s, k <= nint and a0 + k - 1 or f0 + k - nint - 1)
    if ch ~= 48 then
      z = k
      break
    end
  end
  if z == 0 then
    return 0LL
  end
  if not unit_pow then
    local int_digits = nint - z + 1 + e -- digits before the decimal point
    if int_digits <= 11 then
      unit_pow = 9 -- < 1e11: seconds
    elseif int_digits <= 14 then
      unit_pow = 6 -- < 1e14: milliseconds
    elseif int_digits <= 17 then
      unit_pow = 3 -- < 1e17: microseconds
    else
      unit_pow = 0
    end
  end
  -- value = digits * 10^shift (in ns)
  local shift = e - nfrac + unit_pow
  local take = total
  if shift < 0 then
    take = total + shift -- drop the digits below one nanosecond
    shift = 0
  end
  if take < z then
    return 0LL
  end
  if take - z + 1 + shift > 19 then
    return nil, "out of range"
  end
  local acc, big = 0, false
  for k = z, take do
    local d = byte(s, k <= nint and a0 + k - 1 or f0 + k - nint - 1) - 48
    if k - z < 15 then
      acc = acc * 10 + d -- below 10^15: exact as a double
    else
      if not big then
        acc = int64_t(acc)
        big = true
      end
      if acc > (INT64_MAX - d) / 10 then
        return nil, "out of range"
      end
      acc = acc * 10 + d
    end
  end
  if not big then
    acc = int64_t(acc)
  end
  if shift > 0 then
    if acc > LIM[shift] then
      return nil, "out of range"
    end
    acc = acc * P[shift]
  end
  if neg then
    acc = -acc
  end
  return acc
end

local function infer_pow(a)
  if a < 1e11 then
    return 9
  elseif a < 1e14 then
    return 6
  elseif a < 1e17 then
    return 3
  end
  return 0
end

local function ts_fail(v, why)
  error("ts: " .. (why or "invalid timestamp") .. ": " .. describe(v), 3)
end

--- Epoch nanoseconds (int64_t) of an ISO-8601 string, or of a number / numeric string / int64
--- of epoch time in `unit` ('s', 'ms', 'us', 'ns'; inferred from the magnitude when absent:
--- < 1e11 s, < 1e14 ms, < 1e17 us, else ns). Exact: no float rounding.
---@param v string|number|ffi.cdata*
---@param unit string|nil
---@return ffi.cdata* int64_t
function M.ts(v, unit)
  local pow
  if unit ~= nil then
    pow = UNITS[unit]
    if not pow then
      error("ts: unknown unit " .. describe(unit) .. " (use 's', 'ms', 'us' or 'ns')", 2)
    end
  end
  local tv = type(v)
  if tv == "string" then
    local i, j = 1, #v
    while byte(v, i) == 32 do
      i = i + 1
    end
    while j > i and byte(v, j) == 32 do
      j = j - 1
    end
    if i > j then
      ts_fail(v)
    end
    local r, why
    if byte(v, i + 4) == 45 and d2(v, i) and d2(v, i + 2) then -- 'YYYY-'
      r, why = iso_to_ns(v, i, j)
    else
      r, why = decimal_to_ns(v, i, j, pow)
    end
    if not r then
      ts_fail(v, why)
    end
    return r
  elseif tv == "number" then
    if v ~= v or v == huge or v == -huge then
      ts_fail(v)
    end
    local a = v < 0 and -v or v
    if v == floor(v) and a < 9007199254740992 then
      pow = pow or infer_pow(a)
      if a * D[pow] >= 9.2233720368547e18 then
        ts_fail(v, "out of range")
      end
      return int64_t(v) * P[pow]
    end
    local s = encode_number(v)
    local r, why = decimal_to_ns(s, 1, #s, pow)
    if not r then
      ts_fail(v, why)
    end
    return r
  elseif tv == "cdata" then
    local x
    if istype(int64_t, v) then
      x = v
    elseif istype(uint64_t, v) and v <= 9223372036854775807ULL then
      x = int64_t(v)
    else
      ts_fail(v)
    end
    if not pow then
      local a = x < 0 and -x or x
      pow = a < 100000000000LL and 9 or a < 100000000000000LL and 6 or a < 100000000000000000LL and 3 or 0
    end
    if pow > 0 then
      local a = x < 0 and -x or x
      if a > LIM[pow] then
        ts_fail(v, "out of range")
      end
      x = x * P[pow]
    end
    return x
  end
  ts_fail(v)
end

return M

--- Registry functions for Zerodha Kite Connect (specs/kite.lua).
--
-- `kite_decode(buf, len, ctx)` parses one binary ticker frame (PROTOCOLS.md 5.2):
--
--   [0..2)  int16 BE  number of packets N
--   N times: int16 BE packet length L, then L bytes of packet
--
-- The packet kind is decided by L: 8 ltp, 28 index_quote, 32 index_full,
-- 44 quote, 184 full. Any other length is skipped. All integers are
-- big-endian; prices are int32 divided by a per-segment divisor
-- (segment = token & 0xff: 3 cds -> 1e7, 6 bcd -> 1e4, else 100).
-- Frames shorter than 2 bytes are heartbeats and decode to an empty list.
local bit = require "bit"
local bytes = require "feedhost.bytes"

local band = bit.band
local u16be, i32be, u32be = bytes.u16be, bytes.i32be, bytes.u32be
local format = string.format

local M = {}

-- Byte offsets of the depth block in a 184-byte full packet.
local DEPTH_OFF = 64
local DEPTH_ENTRY = 12

local function divisor(token)
  local segment = band(token, 0xff)
  if segment == 3 then
    return 1e7
  elseif segment == 6 then
    return 1e4
  end
  return 100
end

-- `div` is applied as a division (not a multiplication by its inverse) so a
-- price reads exactly as the decimal the exchange meant: 157315 / 100 = 1573.15.
local function price(p, off, div)
  return i32be(p, off) / div
end

local function depth_side(p, off, div)
  local side = {}
  for i = 1, 5 do
    side[i] = {
      qty = u32be(p, off),
      price = price(p, off + 4, div),
      orders = u16be(p, off + 8),
    }
    off = off + DEPTH_ENTRY
  end
  return side
end

local function decode_ltp(p, o, token, div)
  return { kind = "ltp", token = token, ltp = price(p, o + 4, div) }
end

local function decode_index(p, o, token, div, full)
  local pk = {
    kind = full and "index_full" or "index_quote",
    token = token,
    ltp = price(p, o + 4, div),
    high = price(p, o + 8, div),
    low = price(p, o + 12, div),
    open = price(p, o + 16, div),
    close = price(p, o + 20, div),
    change = price(p, o + 24, div),
  }
  if full then
    pk.exchange_timestamp = u32be(p, o + 28)
  end
  return pk
end

local function decode_quote(p, o, token, div, full)
  local pk = {
    kind = full and "full" or "quote",
    token = token,
    ltp = price(p, o + 4, div),
    last_qty = u32be(p, o + 8),
    avg_price = price(p, o + 12, div),
    volume = u32be(p, o + 16),
    buy_qty = u32be(p, o + 20),
    sell_qty = u32be(p, o + 24),
    open = price(p, o + 28, div),
    high = price(p, o + 32, div),
    low = price(p, o + 36, div),
    close = price(p, o + 40, div),
  }
  if full then
    pk.last_trade_time = u32be(p, o + 44)
    pk.oi = u32be(p, o + 48)
    pk.oi_day_high = u32be(p, o + 52)
    pk.oi_day_low = u32be(p, o + 56)
    pk.exchange_timestamp = u32be(p, o + 60)
    pk.depth = {
      bids = depth_side(p, o + DEPTH_OFF, div),
      asks = depth_side(p, o + DEPTH_OFF + 5 * DEPTH_ENTRY, div),
    }
  end
  return pk
end

-- Packet at p+o of length l (already bounds-checked), or nil when the length
-- is not one Kite defines.
local function decode_packet(p, o, l)
  if l ~= 8 and l ~= 28 and l ~= 32 and l ~= 44 and l ~= 184 then
    return nil
  end
  local token = u32be(p, o)
  local div = divisor(token)
  if l == 8 then
    return decode_ltp(p, o, token, div)
  elseif l == 44 or l == 184 then
    return decode_quote(p, o, token, div, l == 184)
  end
  return decode_index(p, o, token, div, l == 32)
end

--- Decode one Kite binary frame.
---@param buf ffi.cdata* const uint8_t * over the frame
---@param len integer frame length in bytes
---@param ctx table|nil unused
---@return table|nil packets list of packet tables, or nil and an error message
function M.kite_decode(buf, len, ctx) -- luacheck: no unused args
  local out = {}
  if len < 2 then
    return out
  end
  local n = u16be(buf, 0)
  local off = 2
  for i = 1, n do
    if off + 2 > len then
      return nil, format("kite: packet %d of %d cut short (need 2 bytes at %d, have %d)",
        i, n, off, len - off)
    end
    local l = u16be(buf, off)
    off = off + 2
    if off + l > len then
      return nil, format("kite: packet %d of %d cut short (need %d bytes at %d, have %d)",
        i, n, l, off, len - off)
    end
    local pk = decode_packet(buf, off, l)
    if pk then
      out[#out + 1] = pk
    end
    off = off + l
  end
  return out
end

M.kite_price_divisor = divisor

return M

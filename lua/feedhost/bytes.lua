--- Binary readers over a `const uint8_t *` with 0-based byte offsets.
--
-- Every reader is a leaf that only indexes bytes and does bit arithmetic, so
-- LuaJIT compiles it inline into the caller's trace. Integer readers up to 32
-- bits return Lua numbers; `i64le` / `u64le` return 64-bit cdata. No reader
-- checks bounds: the caller checks the length once per packet.
--
-- Floats go through a module-level scratch union (filled byte by byte), which
-- keeps them allocation-free and safe for unaligned offsets.
local ffi = require "ffi"
local bit = require "bit"

local bor, lshift, arshift = bit.bor, bit.lshift, bit.arshift
local tonumber, type, error = tonumber, type, error
local byte, char, format = string.byte, string.char, string.format
local concat = table.concat

local M = {}

-- An anonymous type (no ffi.cdef), so loading this module twice (a reload in a
-- fresh environment) does not redefine a C name.
local scratch_t = ffi.typeof("union { uint8_t u8[8]; float f32; double f64; int64_t i64; uint64_t u64; }")
local scratch = scratch_t()
local sb = scratch.u8
local little = ffi.abi("le")
local u8p = ffi.typeof("const uint8_t *")

local TWO32 = 4294967296

---@param p ffi.cdata* const uint8_t *
---@param off integer 0-based byte offset
---@return integer
function M.u8(p, off)
  return p[off]
end

function M.i8(p, off)
  local v = p[off]
  if v >= 128 then
    return v - 256
  end
  return v
end

function M.u16be(p, off)
  return bor(lshift(p[off], 8), p[off + 1])
end

function M.i16be(p, off)
  return arshift(lshift(bor(lshift(p[off], 8), p[off + 1]), 16), 16)
end

function M.u16le(p, off)
  return bor(lshift(p[off + 1], 8), p[off])
end

function M.i16le(p, off)
  return arshift(lshift(bor(lshift(p[off + 1], 8), p[off]), 16), 16)
end

-- bit ops yield signed 32-bit results: i32 is the raw result, u32 folds the
-- negative half back into [2^31, 2^32).
function M.i32be(p, off)
  return bor(lshift(p[off], 24), lshift(p[off + 1], 16), lshift(p[off + 2], 8), p[off + 3])
end

function M.u32be(p, off)
  local v = bor(lshift(p[off], 24), lshift(p[off + 1], 16), lshift(p[off + 2], 8), p[off + 3])
  if v < 0 then
    return v + TWO32
  end
  return v
end

function M.i32le(p, off)
  return bor(lshift(p[off + 3], 24), lshift(p[off + 2], 16), lshift(p[off + 1], 8), p[off])
end

function M.u32le(p, off)
  local v = bor(lshift(p[off + 3], 24), lshift(p[off + 2], 16), lshift(p[off + 1], 8), p[off])
  if v < 0 then
    return v + TWO32
  end
  return v
end

-- Multi-byte values go through the scratch union: copy the bytes in host
-- order (straight-line code, no loop, so traces stay linear), then read the
-- typed member. `rev` copies reversed, for a source order unlike the host's.
local function copy4(p, off, rev)
  if rev then
    sb[0], sb[1], sb[2], sb[3] = p[off + 3], p[off + 2], p[off + 1], p[off]
  else
    sb[0], sb[1], sb[2], sb[3] = p[off], p[off + 1], p[off + 2], p[off + 3]
  end
end

local function copy8(p, off, rev)
  if rev then
    sb[0], sb[1], sb[2], sb[3] = p[off + 7], p[off + 6], p[off + 5], p[off + 4]
    sb[4], sb[5], sb[6], sb[7] = p[off + 3], p[off + 2], p[off + 1], p[off]
  else
    sb[0], sb[1], sb[2], sb[3] = p[off], p[off + 1], p[off + 2], p[off + 3]
    sb[4], sb[5], sb[6], sb[7] = p[off + 4], p[off + 5], p[off + 6], p[off + 7]
  end
end

-- reversal needed to read a little-endian / big-endian source on this host
local LE_REV, BE_REV = not little, little

---@return ffi.cdata* int64_t
function M.i64le(p, off)
  copy8(p, off, LE_REV)
  return scratch.i64
end

---@return ffi.cdata* uint64_t
function M.u64le(p, off)
  copy8(p, off, LE_REV)
  return scratch.u64
end

function M.f32le(p, off)
  copy4(p, off, LE_REV)
  return scratch.f32
end

function M.f32be(p, off)
  copy4(p, off, BE_REV)
  return scratch.f32
end

function M.f64le(p, off)
  copy8(p, off, LE_REV)
  return scratch.f64
end

--- A `const uint8_t *` over a Lua string's bytes. The pointer is only valid
-- while `s` is alive: the caller keeps a reference to `s`.
---@param s string
---@return ffi.cdata* p, integer len
function M.from_string(s)
  return ffi.cast(u8p, s), #s
end

local function hex_pair(h)
  return char(tonumber(h, 16))
end

--- Hex text (any whitespace between digits is ignored) to a binary string.
-- Raises on an odd digit count or a non-hex character.
---@param s string
---@return string
function M.hex(s)
  if type(s) ~= "string" then
    error("bytes.hex: expected a string, got " .. type(s), 2)
  end
  local digits = s:gsub("%s+", "")
  local bad = digits:find("[^%x]")
  if bad then
    error(format("bytes.hex: not a hex digit %q at %d", digits:sub(bad, bad), bad), 2)
  end
  if #digits % 2 ~= 0 then
    error("bytes.hex: odd number of hex digits (" .. #digits .. ")", 2)
  end
  return (digits:gsub("%x%x", hex_pair))
end

--- Binary string to lowercase hex, no separators.
---@param s string
---@return string
function M.to_hex(s)
  local out = {}
  for i = 1, #s do
    out[i] = format("%02x", byte(s, i))
  end
  return concat(out)
end

return M

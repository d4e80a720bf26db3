--- feedhost.sys.ffi: the one way from Lua into C. The declarations are C's own: the build
-- extracts the FFI sections of the C headers (host/gen_cdef.lua) into `core.cdef`, so every
-- struct, enum and constant used here (`C.FH_EV_OPEN`, `C.FH_J_OBJ`, ...) is the one C compiled.
-- All calls go through one table of function pointers (`api`, host/fh_api.h), which works the
-- same in the feedhost executable and in another application's LuaJIT.
--
--   local sys = require("feedhost.sys.ffi")
--   sys.api.json_parse(...); sys.C.FH_FRAME_TEXT; sys.batch(bytes, frames)
local ffi = require("ffi")
local core = require("feedhost.core")

-- declared once per Lua state (a second load of this module, e.g. after package.loaded was
-- cleared, finds the types already there)
if not pcall(ffi.typeof, "fh_api") then
  ffi.cdef(core.cdef)
end

local M = {
  core = core,
  api = ffi.cast("const fh_api *", core.api),
  C = ffi.C,   -- the constants (enums) of the declarations above
}

local len_buf = ffi.new("size_t[1]")
--- A file embedded in the binary at build time ("specs/alpaca.lua"), or nil.
function M.resource(name)
  local p = M.api.resource(name, len_buf)
  return p ~= nil and ffi.string(p, len_buf[0]) or nil
end

--- A new batch, freed by the garbage collector.
function M.batch(bytes, frames)
  local b = M.api.batch_new(bytes or 65536, frames or 256)
  assert(b ~= nil, "out of memory")
  return ffi.gc(b, M.api.batch_free)
end

--- Shortest round-trip text of a double.
local fmt_buf = ffi.new("char[32]")
function M.fmt_double(v)
  local n = M.api.fmt_double(v, fmt_buf)
  return ffi.string(fmt_buf, n)
end

local b64_buf, b64_cap = nil, 0
--- Base64 (RFC 4648, padded) of a string.
function M.base64(s)
  local need = math.floor((#s + 2) / 3) * 4
  if need > b64_cap then
    b64_cap = math.max(need, 256)
    b64_buf = ffi.new("char[?]", b64_cap)
  end
  local n = M.api.base64_encode(s, #s, b64_buf)
  return ffi.string(b64_buf, n)
end

return M

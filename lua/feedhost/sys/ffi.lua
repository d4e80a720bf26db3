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

-- Where the module finds the files the feedhost command embeds, when it is loaded into another
-- application's LuaJIT (no embedded files): installed, <luadir>/feedhost/resources/ (see
-- CMakeLists.txt); in a source tree (lua/ on package.path), the tree itself.
local roots
local function resource_roots()
  if not roots then
    local pkg = debug.getinfo(1, "S").source:match("^@(.*)/sys/ffi%.lua$")
    roots = pkg and { pkg .. "/resources/", pkg .. "/../../" } or {}
  end
  return roots
end

local len_buf = ffi.new("size_t[1]")
--- A file embedded in the binary at build time ("specs/alpaca.lua"), or nil. The Lua module (no
-- embedded files) reads it from its resources directory instead.
function M.resource(name)
  local p = M.api.resource(name, len_buf)
  if p ~= nil then
    return ffi.string(p, len_buf[0])
  end
  if core.embedded then
    return nil
  end
  for _, root in ipairs(resource_roots()) do
    local f = io.open(root .. name, "rb")
    local text = f and f:read("*a")
    if f then
      f:close()
    end
    if text then
      return text
    end
  end
  return nil
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

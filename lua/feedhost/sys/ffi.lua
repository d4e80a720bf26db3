--- feedhost.sys.ffi: the C leaf functions (host/fh_api.h) seen through LuaJIT's FFI.
-- The cdef below mirrors host/fh_api.h and host/codec/*.h; sizes are checked against the C
-- side at load time, so a mismatch fails loudly instead of corrupting memory.
local ffi = require("ffi")
local core = require("feedhost.core")

ffi.cdef([[
typedef struct fh_jtok {
  uint8_t type; uint8_t flags; uint16_t depth;
  uint32_t start; uint32_t len; uint32_t next;
  double num;
} fh_jtok;
typedef struct fh_frame {
  uint32_t off; uint32_t len; int64_t ts; uint16_t conn; uint8_t kind; uint8_t flags; uint32_t pad;
} fh_frame;
typedef struct fh_batch {
  char *buf; fh_frame *frames; uint32_t n; uint32_t ncap; size_t used; size_t cap;
} fh_batch;
typedef struct fh_keyset {
  int32_t n; uint32_t used; uint32_t tag[256]; uint8_t bucket[256]; uint16_t off[64]; uint8_t len[64];
  char pool[2048];
} fh_keyset;
typedef struct fh_ts_cache {
  int64_t midnight; char date[10]; uint8_t valid; uint8_t pad[5];
} fh_ts_cache;
typedef struct fh_api {
  int (*json_parse)(const char *buf, size_t len, fh_jtok *tape, int cap, int *err_off);
  int (*json_find)(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen);
  int (*json_index)(const fh_jtok *tape, int arr, int i);
  int (*json_unescape)(const char *src, size_t len, char *dst);
  fh_batch *(*batch_new)(size_t bytes, uint32_t frames);
  void (*batch_free)(fh_batch *b);
  void (*batch_clear)(fh_batch *b);
  int (*batch_push)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *data, size_t len);
  int (*batch_push_json_string)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *src, size_t len);
  int (*batch_push_base64)(fh_batch *b, uint16_t conn, uint8_t kind, int64_t ts, const char *src, size_t len);
  size_t (*base64_encode)(const uint8_t *src, size_t len, char *dst);
  int (*fmt_double)(double v, char *dst);
  int64_t (*clock_realtime_ns)(void);
  int64_t (*clock_monotonic_ns)(void);
  int (*ts_iso)(const char *s, size_t len, int64_t *out);
  int (*json_eq)(const fh_jtok *tape, const char *buf, int obj, const char *key, size_t klen, const char *lit, size_t litlen);
  int (*json_str_eq)(const fh_jtok *tape, const char *buf, int tok, const char *lit, size_t litlen);
  int (*keyset_add)(fh_keyset *ks, const char *key, size_t klen);
  void (*json_keys)(const fh_jtok *tape, const char *buf, int obj, const fh_keyset *ks, int32_t *slots);
  int (*json_ts)(const fh_jtok *tape, const char *buf, int tok, fh_ts_cache *cache, int64_t *out);
} fh_api;
]])

for name, size in pairs(core.sizes) do
  assert(ffi.sizeof(name) == size,
    "feedhost.sys.ffi: " .. name .. " is " .. size .. " bytes in C but " .. ffi.sizeof(name) .. " in the cdef")
end

local M = {
  api = ffi.cast("const fh_api *", core.api),
  core = core,
  FRAME_TEXT = 1,
  FRAME_BINARY = 2,
  J_OBJ = 1, J_ARR = 2, J_STR = 3, J_NUM = 4, J_TRUE = 5, J_FALSE = 6, J_NULL = 7,
  JF_ESC = 1, JF_INT = 2,
  KEYSET_MAX = 64, -- FH_KEYSET_MAX (fh_keyset's size, checked above, follows it)
}

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

function M.now_ns()
  return M.api.clock_realtime_ns()
end

function M.monotonic_ns()
  return M.api.clock_monotonic_ns()
end

local b64_buf, b64_cap = nil, 0
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

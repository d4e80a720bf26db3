// l_core.c: the `feedhost.core` Lua module: the FFI API table and its declarations, the version.
#include <lauxlib.h>
#include <lua.h>

#include "codec/numfmt.h"
#include "codec/ts.h"
#include "fh_api.h"
#include "vm.h"

static const fh_api api = {
  .json_parse = fh_json_parse,
  .json_find = fh_json_find,
  .json_index = fh_json_index,
  .json_unescape = fh_json_unescape,
  .json_eq = fh_json_eq,
  .json_str_eq = fh_json_str_eq,
  .keyset_add = fh_keyset_add,
  .json_keys = fh_json_keys,
  .json_ts = fh_json_ts,
  .batch_new = fh_batch_new,
  .batch_free = fh_batch_free,
  .batch_clear = fh_batch_clear,
  .batch_push = fh_batch_push,
  .batch_push_meta = fh_batch_push_meta,
  .batch_meta_last = fh_batch_meta_last,
  .batch_push_json_string = fh_batch_push_json_string,
  .batch_push_base64 = fh_batch_push_base64,
  .base64_encode = fh_base64_encode,
  .fmt_double = fh_fmt_double,
  .ts_iso = fh_ts_iso,
  .clock_ns = fh_clock_ns,
  .loop_new = fh_loop_new,
  .loop_free = fh_loop_free,
  .loop_open = fh_loop_open,
  .loop_listen = fh_loop_listen,
  .loop_send = fh_loop_send,
  .loop_ping = fh_loop_ping,
  .loop_close = fh_loop_close,
  .loop_poll = fh_loop_poll,
  .loop_batch = fh_loop_batch,
  .loop_stats = fh_loop_stats,
  .loop_signals = fh_loop_signals,
  .loop_wake = fh_loop_wake,
  .resource = fh_vm_resource,
};

const fh_api *fh_api_get(void)
{
  return &api;
}

/// Opens `feedhost.core`. Leaves the module table on the stack: { api = lightuserdata (const
/// fh_api *), cdef = "..." (its FFI declarations), version = "...", embedded = bool }.
int luaopen_feedhost_core(lua_State *L)
{
  lua_newtable(L);                                  // [M]
  lua_pushlightuserdata(L, (void *)&api);           // [M, api]
  lua_setfield(L, -2, "api");                       // [M]
  lua_pushstring(L, fh_cdef);                       // [M, cdef]
  lua_setfield(L, -2, "cdef");                      // [M]
  lua_pushstring(L, FH_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushboolean(L, fh_vm_has_embedded());
  lua_setfield(L, -2, "embedded");
  return 1;
}

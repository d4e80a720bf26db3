// l_core.c: the `feedhost.core` Lua module: the FFI API table, embedded resources, version.
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fh_api.h"
#include "vm.h"

// Shortest "%.*g" text that reads back to the same double. @return length written (< 32).
static int fmt_double(double v, char *dst)
{
  for (int prec = 15; prec <= 17; prec++) {
    int n = snprintf(dst, 32, "%.*g", prec, v);
    if (prec == 17 || strtod(dst, NULL) == v) {
      return n;
    }
  }
  return 0;
}

static int64_t clock_ns(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t clock_realtime_ns(void)
{
  return clock_ns(CLOCK_REALTIME);
}

static int64_t clock_monotonic_ns(void)
{
  return clock_ns(CLOCK_MONOTONIC);
}

static const fh_api api = {
  .json_parse = fh_json_parse,
  .json_find = fh_json_find,
  .json_index = fh_json_index,
  .json_unescape = fh_json_unescape,
  .batch_new = fh_batch_new,
  .batch_free = fh_batch_free,
  .batch_clear = fh_batch_clear,
  .batch_push = fh_batch_push,
  .batch_push_json_string = fh_batch_push_json_string,
  .batch_push_base64 = fh_batch_push_base64,
  .base64_encode = fh_base64_encode,
  .fmt_double = fmt_double,
  .clock_realtime_ns = clock_realtime_ns,
  .clock_monotonic_ns = clock_monotonic_ns,
  .ts_iso = fh_ts_iso,
  .json_eq = fh_json_eq,
  .json_str_eq = fh_json_str_eq,
  .keyset_add = fh_keyset_add,
  .json_keys = fh_json_keys,
  .json_ts = fh_json_ts,
};

const fh_api *fh_api_get(void)
{
  return &api;
}

// core.resource(name) -> string | nil: a file embedded at build time ("specs/alpaca.lua").
static int l_core_resource(lua_State *L)
{
  size_t len;
  const char *data = fh_vm_resource(luaL_checkstring(L, 1), &len);
  if (!data) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, data, len);
  return 1;
}

// core.resources() -> {names}
static int l_core_resources(lua_State *L)
{
  lua_newtable(L);  // [t]
  for (int i = 0;; i++) {
    const char *name = fh_vm_resource_name(i);
    if (!name) {
      break;
    }
    lua_pushstring(L, name);         // [t, name]
    lua_rawseti(L, -2, i + 1);       // [t]
  }
  return 1;
}

static const luaL_Reg core_functions[] = {
  { "resource", l_core_resource },
  { "resources", l_core_resources },
  { NULL, NULL },
};

/// Opens `feedhost.core`. Leaves the module table on the stack: { api = lightuserdata,
/// sizes = {...}, resource = fn, resources = fn, version = "..." }.
int luaopen_feedhost_core(lua_State *L)
{
  lua_newtable(L);                                  // [M]
  luaL_register(L, NULL, core_functions);
  lua_pushlightuserdata(L, (void *)&api);           // [M, api]
  lua_setfield(L, -2, "api");                       // [M]
  lua_newtable(L);                                  // [M, sizes]
  lua_pushinteger(L, (lua_Integer)sizeof(fh_jtok));
  lua_setfield(L, -2, "fh_jtok");
  lua_pushinteger(L, (lua_Integer)sizeof(fh_frame));
  lua_setfield(L, -2, "fh_frame");
  lua_pushinteger(L, (lua_Integer)sizeof(fh_batch));
  lua_setfield(L, -2, "fh_batch");
  lua_pushinteger(L, (lua_Integer)sizeof(fh_api));
  lua_setfield(L, -2, "fh_api");
  lua_pushinteger(L, (lua_Integer)sizeof(fh_keyset));
  lua_setfield(L, -2, "fh_keyset");
  lua_pushinteger(L, (lua_Integer)sizeof(fh_ts_cache));
  lua_setfield(L, -2, "fh_ts_cache");
  lua_setfield(L, -2, "sizes");                     // [M]
  lua_pushstring(L, FH_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushboolean(L, fh_vm_has_embedded());
  lua_setfield(L, -2, "embedded");
  // the loop binding ships in the same library: `require "feedhost.core.loop"` finds it here
  lua_getglobal(L, "package");                      // [M, package]
  lua_getfield(L, -1, "preload");                   // [M, package, preload]
  lua_pushcfunction(L, luaopen_feedhost_core_loop);
  lua_setfield(L, -2, "feedhost.core.loop");
  lua_pop(L, 2);                                    // [M]
  return 1;
}

// l_loop.c: the `feedhost.core.loop` Lua module, a thin binding of loop.h.
//
//   local loop = require("feedhost.core.loop").new()
//   local id = loop:connect{host=, port=, path=, tls=, verify=, ca_file=, headers=, max_frame=,
//                           deflate=}
//   loop:send(id, data [, binary]) / loop:ping(id) / loop:close(id [, code, reason])
//   local lid, port = loop:listen(host, port)
//   for _, ev in ipairs(loop:poll(timeout_ms)) do ... end  -- {type=, id=, code=, text=}
//   loop:batch(id) -> lightuserdata (fh_batch *), loop:stats(id) -> table
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "loop.h"

#define LOOP_MT "feedhost.loop"

static fh_loop **check_box(lua_State *L)
{
  return luaL_checkudata(L, 1, LOOP_MT);
}

static fh_loop *check(lua_State *L)
{
  fh_loop **box = check_box(L);
  if (!*box) {
    luaL_error(L, "loop is closed");
  }
  return *box;
}

static int l_new(lua_State *L)
{
  char err[256];
  fh_loop **box = lua_newuserdata(L, sizeof *box);  // [box]
  *box = NULL;
  luaL_getmetatable(L, LOOP_MT);
  lua_setmetatable(L, -2);
  *box = fh_loop_new(err);
  if (!*box) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static int l_free(lua_State *L)
{
  fh_loop **box = check_box(L);
  fh_loop_free(*box);
  *box = NULL;
  return 0;
}

static const char *opt_string(lua_State *L, int t, const char *k)
{
  lua_getfield(L, t, k);
  const char *s = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);  // the table keeps the string alive
  return s;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer dflt)
{
  lua_getfield(L, t, k);
  lua_Integer v = lua_isnumber(L, -1) ? lua_tointeger(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int t, const char *k, int dflt)
{
  lua_getfield(L, t, k);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int l_connect(lua_State *L)
{
  fh_loop *lp = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  fh_connect_opts o;
  memset(&o, 0, sizeof o);
  o.host = opt_string(L, 2, "host");
  luaL_argcheck(L, o.host != NULL, 2, "host missing");
  o.port = (int)opt_int(L, 2, "port", 0);
  o.path = opt_string(L, 2, "path");
  o.tls = opt_bool(L, 2, "tls", 0);
  o.verify = opt_bool(L, 2, "verify", 1);
  o.ca_file = opt_string(L, 2, "ca_file");
  o.headers = opt_string(L, 2, "headers");
  o.max_frame = (size_t)opt_int(L, 2, "max_frame", 0);
  o.deflate = opt_bool(L, 2, "deflate", 0);
  char err[256];
  int id = fh_loop_connect(lp, &o, err);
  if (id < 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushinteger(L, id);
  return 1;
}

static int l_listen(lua_State *L)
{
  fh_loop *lp = check(L);
  const char *host = luaL_optstring(L, 2, "127.0.0.1");
  int port = (int)luaL_optinteger(L, 3, 0);
  char err[256];
  int bound = 0;
  int id = fh_loop_listen(lp, host, port, &bound, err);
  if (id < 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushinteger(L, id);
  lua_pushinteger(L, bound);
  return 2;
}

static int push_send_result(lua_State *L, int rc)
{
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, rc == -2 ? "queue full" : "not connected");
  return 2;
}

static int l_send(lua_State *L)
{
  fh_loop *lp = check(L);
  int id = (int)luaL_checkinteger(L, 2);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  int kind = lua_toboolean(L, 4) ? FH_FRAME_BINARY : FH_FRAME_TEXT;
  return push_send_result(L, fh_loop_send(lp, id, kind, data, len));
}

static int l_ping(lua_State *L)
{
  fh_loop *lp = check(L);
  return push_send_result(L, fh_loop_ping(lp, (int)luaL_checkinteger(L, 2)));
}

static int l_close(lua_State *L)
{
  fh_loop *lp = check(L);
  int id = (int)luaL_checkinteger(L, 2);
  int code = (int)luaL_optinteger(L, 3, 1000);
  const char *reason = luaL_optstring(L, 4, "");
  lua_pushboolean(L, fh_loop_close(lp, id, code, reason) == 0);
  return 1;
}

static const char *const event_names[] = {
  NULL, "open", "close", "error", "frames", "pong", "oversize", "signal",
};

static int l_poll(lua_State *L)
{
  fh_loop *lp = check(L);
  int timeout = (int)luaL_optinteger(L, 2, 0);
  const fh_event *ev;
  int n = fh_loop_poll(lp, timeout < 0 ? 0 : timeout, &ev);
  lua_createtable(L, n, 0);                      // [list]
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 0, 4);                    // [list, e]
    lua_pushstring(L, event_names[ev[i].kind]);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, ev[i].id);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, ev[i].code);
    lua_setfield(L, -2, "code");
    if (ev[i].text) {
      lua_pushstring(L, ev[i].text);
      lua_setfield(L, -2, "text");
    }
    lua_rawseti(L, -2, i + 1);                   // [list]
  }
  return 1;
}

static int l_batch(lua_State *L)
{
  fh_loop *lp = check(L);
  fh_batch *b = fh_loop_batch(lp, (int)luaL_checkinteger(L, 2));
  if (!b) {
    return 0;
  }
  lua_pushlightuserdata(L, b);
  return 1;
}

static int l_stats(lua_State *L)
{
  fh_loop *lp = check(L);
  fh_conn_stats st;
  if (fh_loop_stats(lp, (int)luaL_checkinteger(L, 2), &st) != 0) {
    return 0;
  }
  lua_createtable(L, 0, 7);
#define FIELD(name)                             \
  lua_pushnumber(L, (lua_Number)st.name);       \
  lua_setfield(L, -2, #name)
  FIELD(frames_in);
  FIELD(bytes_in);
  FIELD(frames_out);
  FIELD(bytes_out);
  FIELD(oversize);
  FIELD(out_dropped);
  FIELD(out_queued);
#undef FIELD
  return 1;
}

static int l_catch_signals(lua_State *L)
{
  fh_loop_catch_signals(check(L));
  return 0;
}

static const luaL_Reg methods[] = {
  { "connect", l_connect },
  { "listen", l_listen },
  { "send", l_send },
  { "ping", l_ping },
  { "close", l_close },
  { "poll", l_poll },
  { "batch", l_batch },
  { "stats", l_stats },
  { "catch_signals", l_catch_signals },
  { "free", l_free },
  { NULL, NULL },
};

/// Opens `feedhost.core.loop`: { new = fn }.
int luaopen_feedhost_core_loop(lua_State *L)
{
  if (luaL_newmetatable(L, LOOP_MT)) {              // [mt]
    lua_newtable(L);                                // [mt, methods]
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");                 // [mt]
    lua_pushcfunction(L, l_free);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);                                    // []
  lua_newtable(L);                                  // [M]
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  return 1;
}

// vm.c: see vm.h.
#include "vm.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

// The executable links a generated table (fh_embedded.c); the Lua module and the C tests do not,
// and get this empty one.
__attribute__((weak)) const fh_resource fh_embedded_files[] = { { NULL, NULL, 0 } };

const char *fh_vm_resource(const char *name, size_t *len)
{
  for (const fh_resource *r = fh_embedded_files; r->name; r++) {
    if (strcmp(r->name, name) == 0) {
      *len = r->len;
      return r->data;
    }
  }
  return NULL;
}

bool fh_vm_has_embedded(void)
{
  return fh_embedded_files[0].name != NULL;
}

static int traceback(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      return 1;
    }
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

bool fh_pcall(lua_State *L, int nargs, int nres, const char *what)
{
  int base = lua_gettop(L) - nargs;        // the function's slot
  lua_pushcfunction(L, traceback);         // [f, args..., tb]
  lua_insert(L, base);                     // [tb, f, args...]
  int rc = lua_pcall(L, nargs, nres, base);
  lua_remove(L, base);                     // [results...] or [err]
  if (rc != 0) {
    fprintf(stderr, "feedhost: %s: %s\n", what, lua_tostring(L, -1));
    lua_pop(L, 1);
    return false;
  }
  return true;
}

// Module searcher, in Lua: dev tree first (when given), then the embedded sources.
static const char bootstrap[] =
  "local core, dev = ...\n"
  "local ffi = require('ffi')\n"
  "ffi.cdef(core.cdef)\n"
  "local api = ffi.cast('const fh_api *', core.api)\n"
  "local len = ffi.new('size_t[1]')\n"
  "local function resource(name)\n"
  "  local p = api.resource(name, len)\n"
  "  return p ~= nil and ffi.string(p, len[0]) or nil\n"
  "end\n"
  "local function candidates(name)\n"
  "  local p = name:gsub('%.', '/')\n"
  "  return { 'lua/' .. p .. '.lua', 'lua/' .. p .. '/init.lua', p .. '.lua' }\n"
  "end\n"
  "local function searcher(name)\n"
  "  local tried = {}\n"
  "  for _, rel in ipairs(candidates(name)) do\n"
  "    if dev then\n"
  "      local path = dev .. '/' .. rel\n"
  "      local f = io.open(path, 'rb')\n"
  "      if f then\n"
  "        local src = f:read('*a'); f:close()\n"
  "        local fn, err = loadstring(src, '@' .. path)\n"
  "        if not fn then error(err, 0) end\n"
  "        return fn\n"
  "      end\n"
  "      tried[#tried + 1] = '\\n\\tno file ' .. path\n"
  "    end\n"
  "    local src = resource(rel)\n"
  "    if src then\n"
  "      local fn, err = loadstring(src, '@' .. rel)\n"
  "      if not fn then error(err, 0) end\n"
  "      return fn\n"
  "    end\n"
  "    tried[#tried + 1] = '\\n\\tno embedded ' .. rel\n"
  "  end\n"
  "  return table.concat(tried)\n"
  "end\n"
  "table.insert(package.loaders, 2, searcher)\n"
  "package.loaded['feedhost.core'] = core\n"
  "core.dev_dir = dev\n";

static int vm_init(lua_State *L)
{
  const char *dev = lua_tostring(L, 1);
  luaL_openlibs(L);
  lua_getglobal(L, "package");                       // [dev, package]
  lua_getfield(L, -1, "preload");                    // [dev, package, preload]
  lua_pushcfunction(L, luaopen_feedhost_core);
  lua_setfield(L, -2, "feedhost.core");              // [dev, package, preload]
  lua_pop(L, 2);                                     // [dev]
  if (luaL_loadbuffer(L, bootstrap, sizeof bootstrap - 1, "=bootstrap")) {
    return lua_error(L);
  }                                                  // [dev, boot]
  lua_pushcfunction(L, luaopen_feedhost_core);
  lua_call(L, 0, 1);                                 // [dev, boot, core]
  if (dev) {
    lua_pushstring(L, dev);
  } else {
    lua_pushnil(L);
  }                                                  // [dev, boot, core, dev]
  lua_call(L, 2, 0);                                 // [dev]
  return 0;
}

static int panic(lua_State *L)
{
  fprintf(stderr, "feedhost: unprotected Lua error: %s\n", lua_tostring(L, -1));
  return 0;  // Lua aborts after this returns
}

lua_State *fh_vm_new(const char *dev_dir)
{
  lua_State *L = luaL_newstate();
  if (!L) {
    return NULL;
  }
  lua_atpanic(L, panic);
  lua_pushcfunction(L, vm_init);
  if (dev_dir) {
    lua_pushstring(L, dev_dir);
  } else {
    lua_pushnil(L);
  }
  if (!fh_pcall(L, 1, 0, "vm init")) {
    lua_close(L);
    return NULL;
  }
  return L;
}

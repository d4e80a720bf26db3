// main.c: the feedhost command. Thin: a VM, then feedhost.cli.main(argv) in Lua.
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"

#ifndef FH_SOURCE_DIR
#define FH_SOURCE_DIR "."
#endif

int main(int argc, char **argv)
{
  // --lua-dev[=DIR] (first argument) or FEEDHOST_LUA_DIR: load lua/ from a source tree instead of
  // the copy embedded at build time, so edits take effect without a rebuild.
  const char *dev = getenv("FEEDHOST_LUA_DIR");
  int first = 1;
  if (argc > 1 && strncmp(argv[1], "--lua-dev", 9) == 0) {
    dev = argv[1][9] == '=' ? argv[1] + 10 : FH_SOURCE_DIR;
    first = 2;
  }
  if (dev && !*dev) {
    dev = NULL;
  }
  lua_State *L = fh_vm_new(dev);
  if (!L) {
    return 1;
  }
  lua_getglobal(L, "require");                  // [require]
  lua_pushstring(L, "feedhost.cli");            // [require, name]
  if (!fh_pcall(L, 1, 1, "loading feedhost.cli")) {
    lua_close(L);
    return 1;
  }                                             // [cli]
  lua_getfield(L, -1, "main");                  // [cli, main]
  lua_newtable(L);                              // [cli, main, args]
  for (int i = first; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - first + 1);
  }
  int rc = 1;
  if (fh_pcall(L, 1, 1, "feedhost")) {           // [cli, rc]
    rc = (int)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  fflush(stdout);
  lua_close(L);
  return rc;
}
